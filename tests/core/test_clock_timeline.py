"""Clock timelines: parsing, order and limits, and a whole timeline played against a ClockState."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from island_ssh.core.clock import (
    ClockError, ClockState, TimelineStep, apply_command, format_reading, format_timeline, parse_clock_command,
    parse_timeline, steps_due, timeline_end,
)

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
PRESETS = {"daily-reset": "next 05:00 - 10s", "weekly-reset": "next Monday 05:00 - 10s"}
EXAMPLE = 'at +0 set "2021-09-18 04:59:50"; at +2m preset weekly-reset; at +3m freeze'
REAL = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC).timestamp()


def test_the_issue_example():
    assert parse_timeline(EXAMPLE, PRESETS, UTC) == [
        TimelineStep(0.0, "2021-09-18 04:59:50"), TimelineStep(120.0, "preset weekly-reset"),
        TimelineStep(180.0, "freeze")]


def test_newlines_blank_lines_crlf_and_every_command_kind():
    text = ("at 0 set 2021-09-18 04:59:50\r\n\n  AT +30s speed x10 \n at +1m30s x1;at +90 resume;;"
            "at +1h reset\nat +1h +1d\nat +2h next monday 05:00 - 10s\nat +1d set '2021-09-19 00:00:00'\n")
    steps = parse_timeline(text, PRESETS, UTC)
    assert [(s.at_seconds, s.command) for s in steps] == [
        (0, "2021-09-18 04:59:50"), (30, "speed x10"), (90, "speed x1"), (90, "resume"), (3600, "reset"),
        (3600, "+1d"), (7200, "next monday 05:00:00 - 10s"), (86400, "2021-09-19 00:00:00")]


def test_dates_are_read_in_the_studio_zone():
    (step,) = parse_timeline('at +0 set "2021-09-18 12:59:50"', {}, SHANGHAI)
    assert parse_clock_command(step.command, {}, SHANGHAI).value == datetime(2021, 9, 18, 4, 59, 50, tzinfo=UTC).timestamp()


def test_format_round_trips():
    steps = parse_timeline(EXAMPLE + "; at +1h x2.5; at +2h -1h", PRESETS, UTC)
    text = format_timeline(steps)
    assert text == ('at +0s set "2021-09-18 04:59:50"; at +120s preset weekly-reset; at +180s freeze; '
                    "at +3600s speed x2.5; at +7200s -1h")
    assert parse_timeline(text, PRESETS, UTC) == steps


@pytest.mark.parametrize("text, words", [
    ("", "no steps"),
    (" ; \n ;", "no steps"),
    ("at +2m freeze; at +1m resume", "step 2: at +1m comes before step 1"),
    ("at +7d1s freeze", "step 1: at +7d1s is more than 7 days in"),
    ("at +1m warp 9", "step 1: 'warp 9' not understood"),
    ("at +1m preset nope", "step 1: no preset 'nope'"),
    ("freeze", "step 1: 'freeze' is not 'at +DURATION COMMAND'"),
    ("at -1m freeze", "is not 'at +DURATION COMMAND'"),
    ("at +1m", "is not 'at +DURATION COMMAND'"),
    ("at +0 freeze; at +1x resume", "step 2"),
    ('at +0 set "2039-01-01 00:00:00"', "step 1: "),
    ('at +0 set "2021-09-18 04:59:50', "step 1: "),
    ("at +0 speed 0", "step 1: speed 0"),
    ("; ".join(f"at +{i} freeze" for i in range(51)), "51 steps; at most 50"),
    ("at +0 freeze;" * 200, "characters; at most 2000"),
    ("at +0 freeze\tnow", "plain ASCII only"),
    ("at +0 重置", "plain ASCII only"),
])
def test_refused_with_one_line_naming_the_step(text, words):
    with pytest.raises(ClockError) as caught:
        parse_timeline(text, PRESETS, UTC)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_limits_are_inclusive():
    assert len(parse_timeline("; ".join(f"at +{i} freeze" for i in range(50)), {}, UTC)) == 50
    assert parse_timeline("at +7d freeze", {}, UTC)[-1].at_seconds == 7 * 86400
    text = "at +0 freeze;" + " " * (2000 - 13)
    assert len(text) == 2000 and len(parse_timeline(text, {}, UTC)) == 1


def test_steps_due_and_end():
    steps = parse_timeline(EXAMPLE, PRESETS, UTC)
    assert steps_due(steps, REAL, 0, REAL - 1) == []
    assert steps_due(steps, REAL, 0, REAL) == [0]
    assert steps_due(steps, REAL, 1, REAL + 119.9) == []
    assert steps_due(steps, REAL, 1, REAL + 200) == [1, 2]
    assert steps_due(steps, REAL, 3, REAL + 10**6) == []
    assert timeline_end(steps, REAL) == REAL + 180


def test_a_played_timeline_lands_each_step_at_its_time():
    """Play the example as the service would (each step applied at its own real time) and read the island."""
    steps = parse_timeline(EXAMPLE, PRESETS, SHANGHAI)
    state = ClockState.real(REAL - 50)
    readings = {}
    for step in steps:
        at = REAL + step.at_seconds
        readings[f"before {step.command}"] = format_reading(state.island_at(at), SHANGHAI)
        state = apply_command(parse_clock_command(step.command, PRESETS, SHANGHAI), state, at, SHANGHAI, PRESETS)
        readings[step.command] = format_reading(state.island_at(at), SHANGHAI)
    # Step 1 sets Saturday 04:59:50 (+08); 2 minutes later it read 05:01:50 and the weekly preset
    # jumps to Monday 04:59:50; one minute on, freeze holds Monday 05:00:50.
    assert readings["2021-09-18 04:59:50"] == "2021-09-18 04:59:50"
    assert readings["before preset weekly-reset"] == "2021-09-18 05:01:50"
    assert readings["preset weekly-reset"] == "2021-09-20 04:59:50"
    assert readings["freeze"] == "2021-09-20 05:00:50"
    assert state.frozen and format_reading(state.island_at(REAL + 86400), SHANGHAI) == "2021-09-20 05:00:50"
