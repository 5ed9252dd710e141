"""The tracker's batched path on a real MariaDB: watch lines that arrive together share one read
and one transaction, and end in exactly the rows and histories that one line at a time gives."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from island_ssh.core.settings import IslandSettings, TrackerSettings
from island_ssh.store import hash_token
from island_ssh.kube.tracker import GENERATION_LABEL, Tracker
from island_ssh.testing.fakes import FakeKubectl

PODS = Path(__file__).resolve().parent.parent / "core" / "pods"
SETTINGS = IslandSettings(id_min=1, id_max=50)
STEPS = ["pending", "container_creating", "starting_side_ready", "ready", "server_exit3"]


def fixture(name: str) -> dict:
    return json.loads((PODS / f"{name}.json").read_text())


def applied_island(store, owner: str):
    row = store.allocate(owner, "dev", lambda i: f"altraserver-{i}", {}, hash_token("t"), SETTINGS)
    assert store.transition(row.island_id, row.generation, "applying", "Applying", "")
    return store.get(row.island_id)


def line(row, step: str, event_type: str = "MODIFIED") -> str:
    pod = copy.deepcopy(fixture(step))
    pod["metadata"]["name"] = row.pod_name
    pod["metadata"]["labels"].update({"island-ssh/id": str(row.island_id), GENERATION_LABEL: str(row.generation)})
    return json.dumps({"type": event_type, "object": pod}, ensure_ascii=False)


class CountingStore:
    """The real store, counting the write transactions the tracker asks for."""

    def __init__(self, store, before_batch=None) -> None:
        self._store, self.batches, self._before = store, [], before_batch

    def transition_batch(self, moves):
        self.batches.append(len(moves))
        if self._before is not None:
            self._before(moves)
        return self._store.transition_batch(moves)

    def __getattr__(self, name):
        return getattr(self._store, name)


def tracker(store) -> Tracker:
    return Tracker(kubectl=FakeKubectl(), store=store, islands=SETTINGS, settings=TrackerSettings())


def history(store, island_id):
    return [(e.from_state, e.to_state, e.reason) for e in store.events(island_id)]


def test_a_burst_is_one_transaction_with_the_same_outcome_as_line_by_line(fresh_store):
    batched = [applied_island(fresh_store, f"batch{i}") for i in range(3)]
    single = [applied_island(fresh_store, f"single{i}") for i in range(3)]
    burst = [line(row, step) for step in STEPS for row in batched]  # interleaved islands
    burst.insert(4, "{not json")  # skipped and logged, the rest still handled
    counting = CountingStore(fresh_store)
    seen = tracker(counting)
    announced = seen.subscribe()
    seen.handle_lines(burst)
    assert counting.batches == [len(STEPS) * 3]  # every step is a transition, all in one commit
    one_by_one = tracker(fresh_store)
    for step in STEPS:
        for row in single:
            one_by_one.handle_line(line(row, step))
    for b, s in zip(batched, single):
        assert fresh_store.get(b.island_id).state == fresh_store.get(s.island_id).state == "failed"
        assert history(fresh_store, b.island_id) == history(fresh_store, s.island_id)
    assert seen.kubectl.calls == one_by_one.kubectl.calls == []  # lines only: no listing, no kubectl
    announcements = [announced.get_nowait() for _ in range(announced.qsize())]
    assert [(a.island_id, a.to_state) for a in announcements] == [
        (row.island_id, fresh_store.events(row.island_id)[k + 2].to_state) for k in range(len(STEPS)) for row in batched]


def test_a_move_refused_in_the_batch_gets_its_island_judged_again(fresh_store):
    kept, raced = applied_island(fresh_store, "kept"), applied_island(fresh_store, "刘电波")

    def another_writer_moves_it_meanwhile(moves):
        if len(counting.batches) == 1:  # e.g. a relist of a previous tracker, just before our commit
            assert fresh_store.transition(raced.island_id, raced.generation, "pending", "Pending", "elsewhere")

    counting = CountingStore(fresh_store, another_writer_moves_it_meanwhile)
    tracker(counting).handle_lines([line(raced, "container_creating"), line(kept, "container_creating"),
                                    line(raced, "starting_side_ready"), line(kept, "ready")])
    assert fresh_store.get(kept.island_id).state == "ready"
    # applying -> creating was refused (the row was pending by then); judged as if it had happened,
    # the next event would be creating -> starting and refused too. Judged again against the row
    # as it is, it is pending -> starting.
    assert [t for _, t, _ in history(fresh_store, raced.island_id)] == ["allocated", "applying", "pending", "starting"]
    assert counting.batches == [4, 1]


def test_events_for_rows_that_are_gone_or_of_another_generation_change_nothing(fresh_store):
    row = applied_island(fresh_store, "gen")
    stale = dataclasses.replace(row, generation=row.generation + 1)
    counting = CountingStore(fresh_store)
    tracker(counting).handle_lines([line(stale, "ready"), "{\"type\": \"BOOKMARK\", \"object\": {}}"])
    assert counting.batches == [] and fresh_store.get(row.island_id).state == "applying"
