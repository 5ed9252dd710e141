"""The tracker's loops, run turn by turn: a real MariaDB store (tests/fixtures/db.py), the cluster
side from island_ssh.testing.fakes, and clocks the test moves, so nothing here sleeps or waits
for a thread."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from island_ssh.core.settings import IslandSettings, TrackerSettings
from island_ssh.kube.tracker import GENERATION_LABEL, Tracker
from island_ssh.store import hash_token
from island_ssh.testing.fakes import FakeKubectl, ManualClock

PODS = Path(__file__).resolve().parent.parent / "core" / "pods"
ISLANDS = IslandSettings(id_min=1, id_max=50, ready_timeout=180.0)
NO_BACKOFF = TrackerSettings(restart_backoff=0.0, restart_backoff_max=0.0)


def applied_island(store, owner: str = "刘电波"):
    row = store.allocate(owner, "dev", lambda i: f"altraserver-{i}", {}, hash_token("t"), ISLANDS)
    assert store.transition(row.island_id, row.generation, "applying", "Applying", "")
    return store.get(row.island_id)


def pod_of(row, step: str) -> dict:
    """The fixture pod ``step`` (tests/core/pods) as the pod of ``row``."""
    pod = copy.deepcopy(json.loads((PODS / f"{step}.json").read_text()))
    pod["metadata"]["name"] = row.pod_name
    pod["metadata"]["labels"].update({"island-ssh/id": str(row.island_id), GENERATION_LABEL: str(row.generation)})
    return pod


def watch_line(row, step: str, event_type: str = "MODIFIED") -> str:
    return json.dumps({"type": event_type, "object": pod_of(row, step)}, ensure_ascii=False)


def tracker(store, kubectl, **clocks) -> Tracker:
    return Tracker(kubectl, store, ISLANDS, NO_BACKOFF, **clocks)


def test_run_with_iterations_follows_that_many_watches_and_returns(fresh_store):
    row = applied_island(fresh_store)
    kubectl = FakeKubectl()
    kubectl.set_pod(pod_of(row, "pending"))
    for step in ("pending", "starting_side_ready", "ready"):  # three watches, each ends after one line
        kubectl.script_watch([watch_line(row, step)])
    followed = tracker(fresh_store, kubectl, clock=ManualClock(), wall_clock=ManualClock(row.created_at.timestamp()))
    followed.run(iterations=2)
    assert followed.watches == 2 and kubectl.verbs.count("watch_pods") == 2
    assert [s.closed for s in kubectl.shell.streams] == [True, True]
    assert fresh_store.get(row.island_id).state == "starting"  # the third watch's `ready` never came
    assert not followed.acting.is_set()
    with fresh_store.named_lock(NO_BACKOFF.lock_name) as free_again:
        assert free_again


def test_a_turn_that_finds_the_lock_taken_counts_and_no_pause_follows_the_last(fresh_store):
    held = fresh_store.lock(NO_BACKOFF.lock_name)
    assert held.acquire()
    try:
        kubectl = FakeKubectl()
        waiting = tracker(fresh_store, kubectl)
        waiting.run(iterations=1)  # returns at once, not after the 2 s between attempts
        assert waiting.watches == 0 and kubectl.calls == [] and not waiting.acting.is_set()
    finally:
        held.release()


def test_run_watch_with_iterations_reads_that_many_times(fresh_store):
    row = applied_island(fresh_store)
    kubectl = FakeKubectl()
    kubectl.set_pod(pod_of(row, "pending"))
    tracker(fresh_store, kubectl, clock=ManualClock()).run_watch(iterations=3)
    (stream,) = kubectl.shell.streams
    assert stream.reads == 1 + 3 and stream.closed  # the first line's wait, then three turns
    assert fresh_store.get(row.island_id).state == "pending"  # from the watch's opening ADDED line


def test_a_silent_watch_is_restarted_once_the_clock_passes_stale_after(fresh_store):
    clock = ManualClock()
    kubectl = FakeKubectl()
    silent = tracker(fresh_store, kubectl, clock=clock)
    silent.run_watch(iterations=5)
    assert kubectl.shell.streams[0].reads == 1 + 5  # still following: no time has passed
    clock.step = NO_BACKOFF.stale_after + 1  # every reading now moves the clock past stale_after
    silent.run_watch(iterations=5)
    assert kubectl.shell.streams[1].reads == 1 + 1 and kubectl.shell.streams[1].closed  # gave up on the first turn


def test_the_readiness_timeout_fires_when_the_injected_wall_clock_passes_it(fresh_store):
    row = applied_island(fresh_store)
    kubectl = FakeKubectl()
    kubectl.set_pod(pod_of(row, "pending"))
    wall = ManualClock(row.created_at.timestamp() + 10)
    following = tracker(fresh_store, kubectl, clock=ManualClock(), wall_clock=wall)
    following.run_watch(iterations=1)
    assert fresh_store.get(row.island_id).state == "pending"  # 10 s after apply, of 180
    wall.advance(ISLANDS.ready_timeout - 10 - 1)
    following.run_watch(iterations=1)
    assert fresh_store.get(row.island_id).state == "pending"  # 1 s to go
    announced = following.subscribe()
    wall.advance(1)
    following.run_watch(iterations=1)
    timed_out = fresh_store.get(row.island_id)
    assert timed_out.state == "timeout" and "180 s after apply" in timed_out.message
    assert announced.get_nowait().at == wall()  # announcements carry the injected wall time too
