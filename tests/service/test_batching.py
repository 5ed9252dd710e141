"""GroupCommit and SingleFlight with real threads; every wait is on a condition with a timeout."""

from __future__ import annotations

import threading

import pytest

from island_ssh.service.batching import GroupCommit, SingleFlight
from island_ssh.testing.waiting import wait_for


def start(target, *args):
    box: dict = {}

    def run():
        try:
            box["value"] = target(*args)
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


class Gate:
    """run_batch that records each batch and holds the first one until released."""

    def __init__(self, fail=lambda item: None) -> None:
        self.batches: list[list] = []
        self.release = threading.Event()
        self.running = threading.Event()
        self.fail = fail

    def __call__(self, items):
        self.batches.append(list(items))
        self.running.set()
        assert self.release.wait(10)
        return [self.fail(item) for item in items]


def test_a_lone_caller_runs_its_own_batch_at_once():
    gate = Gate()
    gate.release.set()
    group = GroupCommit(gate)
    group.submit("a")
    group.submit("b")
    assert gate.batches == [["a"], ["b"]] and group.batches == 2


def test_callers_arriving_during_a_batch_share_the_next_one():
    gate = Gate()
    group = GroupCommit(gate)
    first, _ = start(group.submit, 0)
    assert gate.running.wait(10)
    others = [start(group.submit, i) for i in range(1, 21)]
    wait_for(lambda: group.queued == 20, 10, "20 callers queued behind the running batch")
    gate.release.set()
    for thread, box in [(first, {})] + others:
        thread.join(10)
        assert not thread.is_alive() and "error" not in box
    assert gate.batches[0] == [0]
    assert sorted(gate.batches[1]) == list(range(1, 21)) and len(gate.batches) == 2


def test_each_caller_gets_its_own_outcome():
    gate = Gate(fail=lambda item: ValueError(f"bad {item}") if item % 2 else None)
    group = GroupCommit(gate)
    first, first_box = start(group.submit, 0)
    assert gate.running.wait(10)
    others = {i: start(group.submit, i) for i in range(1, 7)}
    wait_for(lambda: group.queued == 6, 10, "callers queued")
    gate.release.set()
    first.join(10)
    assert "error" not in first_box
    for i, (thread, box) in others.items():
        thread.join(10)
        if i % 2:
            assert isinstance(box.get("error"), ValueError) and str(box["error"]) == f"bad {i}"
        else:
            assert "error" not in box


def test_a_batch_that_raises_fails_every_caller_in_it_and_the_next_batch_still_runs():
    calls = []

    def run(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise ConnectionError("master unreachable")
        return [None] * len(items)

    group = GroupCommit(run)
    with pytest.raises(ConnectionError, match="unreachable"):
        group.submit("x")
    group.submit("y")
    assert calls == [["x"], ["y"]]


def test_max_batch_splits_a_long_queue():
    gate = Gate()
    group = GroupCommit(gate, max_batch=4)
    first, _ = start(group.submit, -1)
    assert gate.running.wait(10)
    others = [start(group.submit, i) for i in range(10)]
    wait_for(lambda: group.queued == 10, 10, "callers queued")
    gate.release.set()
    for thread, box in others:
        thread.join(10)
        assert "error" not in box
    assert [len(b) for b in gate.batches] == [1, 4, 4, 2]


def test_a_wrong_number_of_outcomes_is_an_error_for_everyone():
    group = GroupCommit(lambda items: [])
    with pytest.raises(RuntimeError, match="0 outcomes for 1 items"):
        group.submit("x")


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError):
        GroupCommit(lambda items: [None] * len(items), max_batch=0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_single_flight_shares_one_fetch_among_concurrent_callers():
    release, started = threading.Event(), threading.Event()
    fetched = []

    def fetch():
        fetched.append(1)
        started.set()
        assert release.wait(10)
        return {"pods": len(fetched)}

    flight = SingleFlight(fetch, ttl=60)
    callers = [start(flight.get) for _ in range(8)]
    assert started.wait(10)
    release.set()
    for thread, box in callers:
        thread.join(10)
        assert box["value"] == {"pods": 1}
    assert flight.fetches == 1 and len(fetched) == 1


def test_single_flight_keeps_a_result_for_ttl_then_fetches_again():
    clock, n = Clock(), iter(range(100))
    flight = SingleFlight(lambda: next(n), ttl=2.0, clock=clock)
    assert flight.get() == 0
    clock.now += 1.9
    assert flight.get() == 0
    clock.now += 0.2
    assert flight.get() == 1
    flight.forget()
    assert flight.get() == 2 and flight.fetches == 3


def test_single_flight_does_not_keep_a_failure():
    outcomes = iter([OSError("listing failed"), "fine"])

    def fetch():
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value
        return value

    flight = SingleFlight(fetch, ttl=60)
    with pytest.raises(OSError, match="listing failed"):
        flight.get()
    assert flight.get() == "fine"


def test_callers_waiting_on_a_failed_fetch_get_its_error():
    release, started = threading.Event(), threading.Event()

    def fetch():
        started.set()
        assert release.wait(10)
        raise TimeoutError("kubectl timed out")

    flight = SingleFlight(fetch, ttl=60)
    leader = start(flight.get)
    assert started.wait(10)
    follower = start(flight.get)
    wait_for(lambda: flight._flight is not None, 5, "the flight in the air")
    release.set()
    for thread, box in (leader, follower):
        thread.join(10)
        assert isinstance(box.get("error"), TimeoutError)


def test_submit_nowait_returns_at_once_and_a_worker_runs_the_batch():
    gate = Gate(fail=lambda item: RuntimeError(f"apply of {item} failed") if item == "bad" else None)
    dropped = []
    group = GroupCommit(gate, on_dropped=lambda item, exc: dropped.append((item, str(exc))))
    group.submit_nowait("first")  # returns while its batch is held
    assert gate.running.wait(10)
    group.submit_nowait("bad")
    waiter, box = start(group.submit, "waited")
    wait_for(lambda: group.queued == 2, 10, "two queued behind the worker's batch")
    gate.release.set()
    waiter.join(10)
    assert not waiter.is_alive() and "error" not in box
    wait_for(lambda: dropped, 10, "the background failure reported")
    assert dropped == [("bad", "apply of bad failed")]
    assert gate.batches == [["first"], ["bad", "waited"]]


def test_a_waiter_queued_behind_background_items_is_led_by_a_worker():
    gate = Gate()
    group = GroupCommit(gate, max_batch=1)
    group.submit_nowait("a")
    assert gate.running.wait(10)
    group.submit_nowait("b")
    waiter, box = start(group.submit, "c")
    wait_for(lambda: group.queued == 2, 10, "b and c queued")
    gate.release.set()
    waiter.join(10)
    assert not waiter.is_alive() and "error" not in box
    assert gate.batches == [["a"], ["b"], ["c"]]
