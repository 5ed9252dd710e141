"""ClockState: the stored clock (issue 13)."""

import json
import math
import random
from datetime import datetime, timezone

import pytest

from island_ssh.core.clock import (
    EARLIEST, LATEST, MAX_RATE, MIN_RATE, ClockError, ClockState, format_reading, initial_state,
)

REAL = datetime(2026, 12, 3, 12, 0, 0, tzinfo=timezone.utc).timestamp()
ISLAND = datetime(2021, 9, 18, 4, 59, 50, tzinfo=timezone.utc).timestamp()


def test_the_range_is_32_bit_time_t():
    assert EARLIEST == 0
    assert LATEST == 2**31 - 1
    assert datetime.fromtimestamp(LATEST, timezone.utc) == datetime(2038, 1, 19, 3, 14, 7, tzinfo=timezone.utc)


def test_running_clock_reads_its_anchor_plus_elapsed_times_rate():
    state = ClockState(ISLAND, REAL, rate=10)
    assert state.island_at(REAL) == ISLAND
    assert state.island_at(REAL + 6) == ISLAND + 60
    assert state.island_at(REAL - 1) == ISLAND - 10
    assert state.offset_at(REAL) == ISLAND - REAL


def test_frozen_clock_reads_its_anchor_at_any_time():
    state = ClockState(ISLAND, REAL, rate=10, frozen=True)
    assert state.island_at(REAL + 3600) == ISLAND
    assert state.island_at(REAL - 3600) == ISLAND


def test_real_and_from_offset():
    assert ClockState.real(REAL).island_at(REAL + 5) == REAL + 5
    assert ClockState.real(REAL).is_real_time
    shifted = ClockState.from_offset(-3600, REAL)
    assert shifted.island_at(REAL + 100) == REAL + 100 - 3600
    assert not shifted.is_real_time
    assert not ClockState(REAL, REAL, rate=2).is_real_time
    assert not ClockState(REAL, REAL, frozen=True).is_real_time


def test_anchored_keeps_every_reading():
    rng = random.Random(13)
    for _ in range(200):
        state = ClockState(rng.uniform(0, 2e9), rng.uniform(1.6e9, 1.8e9), rng.choice([0.001, 0.5, 1, 10, 1000]),
                           rng.random() < 0.3)
        later = state.real_epoch + rng.uniform(0, 1000)
        moved = state.anchored(later)
        assert moved.real_epoch == later
        for t in (later, later + 1, later + 77.5):
            assert math.isclose(moved.island_at(t), state.island_at(t), rel_tol=0, abs_tol=1e-5)


def test_as_dict_is_json_and_round_trips():
    state = ClockState(ISLAND + 0.25, REAL, rate=0.5, frozen=True)
    data = json.loads(json.dumps(state.as_dict()))
    assert data == {"island_epoch": ISLAND + 0.25, "real_epoch": REAL, "rate": 0.5, "frozen": True}
    assert ClockState.from_dict(data) == state


@pytest.mark.parametrize("data, words", [
    (None, "expected an object"),
    ([1, 2], "expected an object"),
    ({"island_epoch": 1.0, "real_epoch": 1.0, "rate": 1.0}, "missing ['frozen']"),
    ({"island_epoch": 1.0, "real_epoch": 1.0, "rate": 1.0, "frozen": False, "tz": "UTC"}, "unknown"),
    ({"island_epoch": "1", "real_epoch": 1.0, "rate": 1.0, "frozen": False}, "not a finite number"),
    ({"island_epoch": True, "real_epoch": 1.0, "rate": 1.0, "frozen": False}, "not a finite number"),
    ({"island_epoch": float("nan"), "real_epoch": 1.0, "rate": 1.0, "frozen": False}, "not a finite number"),
    ({"island_epoch": 1.0, "real_epoch": float("inf"), "rate": 1.0, "frozen": False}, "not a finite number"),
    ({"island_epoch": 1.0, "real_epoch": -5, "rate": 1.0, "frozen": False}, "before 1970"),
    ({"island_epoch": -1.0, "real_epoch": 1.0, "rate": 1.0, "frozen": False}, "outside 1970"),
    ({"island_epoch": LATEST + 1, "real_epoch": 1.0, "rate": 1.0, "frozen": False}, "2038-01-19 03:14:08 UTC"),
    ({"island_epoch": 1.0, "real_epoch": 1.0, "rate": 0, "frozen": False}, "out of range"),
    ({"island_epoch": 1.0, "real_epoch": 1.0, "rate": -1, "frozen": False}, "out of range"),
    ({"island_epoch": 1.0, "real_epoch": 1.0, "rate": 1e9, "frozen": False}, "out of range"),
    ({"island_epoch": 1.0, "real_epoch": 1.0, "rate": float("nan"), "frozen": False}, "not a number"),
    ({"island_epoch": 1.0, "real_epoch": 1.0, "rate": "10", "frozen": False}, "not a number"),
    ({"island_epoch": 1.0, "real_epoch": 1.0, "rate": 1.0, "frozen": "yes"}, "true or false"),
    ({"island_epoch": 1.0, "real_epoch": 1.0, "rate": 1.0, "frozen": 1}, "true or false"),
])
def test_from_dict_is_strict(data, words):
    with pytest.raises(ClockError) as caught:
        ClockState.from_dict(data)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_rate_bounds_are_inclusive():
    assert ClockState(1, 1, MIN_RATE).rate == MIN_RATE
    assert ClockState(1, 1, MAX_RATE).rate == MAX_RATE
    with pytest.raises(ClockError):
        ClockState(1, 1, MAX_RATE + 0.001)
    assert ClockState(LATEST, 1).island_epoch == LATEST
    assert ClockState(EARLIEST, 1).island_epoch == EARLIEST


def test_overflows_at():
    state = ClockState(LATEST - 1000, REAL, rate=10)
    assert state.overflows_at() == REAL + 100
    assert ClockState(ISLAND, REAL, frozen=True).overflows_at() is None


def test_describe():
    assert ClockState(ISLAND, REAL).describe(REAL) == "reads 2021-09-18 04:59:50"
    assert ClockState(ISLAND, REAL, 10).describe(REAL + 1) == "reads 2021-09-18 05:00:00, running x10"
    assert ClockState(ISLAND, REAL, frozen=True).describe(REAL + 99) == "reads 2021-09-18 04:59:50, frozen"
    assert ClockState(ISLAND, REAL, 0.5, True).describe(REAL) == "reads 2021-09-18 04:59:50, frozen (x0.5 on resume)"


def test_format_reading_floors_to_whole_seconds():
    assert format_reading(ISLAND + 0.999) == "2021-09-18 04:59:50"


def test_initial_state():
    assert initial_state("", REAL) == ClockState.real(REAL)
    state = initial_state("2021-09-18 04:59:50", REAL)
    assert state.island_at(REAL + 10) == ISLAND + 10
    with pytest.raises(ClockError, match="after 2038"):
        initial_state("2039-01-01 00:00:00", REAL)
