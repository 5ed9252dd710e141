from datetime import datetime, timedelta, timezone

import pytest

from island_ssh.core.clock import (
    ClockError,
    ClockSetting,
    describe_offset,
    faketime_file_content,
    initial_clock_file,
    initial_offset,
    parse_clock_request,
    resolve_clock,
)

NOW = datetime(2025, 11, 27, 8, 0, 0, tzinfo=timezone.utc).timestamp()


def test_absolute_time_is_an_offset_from_real_now():
    setting = resolve_clock("2021-09-18 23:30:07", current_offset=12345, real_now=NOW)
    target = datetime(2021, 9, 18, 23, 30, 7, tzinfo=timezone.utc).timestamp()
    assert setting == ClockSetting(int(target - NOW), "2021-09-18 23:30:07")
    assert NOW + setting.offset_seconds == target


def test_absolute_time_in_another_zone():
    shanghai = timezone(timedelta(hours=8))
    setting = resolve_clock("2025-11-27 16:00:00", 0, NOW, tz=shanghai)
    assert setting.offset_seconds == 0


def test_absolute_with_t_separator():
    assert resolve_clock("2025-11-27T09:00:00", 0, NOW).offset_seconds == 3600


@pytest.mark.parametrize(
    "text, shift",
    [("+2d", 2 * 86400), ("-1h", -3600), ("+30m", 1800), ("+90s", 90), ("+90", 90), ("+1d12h", 36 * 3600),
     ("-1w", -7 * 86400), (" +2D ", 2 * 86400)],
)
def test_shift_is_relative_to_current_offset(text, shift):
    assert resolve_clock(text, current_offset=100, real_now=NOW).offset_seconds == 100 + shift


@pytest.mark.parametrize("text", ["reset", "now", "NOW", " Reset "])
def test_reset(text):
    assert resolve_clock(text, current_offset=-86400, real_now=NOW).offset_seconds == 0


@pytest.mark.parametrize(
    "text",
    ["", "tomorrow", "2021-02-30 00:00:00", "2021-09-18", "2021-09-18 25:00:00", "+", "+2x", "++2d", "2d",
     "+2d; rm -rf /", "$(date)", "1969-12-31 23:59:59", "+" + "9" * 70, "x\n+1d", "+１d", "２０２１-09-18 23:30:07"],
)
def test_refused(text):
    with pytest.raises(ClockError):
        parse_clock_request(text)


def test_shift_past_2038_refused():
    # The range ends at 2038-01-19 03:14:07 UTC (32-bit time_t), no longer at 9999-12-31.
    with pytest.raises(ClockError, match="2038-01-19 03:14:07"):
        resolve_clock("+4436d", 0, NOW)  # 2025-11-27 08:00 + 4436 d = 2038-01-19 08:00 UTC
    assert resolve_clock("+4435d", 0, NOW).offset_seconds == 4435 * 86400  # 2038-01-18 08:00 UTC: allowed
    with pytest.raises(ClockError, match="2038"):
        resolve_clock("+2920000d", 0, NOW)
    with pytest.raises(ClockError, match="larger than any date"):
        resolve_clock("+3000000d", 0, NOW)
    with pytest.raises(ClockError, match="1970"):
        resolve_clock("-30000d", 0, NOW)


def test_faketime_file_content():
    assert faketime_file_content(3600) == "+3600"
    assert faketime_file_content(-86400) == "-86400"
    assert faketime_file_content(0) == "+0"
    assert ClockSetting(-5, "x").file_content == "-5"
    with pytest.raises(ClockError):
        faketime_file_content(1.5)


def test_initial_clock_file_uses_start_at_form():
    assert initial_clock_file("2021-09-18 23:30:07") == "@2021-09-18 23:30:07"
    assert initial_clock_file("") == "+0"
    with pytest.raises(ClockError):
        initial_clock_file("2021-13-01 00:00:00")


def test_initial_offset():
    start = datetime(2021, 9, 18, 23, 30, 7, tzinfo=timezone.utc).timestamp()
    assert initial_offset("2021-09-18 23:30:07", started_at=start + 60) == -60
    assert initial_offset("", started_at=NOW) == 0


@pytest.mark.parametrize(
    "offset, text",
    [(0, "real time"), (3600, "1 h ahead of real time"), (-90, "1 min 30 s behind real time"),
     (2 * 86400 + 3 * 3600, "2 d 3 h ahead of real time")],
)
def test_describe_offset(offset, text):
    assert describe_offset(offset) == text
