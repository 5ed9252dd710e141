"""What a ClockState becomes in the container (file spec, entry.sh argument) and judging readings."""

import math
import re
from datetime import datetime, timezone

import pytest

from island_ssh.core.clock import (
    ENTRY_ARG_PATTERNS, ENTRY_ARG_REGEX, LATEST, MAX_RATE, MIN_RATE, ClockError, ClockState, entry_clock_arg, faketime_text, file_spec,
    judge_reading, parse_entry_clock_arg,
)

REAL = datetime(2026, 12, 3, 12, 0, 0, tzinfo=timezone.utc).timestamp()
ISLAND = datetime(2021, 9, 18, 4, 59, 50, tzinfo=timezone.utc).timestamp()
RATES = [MIN_RATE, 0.5, 1.0, 2.5, 10.0, MAX_RATE]


def libfaketime(content: str, server_start: float, t: float) -> float:
    """What libfaketime 0.9.10 makes of '+O xR' (measured): S + (t - S)*R + O."""
    match = re.fullmatch(r"([+-][0-9]+\.[0-9]+) x([0-9.]+)", content)
    assert match, content
    offset, rate = float(match.group(1)), float(match.group(2))
    return server_start + (t - server_start) * rate + offset


def test_rate_1_spec_is_the_offset_whatever_the_server_start():
    state = ClockState(REAL + 3600, REAL)
    assert file_spec(state, REAL - 1000) == "offset +3600.000000 1"
    assert file_spec(state, 0) == "offset +3600.000000 1"
    assert faketime_text(state, 12345) == "+3600.000000 x1"
    assert file_spec(ClockState(REAL - 86400.25, REAL), REAL) == "offset -86400.250000 1"


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("start_before", [0.0, 5.0, 3600.0, 86400.0 * 30])
def test_file_content_reads_what_the_state_says(rate, start_before):
    state = ClockState(ISLAND, REAL, rate)
    server_start = REAL - start_before
    text = faketime_text(state, server_start)
    spec = file_spec(state, server_start)
    kind, offset, r = spec.split(" ")
    assert kind == "offset" and f"{offset} x{r}" == text
    assert "e" not in text  # the container script takes plain decimals only
    for t in (REAL, REAL + 1, REAL + 600.5):
        assert math.isclose(libfaketime(text, server_start, t), state.island_at(t), rel_tol=0, abs_tol=2e-3)


def test_frozen_spec_is_whole_seconds():
    assert file_spec(ClockState(ISLAND + 0.9, REAL, rate=10, frozen=True), REAL) == f"frozen {int(ISLAND)}"
    with pytest.raises(ClockError, match="plain date"):
        faketime_text(ClockState(ISLAND, REAL, frozen=True), REAL)


def test_spec_refuses_a_bad_server_start():
    with pytest.raises(ClockError, match="server start"):
        file_spec(ClockState(ISLAND, REAL), float("nan"))


def matching(arg):
    found = [kind for kind, regex in ENTRY_ARG_REGEX.items() if regex.match(arg)]
    # the POSIX text agrees (a newline is never in an argument that reaches `[[ =~ ]]` / grep -E whole)
    if "\n" not in arg:
        assert found == [kind for kind, pattern in ENTRY_ARG_PATTERNS.items() if re.search(pattern, arg)]
    return found


def test_entry_arg_rate_1_is_an_offset():
    state = ClockState(ISLAND, REAL - 100)
    arg = entry_clock_arg(state, REAL)
    assert arg == f"{ISLAND + 100 - REAL:+.6f} x1" and arg.startswith("-")
    assert matching(arg) == ["offset"]
    assert entry_clock_arg(ClockState(REAL + 60, REAL), REAL + 999) == "+60.000000 x1"


def test_entry_arg_frozen_is_the_epoch():
    arg = entry_clock_arg(ClockState(ISLAND + 0.7, REAL - 100, rate=10, frozen=True), REAL)
    assert arg == f"={int(ISLAND)}"
    assert matching(arg) == ["frozen"]


@pytest.mark.parametrize("rate", [r for r in RATES if r != 1.0])
def test_entry_arg_with_a_speed_is_reading_real_time_and_rate(rate):
    state = ClockState(ISLAND, REAL - 100, rate)
    arg = entry_clock_arg(state, REAL)
    assert arg == f"~{ISLAND + 100 * rate:.6f} {REAL:.6f} {rate:g}"
    assert matching(arg) == ["rate"]
    # What entry.sh does at container start Tc with libfaketime start S: '+O xR', O = F - S + (S - T)*R.
    f, t, r = (float(x) for x in arg[1:].split(" "))
    start = REAL + 500.0
    content = f"{f - start + (start - t) * r:+.6f} x{r:g}"
    for later in (start, start + 10, start + 3600):
        assert math.isclose(libfaketime(content, start, later), state.island_at(later), rel_tol=0, abs_tol=2e-3)


@pytest.mark.parametrize("state", [ClockState(ISLAND, REAL - 5), ClockState(ISLAND, REAL - 5, 10),
                                   ClockState(ISLAND, REAL - 5, 0.5, True), ClockState(REAL + 7200, REAL)])
