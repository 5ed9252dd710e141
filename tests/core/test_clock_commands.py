"""Clock commands, presets and what each does to a ClockState (issue 13)."""

import math
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from island_ssh.core.clock import (
    LATEST, ClockCommand, ClockError, ClockState, NextTime, apply_command, format_reading, next_wall_time,
    parse_clock_command, validate_presets,
)
from island_ssh.core.errors import ConfigError

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
REAL = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC).timestamp()
PRESETS = {"daily-reset": "next 05:00 - 10s", "weekly-reset": "next Monday 05:00 - 10s", "fast": "speed x10",
           "event-end": "2021-10-01 00:00:00", "stop": "freeze", "back": "reset", "later": "+1d"}


def utc(*args):
    return datetime(*args, tzinfo=UTC).timestamp()


def run(text, state, real_now=REAL, tz=UTC, presets=PRESETS):
    return apply_command(parse_clock_command(text, presets, tz), state, real_now, tz, presets)


@pytest.mark.parametrize("text, kind, canonical, value", [
    ("2021-09-18 04:59:50", "set", "2021-09-18 04:59:50", utc(2021, 9, 18, 4, 59, 50)),
    ("2021-09-18T04:59:50", "set", "2021-09-18 04:59:50", utc(2021, 9, 18, 4, 59, 50)),
    ('set "2021-09-18 04:59:50"', "set", "2021-09-18 04:59:50", utc(2021, 9, 18, 4, 59, 50)),
    ("set '2021-09-18 04:59:50'", "set", "2021-09-18 04:59:50", utc(2021, 9, 18, 4, 59, 50)),
    ("SET 2021-09-18 04:59:50", "set", "2021-09-18 04:59:50", utc(2021, 9, 18, 4, 59, 50)),
    ("+2d", "shift", "+2d", 2 * 86400), ("-1h", "shift", "-1h", -3600), ("+1d12h", "shift", "+1d12h", 36 * 3600),
    ("+90", "shift", "+90", 90), (" -1W ", "shift", "-1w", -7 * 86400), ("+0", "shift", "+0", 0),
    ("reset", "reset", "reset", 0), ("NOW", "reset", "reset", 0), ("freeze", "freeze", "freeze", 0),
    ("Resume", "resume", "resume", 0),
    ("speed x10", "speed", "speed x10", 10), ("speed 10", "speed", "speed x10", 10), ("x10", "speed", "speed x10", 10),
    ("X1", "speed", "speed x1", 1), ("speed x0.5", "speed", "speed x0.5", 0.5), ("x1000", "speed", "speed x1000", 1000),
    ("x0.001", "speed", "speed x0.001", 0.001), ("speed   x2.25", "speed", "speed x2.25", 2.25),
    ("preset daily-reset", "preset", "preset daily-reset", 0),
    ("next 05:00 - 10s", "next", "next 05:00:00 - 10s", 0), ("next Monday 05:00", "next", "next monday 05:00:00", 0),
])
def test_parse_and_canonical_text(text, kind, canonical, value):
    cmd = parse_clock_command(text, PRESETS, UTC)
    assert (cmd.kind, cmd.text, cmd.value) == (kind, canonical, value)
    assert parse_clock_command(cmd.text, PRESETS, UTC) == cmd  # canonical text parses back to the same


def test_absolute_date_is_read_in_the_studio_zone():
    assert parse_clock_command("2021-09-18 12:59:50", {}, SHANGHAI).value == utc(2021, 9, 18, 4, 59, 50)
    assert parse_clock_command("2021-07-01 02:00:00", {}, BERLIN).value == utc(2021, 7, 1, 0, 0, 0)  # CEST
    assert parse_clock_command("2021-01-01 02:00:00", {}, BERLIN).value == utc(2021, 1, 1, 1, 0, 0)  # CET


def test_a_wall_time_skipped_by_dst_is_refused():
    with pytest.raises(ClockError, match="DST"):
        parse_clock_command("2021-03-28 02:30:00", {}, BERLIN)
    assert parse_clock_command("2021-03-28 02:30:00", {}, SHANGHAI).kind == "set"


