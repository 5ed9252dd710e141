"""Hostile and malformed clock input: every one refused with ONE line that says what is accepted."""

import re
from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from island_ssh.core.clock import (
    ClockError, ClockState, parse_clock_command, parse_timeline, parse_wall_time, validate_presets,
)
from island_ssh.core.errors import ConfigError, InvalidInput
from island_ssh.core.validate import validate_start_time

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
PRESETS = {"daily-reset": "next 05:00 - 10s"}
# Each refusal names what is accepted: an example, a format, a range or a limit.
ACCEPTED = re.compile(r"use |like |e\.g\.|YYYY-MM-DD|at most|'preset NAME'|x0\.001|1970|2038|presets: |"
                      r"monday|00:00:00 \.\. 23:59:59|'at \+DURATION COMMAND'")

QUOTES = ['"', "'", '"+1h"', "'reset'", "set \"2021-09-18 04:59:50'", 'set "2021-09-18 04:59:50', "'; rm -rf /'",
          'set ""', "set 2021-09-18 04:59:50\"; id\""]
SHELL = ["$(id)", "`id`", "+1h; id", "+1h && id", "reset | id", "freeze $(reboot)", "x10;id", "${IFS}"]
NEWLINES = ["+1h\nreset", "reset\n", "\r", "x10\x00", "freeze\u2028", "+1h\r\n", "\n"]
YAML = ["{a: b}", "- x", "&anchor", "*alias", "!!python/object:os.system", "[1, 2]", "a: b", "---", "? x", "|"]
CHINESE = ["重置", "明天 05:00", "2021年9月18日 04:59:50", "冻结", "加速 x10", "preset 每日重置"]
HUGE = ["+" * 100_000, "a" * 100_000, "9" * 65, "+1h" + " " * 62]
DATES = ["1969-12-31 23:59:59", "2038-01-19 03:14:08", "2039-01-01 00:00:00", "9999-12-31 23:59:59",
         "0000-01-01 00:00:00", "2021-02-30 00:00:00", "2021-09-18 25:00:00", "2021-09-18", "04:59:50",
         "set 1969-12-31 23:59:59", 'set "9999-12-31 23:59:59"', "２０２１-09-18 04:59:50"]
SPEEDS = ["speed 0", "x0", "speed x0.000", "speed -1", "x-1", "speed 1e9", "x1e9", "speed 1000000000", "speed nan",
          "speed inf", "x1001", "speed 1000.001", "speed x0.0001", "speed", "speed x", "speed ×10", "speed x１０",
          "speed x١٠", "speed x 10", "speed 10x", "x1/2", "speed x+5"]
OFFSETS = ["+", "-", "+-1h", "+1x", "1e9", "+1e9", "++1h", "+1h-", "+1.5h", "+ 1h", "1h", "+１h", "+99999999999",
           "+9999999999", "+3000000d", "+1h2", "-0x10", "+1y", "+1 h", "0", "+inf", "+nan"]
ZONES = ["2021-09-18 04:59:50 UTC", "2021-09-18 04:59:50 Europe/Berlin", "2021-09-18T04:59:50Z",
         "2021-09-18 04:59:50+08:00", "tz Asia/Shanghai", "Asia/Shanghai", "UTC", "set 2021-09-18 04:59:50 CST"]
NEXTS = ["next 24:00", "next 05:60", "next 05:00:60", "next", "next funday 05:00", "next 05:00 - 8d",
         "next 5", "next monday tuesday 05:00", "next 05:00 ~ 10s", "next 05:00 - 10q", "next montag 05:00"]
PRESET_NAMES = ["preset", "preset $(id)", "preset ../x", "preset Daily", "preset nope", "preset a b",
                "preset {a: b}", "preset -x", "preset " + "a" * 40]
OTHER = ["", "   ", "tomorrow", "set", "unfreeze", "speed up", "reset now", "freeze!", "RESET;"]


def assert_one_clear_line(exc):
    text = str(exc)
    assert "\n" not in text and "\r" not in text and "\u2028" not in text, text
    assert 0 < len(text) <= 300, text
    assert ACCEPTED.search(text), f"does not say what is accepted: {text}"