def test_entry_arg_round_trips(state):
    back = parse_entry_clock_arg(entry_clock_arg(state, REAL), REAL)
    for t in (REAL, REAL + 10, REAL + 1000):
        assert math.isclose(back.island_at(t), state.island_at(t), rel_tol=0, abs_tol=1e-5)
    assert back.frozen == state.frozen


@pytest.mark.parametrize("text", ["", "+3600 x1", "+3600.000000 x2", "=-5", "=12345678901", "~1 2 3", "@2021-09-18 04:59:50",
                                  "+1.000000 x1\n", "~1.000000 2.000000 1e3", "=1 ; id"])
def test_entry_arg_patterns_refuse_other_text(text):
    assert matching(text) == []
    with pytest.raises(ClockError):
        parse_entry_clock_arg(text)


def test_entry_arg_patterns_are_posix_ere():
    for pattern in ENTRY_ARG_PATTERNS.values():
        assert pattern.startswith("^") and pattern.endswith("$")
        assert "\\d" not in pattern and "(?" not in pattern and "\\s" not in pattern


def test_entry_arg_refuses_a_clock_that_left_the_range():
    fast = ClockState(LATEST - 10, REAL, rate=10)
    with pytest.raises(ClockError, match="restarting this clock"):
        entry_clock_arg(fast, REAL + 2)
    with pytest.raises(ClockError):
        entry_clock_arg(fast, float("inf"))


# -- judging what the island reads ---------------------------------------------------------------

def test_judge_a_running_clock_at_the_middle_of_the_read():
    state = ClockState(ISLAND, REAL)
    verdict = judge_reading(state, ISLAND + 10.1, REAL + 10, REAL + 10.2)
    assert math.isclose(verdict.expected, ISLAND + 10.1) and abs(verdict.diff) < 1e-6 and verdict.ok
    assert math.isclose(verdict.bound, 0.6, abs_tol=1e-5)
    late = judge_reading(state, ISLAND + 10.8, REAL + 10, REAL + 10.2)
    assert not late.ok and math.isclose(late.diff, 0.7, abs_tol=1e-5)


def test_judge_bound_grows_with_rate_times_the_window():
    fast = ClockState(ISLAND, REAL, rate=100)
    # the middle is 10.1 real s in, so the island should read +1010; a 0.2 s window at x100 is +-10 s
    verdict = judge_reading(fast, ISLAND + 1010 + 10, REAL + 10, REAL + 10.2)
    assert math.isclose(verdict.expected, ISLAND + 1010, abs_tol=1e-3)
    assert math.isclose(verdict.bound, 10.5, abs_tol=1e-4) and verdict.ok
    assert not judge_reading(fast, ISLAND + 1010 + 11, REAL + 10, REAL + 10.2).ok
    assert not judge_reading(fast, ISLAND + 1010 - 11, REAL + 10, REAL + 10.2).ok
    assert not judge_reading(ClockState(ISLAND, REAL), ISLAND + 10.1 + 10, REAL + 10, REAL + 10.2).ok  # x1: +-0.6 s


def test_judge_allows_for_an_uncertain_server_start_when_rate_is_not_1():
    # The file for x10 written with S 0.1 s late puts the island (1 - 10) * (S - S_used) = +0.9 s off.
    state = ClockState(ISLAND, REAL, rate=10)
    server_start = REAL - 3600
    content = faketime_text(state, server_start + 0.1)
    read = libfaketime(content, server_start, REAL + 5)
    assert math.isclose(read - state.island_at(REAL + 5), 0.9, abs_tol=1e-3)
    assert not judge_reading(state, read, REAL + 5, REAL + 5).ok
    verdict = judge_reading(state, read, REAL + 5, REAL + 5, start_error=0.1)
    assert verdict.ok and math.isclose(verdict.bound, 0.5 + 0.9)
    assert judge_reading(ClockState(ISLAND, REAL), ISLAND + 5, REAL + 5, REAL + 5, start_error=99).bound == 0.5


def test_judge_a_frozen_clock_against_its_whole_second():
    frozen = ClockState(ISLAND + 0.7, REAL, rate=10, frozen=True)
    verdict = judge_reading(frozen, ISLAND, REAL + 100, REAL + 105)
    assert verdict.expected == ISLAND and verdict.diff == 0 and verdict.ok and verdict.bound == 0.5
    assert not judge_reading(frozen, ISLAND + 1, REAL + 100, REAL + 105).ok  # a clock still running is caught


def test_judge_catches_a_change_that_did_not_take():
    old = ClockState(REAL, REAL)
    asked = ClockState(ISLAND, REAL)
    still_real = old.island_at(REAL + 1)
    assert not judge_reading(asked, still_real, REAL + 0.9, REAL + 1.1).ok


@pytest.mark.parametrize("args", [(float("nan"), 1, 2), (1, 2, 1), (1, float("inf"), 2), (1, 1, 2, -0.1), ("1", 1, 2),
                                  (1, 1, 2, 0.5, -1), (1, 1, 2, 0.5, float("nan"))])
def test_judge_refuses_nonsense(args):
    with pytest.raises(ClockError):
        judge_reading(ClockState(ISLAND, REAL), *args)