def test_set_moves_the_reading_and_keeps_rate_and_frozen():
    state = ClockState(utc(2020, 1, 1), REAL - 100, rate=10, frozen=True)
    new = run("2021-09-18 04:59:50", state)
    assert new == ClockState(utc(2021, 9, 18, 4, 59, 50), REAL, 10, True)
    running = run("2021-09-18 04:59:50", ClockState(utc(2020, 1, 1), REAL - 100, rate=10))
    assert running.island_at(REAL + 1) == utc(2021, 9, 18, 4, 59, 50) + 10


def test_shift_is_relative_to_what_the_island_reads_now():
    # Fast clock anchored 100 real seconds ago: it reads anchor + 1000 now, not anchor + 100.
    state = ClockState(utc(2021, 9, 18), REAL - 100, rate=10)
    new = run("+1h", state)
    assert new.island_at(REAL) == utc(2021, 9, 18) + 1000 + 3600
    assert new.rate == 10 and not new.frozen and new.real_epoch == REAL


def test_shift_of_a_frozen_clock_moves_the_frozen_reading():
    new = run("-1d", ClockState(utc(2021, 9, 18), REAL - 500, frozen=True))
    assert new.frozen and new.island_at(REAL + 999) == utc(2021, 9, 17)


def test_reset_is_real_time_rate_1_running():
    new = run("reset", ClockState(utc(2021, 9, 18), REAL - 5, rate=10, frozen=True))
    assert new == ClockState(REAL, REAL, 1.0, False) and new.is_real_time


def test_freeze_then_resume_continues_from_the_frozen_reading():
    state = ClockState(utc(2021, 9, 18), REAL - 10, rate=2)
    frozen = run("freeze", state)
    assert frozen.frozen and frozen.island_at(REAL + 3600) == utc(2021, 9, 18) + 20
    resumed = run("resume", frozen, real_now=REAL + 3600)
    assert not resumed.frozen and resumed.rate == 2
    assert resumed.island_at(REAL + 3600) == utc(2021, 9, 18) + 20
    assert resumed.island_at(REAL + 3605) == utc(2021, 9, 18) + 30


def test_speed_changes_the_rate_from_the_current_reading():
    state = ClockState(utc(2021, 9, 18), REAL - 10)
    fast = run("speed x10", state)
    assert fast.island_at(REAL) == utc(2021, 9, 18) + 10
    assert fast.island_at(REAL + 6) == utc(2021, 9, 18) + 70
    normal = run("x1", fast, real_now=REAL + 6)
    assert normal.rate == 1 and normal.island_at(REAL + 8) == utc(2021, 9, 18) + 72


def test_speed_while_frozen_is_stored_and_applies_on_resume():
    frozen = ClockState(utc(2021, 9, 18), REAL - 10, frozen=True)
    stored = run("speed x10", frozen)
    assert stored.frozen and stored.rate == 10 and stored.island_at(REAL + 100) == utc(2021, 9, 18)
    resumed = run("resume", stored, real_now=REAL + 100)
    assert resumed.island_at(REAL + 103) == utc(2021, 9, 18) + 30


@pytest.mark.parametrize("text", ["freeze", "resume", "speed x10", "x0.5", "x1", "speed 1000"])
def test_continuous_commands_keep_the_reading_at_real_now(text):
    rng = random.Random(text)
    for _ in range(100):
        state = ClockState(rng.uniform(1e9, 1.9e9), rng.uniform(1.7e9, 1.8e9), rng.choice([0.001, 0.5, 1, 7, 1000]),
                           rng.random() < 0.5)
        real_now = state.real_epoch + rng.uniform(0, 1000)
        new = run(text, state, real_now=real_now)
        assert new.real_epoch == real_now
        assert math.isclose(new.island_at(real_now), state.island_at(real_now), rel_tol=0, abs_tol=1e-6)


@pytest.mark.parametrize("text, jump", [("+1h", 3600), ("-2d", -2 * 86400), ("+90", 90)])
def test_shift_jumps_exactly_by_its_amount_whatever_the_state(text, jump):
    rng = random.Random(text)
    for _ in range(100):
        state = ClockState(rng.uniform(1e9, 1.9e9), rng.uniform(1.7e9, 1.8e9), rng.choice([0.5, 1, 10]),
                           rng.random() < 0.5)
        real_now = state.real_epoch + rng.uniform(0, 1000)
        new = run(text, state, real_now=real_now)
        assert math.isclose(new.island_at(real_now), state.island_at(real_now) + jump, rel_tol=0, abs_tol=1e-6)
        assert (new.rate, new.frozen) == (state.rate, state.frozen)