@pytest.mark.parametrize("text", QUOTES + SHELL + NEWLINES + YAML + CHINESE + HUGE + DATES + SPEEDS + OFFSETS + ZONES
                         + NEXTS + PRESET_NAMES + OTHER)
def test_command_refused_with_one_clear_line(text):
    with pytest.raises(ClockError) as caught:
        parse_clock_command(text, PRESETS, UTC)
    assert_one_clear_line(caught.value)
    assert isinstance(caught.value, InvalidInput) and caught.value.http_status == 400 and caught.value.cli_exit == 2


@pytest.mark.parametrize("value", [None, 10, 1.5, b"reset", ["reset"], {"a": "b"}])
def test_command_that_is_not_text(value):
    with pytest.raises(ClockError) as caught:
        parse_clock_command(value, PRESETS, UTC)
    assert_one_clear_line(caught.value)


def test_the_epoch_itself_is_out_of_range_east_of_greenwich():
    assert parse_clock_command("1970-01-01 00:00:00", {}, UTC).value == 0
    with pytest.raises(ClockError) as caught:
        parse_clock_command("1970-01-01 00:00:00", {}, SHANGHAI)  # 1969-12-31 16:00 UTC
    assert_one_clear_line(caught.value)
    assert parse_clock_command("2038-01-19 03:14:07", {}, UTC).value == 2**31 - 1


@pytest.mark.parametrize("text", ["1969-12-31 23:59:59", "2039-01-01 00:00:00", "9999-12-31 23:59:59",
                                  "2038-01-19 03:14:08", "$(id)", "2021-09-18 04:59:50\n", "重置", "- x"])
def test_start_time_out_of_range_refused(text):
    with pytest.raises(ClockError) as caught:
        parse_wall_time(text)
    assert_one_clear_line(caught.value)
    if not text.endswith("\n"):  # validate_start_time strips surrounding whitespace first (test_validate)
        with pytest.raises(InvalidInput) as caught:
            validate_start_time(text)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", QUOTES[:4] + SHELL + YAML + CHINESE + ["at +0 " + t for t in SHELL + YAML + CHINESE]
                         + ["at +0 freeze;" * 10_000, "at +0 freeze\x00", "at +1e9 freeze", "at +１m freeze",
                            "at +0 speed 1e9", "at +0 set 9999-12-31 23:59:59", "at +8d freeze", "at +0 preset $(id)"])
def test_timeline_refused_with_one_clear_line(text):
    with pytest.raises(ClockError) as caught:
        parse_timeline(text, PRESETS, UTC)
    assert_one_clear_line(caught.value)


@pytest.mark.parametrize("name", ["$(id)", "`id`", "a;b", "{a: b}", "- x", "&anchor", "*alias", "重置", "Daily",
                                  "daily_reset", "daily.reset", "x" * 33, "", "a\nb", "../x", 1, None, "１"])
def test_preset_name_refused_with_one_clear_line(name):
    with pytest.raises(ConfigError) as caught:
        validate_presets({name: "reset"}, UTC)
    assert_one_clear_line(caught.value)
    assert "clock.presets: preset name" in str(caught.value)


@pytest.mark.parametrize("expression", SHELL + YAML + CHINESE + SPEEDS[:6] + OFFSETS[:6] + ["preset x", "a" * 100_000])
def test_preset_expression_refused_naming_the_preset(expression):
    with pytest.raises(ConfigError) as caught:
        validate_presets({"daily-reset": expression}, UTC)
    assert_one_clear_line(caught.value)
    assert str(caught.value).startswith("clock.presets.daily-reset: ")


@pytest.mark.parametrize("data", [{"island_epoch": "$(id)", "real_epoch": 1, "rate": 1, "frozen": False},
                                  {"island_epoch": 1, "real_epoch": 1, "rate": 1, "frozen": False, "重置": 1},
                                  {"island_epoch": 1e300, "real_epoch": 1, "rate": 1, "frozen": False},
                                  {"island_epoch": 1, "real_epoch": 1, "rate": 1e9, "frozen": False}])
def test_stored_state_refused_with_one_line(data):
    with pytest.raises(ClockError) as caught:
        ClockState.from_dict(data)
    assert "\n" not in str(caught.value)