# -- next / presets, DST -------------------------------------------------------------------------

def reading_after(text, island, tz, presets=PRESETS):
    return run(text, ClockState(island, REAL), tz=tz, presets=presets).island_at(REAL)


def test_daily_reset_in_shanghai():
    # 04:59:55 +08 -> today's 05:00 is next; minus 10 s is 04:59:50 (before the reading: see the docstring)
    assert reading_after("preset daily-reset", utc(2021, 9, 17, 20, 59, 55), SHANGHAI) == utc(2021, 9, 17, 20, 59, 50)
    # exactly 05:00:00 +08 -> strictly after -> tomorrow
    assert reading_after("next 05:00", utc(2021, 9, 17, 21, 0, 0), SHANGHAI) == utc(2021, 9, 18, 21, 0, 0)
    assert reading_after("next 05:00:01", utc(2021, 9, 17, 21, 0, 0), SHANGHAI) == utc(2021, 9, 17, 21, 0, 1)


def test_next_lands_on_the_real_wall_time_across_spring_forward():
    saturday_noon = utc(2021, 3, 27, 11, 0, 0)  # 12:00 CET
    landed = reading_after("next 05:00", saturday_noon, BERLIN)
    assert landed == utc(2021, 3, 28, 3, 0, 0)  # 05:00 CEST
    assert format_reading(landed, BERLIN) == "2021-03-28 05:00:00"
    assert landed - saturday_noon == 16 * 3600  # 17 wall hours, one of them skipped
    # 02:30 does not exist on 2021-03-28 in Berlin: the next 02:30 is a day later
    assert reading_after("next 02:30", saturday_noon, BERLIN) == utc(2021, 3, 29, 0, 30, 0)


def test_next_counts_a_repeated_wall_time_twice_at_fall_back():
    assert reading_after("next 02:30", utc(2021, 10, 30, 22, 0), BERLIN) == utc(2021, 10, 31, 0, 30)  # CEST
    assert reading_after("next 02:30", utc(2021, 10, 31, 0, 45), BERLIN) == utc(2021, 10, 31, 1, 30)  # CET
    assert reading_after("next 02:30", utc(2021, 10, 31, 1, 45), BERLIN) == utc(2021, 11, 1, 1, 30)


def test_weekly_reset():
    saturday = utc(2021, 9, 18, 4, 0)  # Saturday 12:00 +08
    assert reading_after("preset weekly-reset", saturday, SHANGHAI) == utc(2021, 9, 19, 20, 59, 50)
    monday_6 = utc(2021, 9, 19, 22, 0)  # Monday 06:00 +08: this week's 05:00 is past
    assert reading_after("next mon 05:00", monday_6, SHANGHAI) == utc(2021, 9, 26, 21, 0)
    monday_4 = utc(2021, 9, 19, 20, 0)  # Monday 04:00 +08
    assert reading_after("NEXT MONDAY 05:00", monday_4, SHANGHAI) == utc(2021, 9, 19, 21, 0)
    # Berlin, across the spring-forward weekend: Monday 05:00 CEST
    assert reading_after("preset weekly-reset", utc(2021, 3, 27, 11, 0), BERLIN) == utc(2021, 3, 29, 2, 59, 50)


@pytest.mark.parametrize("weekday", range(7))
def test_next_weekday_is_within_a_week_and_on_that_day(weekday):
    names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    for hours in range(0, 24 * 8, 5):
        island = utc(2021, 10, 25) + hours * 3600
        landed = reading_after(f"next {names[weekday]} 05:00", island, BERLIN)
        local = datetime.fromtimestamp(landed, BERLIN)
        assert local.weekday() == weekday and (local.hour, local.minute, local.second) == (5, 0, 0)
        assert island < landed <= island + 7 * 86400 + 3600


def test_next_keeps_rate_and_frozen():
    state = ClockState(utc(2021, 9, 18), REAL - 10, rate=10, frozen=True)
    new = run("next 05:00", state)
    assert new.frozen and new.rate == 10 and new.island_at(REAL) == utc(2021, 9, 18, 5)


def test_next_wall_time_with_a_fixed_offset_zone():
    zone = timezone(timedelta(hours=-5))
    assert next_wall_time(NextTime(5, 0), utc(2021, 1, 1, 12), zone) == utc(2021, 1, 2, 10)


def test_presets_of_every_kind_apply():
    state = ClockState(utc(2021, 9, 18), REAL - 10)
    assert run("preset fast", state).rate == 10
    assert run("preset event-end", state).island_at(REAL) == utc(2021, 10, 1)
    assert run("preset stop", state).frozen
    assert run("preset back", state).is_real_time
    assert run("preset later", state).island_at(REAL) == utc(2021, 9, 19) + 10


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ClockError, match="no preset 'nope'; presets: back, daily-reset"):
        parse_clock_command("preset nope", PRESETS, UTC)
    with pytest.raises(ClockError, match="no presets are configured"):
        parse_clock_command("preset daily-reset", {}, UTC)


def test_a_preset_removed_before_it_is_applied_fails_cleanly():
    cmd = parse_clock_command("preset daily-reset", PRESETS, UTC)
    with pytest.raises(ClockError, match="no preset 'daily-reset'"):
        apply_command(cmd, ClockState.real(REAL), REAL, UTC, {})


def test_apply_refuses_a_reading_out_of_range():
    near_end = ClockState(LATEST - 100, REAL)
    with pytest.raises(ClockError, match=r"'\+1h' would make the island read 2038-01-19 04:12:27 UTC"):
        run("+1h", near_end)
    assert run("+100", near_end).island_at(REAL) == LATEST
    with pytest.raises(ClockError, match="outside 1970"):
        run("-1d", ClockState(3600, REAL))
    with pytest.raises(ClockError, match="outside"):
        run("next 05:00", ClockState(LATEST - 10, REAL))
    with pytest.raises(ClockError, match="unknown command kind"):
        apply_command(ClockCommand("warp", "warp"), near_end, REAL)


# -- validate_presets (config load time) ---------------------------------------------------------

def test_validate_presets_returns_canonical_expressions():
    assert validate_presets({"daily-reset": "next 05:00 - 10s", "weekly-reset": "Next MONDAY 05:00 -10s",
                             "fast": "x10", "go-2021": 'set "2021-09-18 04:59:50"'}, SHANGHAI) == {
        "daily-reset": "next 05:00:00 - 10s", "weekly-reset": "next monday 05:00:00 - 10s", "fast": "speed x10",
        "go-2021": "2021-09-18 04:59:50"}
    assert validate_presets(None, UTC) == {}


@pytest.mark.parametrize("mapping, words", [
    ({"Daily": "reset"}, "preset name 'Daily'"),
    ({"$(id)": "reset"}, "preset name '$(id)'"),
    ({"a b": "reset"}, "preset name 'a b'"),
    ({"-x": "reset"}, "preset name '-x'"),
    ({"x" * 33: "reset"}, "preset name"),
    ({"": "reset"}, "preset name ''"),
    ({"重置": "reset"}, "preset name '重置'"),
    ({"{a: b}": "reset"}, "preset name '{a: b}'"),
    ({"&anchor": "reset"}, "preset name '&anchor'"),
    ({3: "reset"}, "preset name 3"),
    ({"daily-reset": "next 25:00"}, "clock.presets.daily-reset: "),
    ({"weekly-reset": "next Moonday 05:00"}, "clock.presets.weekly-reset: 'moonday' is not a weekday"),
    ({"loop": "preset loop"}, "clock.presets.loop: "),
    ({"far": "2039-01-01 00:00:00"}, "clock.presets.far: "),
    ({"n": ["reset"]}, "clock.presets.n: expected text"),
    ({"n": {"a": "b"}}, "clock.presets.n: expected text"),
    (["reset"], "expected a mapping"),
    ({f"p{i}": "reset" for i in range(101)}, "at most 100"),
])
def test_validate_presets_refuses_naming_the_preset(mapping, words):
    with pytest.raises(ConfigError) as caught:
        validate_presets(mapping, UTC)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)
