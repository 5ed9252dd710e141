"""transition/release/set_clock/update_overrides and the reads, on a real MariaDB."""

from __future__ import annotations

import pytest

from island_ssh.core.settings import IslandSettings
from island_ssh.core.errors import InvalidInput
from island_ssh.store import hash_token

SETTINGS = IslandSettings(id_min=1, id_max=50)


def new_island(store, owner="tester", branch="dev"):
    return store.allocate(owner, branch, lambda i: f"island-{i}", {"memory": "2Gi"}, hash_token("t"), SETTINGS)


def test_transition_writes_row_and_event_together(fresh_store):
    row = new_island(fresh_store)
    assert fresh_store.transition(row.island_id, row.generation, "applying", "Applying", "kubectl apply")
    assert fresh_store.transition(row.island_id, row.generation, "creating", "ContainerCreating", "",
                                  node="node-dev-1", host_ip="10.0.0.7", resource_version=1234)
    assert fresh_store.transition(row.island_id, row.generation, "ready", "Ready", "server up", resource_version=1240)
    now = fresh_store.get(row.island_id)
    assert (now.state, now.reason, now.message, now.node, now.host_ip, now.resource_version) == (
        "ready", "Ready", "server up", "node-dev-1", "10.0.0.7", 1240)
    assert now.ready_at == now.state_since >= now.created_at
    history = fresh_store.events(row.island_id)
    assert [(e.from_state, e.to_state) for e in history] == [
        (None, "allocated"), ("allocated", "applying"), ("applying", "creating"), ("creating", "ready")]
    assert history[-1].at == now.updated_at and history[-1].resource_version == 1240


def test_a_stale_generation_is_refused_and_changes_nothing(fresh_store):
    old = new_island(fresh_store)
    assert fresh_store.release(old.island_id, old.generation, "PodDeleted")
    new = new_island(fresh_store)
    assert (new.island_id, new.generation) == (old.island_id, old.generation + 1)
    before = fresh_store.events(new.island_id)
    # a late event about the first pod must not touch the island that reuses its id
    assert not fresh_store.transition(old.island_id, old.generation, "failed", "Error", "old pod died")
    assert not fresh_store.release(old.island_id, old.generation, "PodDeleted")
    assert not fresh_store.set_clock(old.island_id, old.generation, 3600, "+1h")
    assert fresh_store.get(new.island_id).state == "allocated"
    assert fresh_store.events(new.island_id) == before


def test_expected_from_guards_the_transition(fresh_store):
    row = new_island(fresh_store)
    assert not fresh_store.transition(row.island_id, row.generation, "ready", "Ready", "", expected_from="starting")
    assert fresh_store.transition(row.island_id, row.generation, "applying", "Applying", "",
                                  expected_from=("allocated", "lost"))
    assert fresh_store.get(row.island_id).state == "applying"


def test_deleted_is_final_for_its_generation(fresh_store):
    row = new_island(fresh_store)
    assert fresh_store.release(row.island_id, row.generation, "PodDeleted", "confirmed gone")
    gone = fresh_store.get(row.island_id)
    assert gone.state == "deleted" and gone.deleted_at is not None
    assert not fresh_store.transition(row.island_id, row.generation, "ready", "Ready", "")
    assert fresh_store.get(row.island_id).state == "deleted"
    assert row.island_id not in {r.island_id for r in fresh_store.active()}


def test_a_repeated_observation_records_no_new_event(fresh_store):
    row = new_island(fresh_store)
    for rv in (10, 11, 12):
        assert fresh_store.transition(row.island_id, row.generation, "pending", "Pending", "", resource_version=rv)
    assert len(fresh_store.events(row.island_id)) == 2
    assert fresh_store.get(row.island_id).resource_version == 12


def test_unknown_ids_and_states(fresh_store):
    assert fresh_store.get(49) is None  # a free slot is not an island
    assert not fresh_store.transition(49, 0, "ready", "Ready", "")
    assert not fresh_store.transition(12345, 1, "ready", "Ready", "")
    with pytest.raises(InvalidInput, match="state 'Running' is not one of"):
        fresh_store.transition(1, 1, "Running", "", "")


def test_long_kubernetes_text_is_kept_or_truncated_never_refused(fresh_store):
    row = new_island(fresh_store)
    message = "0/3 nodes are available: 3 Insufficient memory. 🏝 " * 2000  # ~100 KB
    assert fresh_store.transition(row.island_id, row.generation, "unschedulable", "Unschedulable", message)
    assert fresh_store.get(row.island_id).message == message
    huge = "x" * 400_000
    assert fresh_store.transition(row.island_id, row.generation, "failed", "R" * 300, huge)
    stored = fresh_store.get(row.island_id)
    assert stored.message.endswith("[truncated]") and len(stored.message) == 256 * 1024
    assert len(stored.reason) == 255


def test_clock_and_overrides(fresh_store):
    row = new_island(fresh_store)
    assert fresh_store.set_clock(row.island_id, row.generation, 86400.0, "+1d")
    assert fresh_store.update_overrides(row.island_id, row.generation, {"image": "game:7", "memory": None})
    now = fresh_store.get(row.island_id)
    assert (now.clock_offset_seconds, now.clock_setting) == (86400.0, "+1d")
    assert now.overrides == {"image": "game:7"}
    assert fresh_store.events(row.island_id)[-1].reason == "ClockChanged"
    assert fresh_store.set_clock(row.island_id, row.generation, None, "@2021-09-18 23:30:07")
    assert fresh_store.get(row.island_id).clock_offset_seconds is None


def test_list_filters_and_active(fresh_store):
    a = new_island(fresh_store, owner="刘电波", branch="dev")
    b = new_island(fresh_store, owner="alice", branch="weekly")
    c = new_island(fresh_store, owner="alice", branch="dev")
    fresh_store.transition(b.island_id, b.generation, "ready", "Ready", "")
    fresh_store.release(c.island_id, c.generation, "PodDeleted")
    ids = lambda rows: [r.island_id for r in rows]  # noqa: E731
    assert ids(fresh_store.list()) == [a.island_id, b.island_id, c.island_id]
    assert ids(fresh_store.list(owner="alice")) == [b.island_id, c.island_id]
    assert ids(fresh_store.list(owner="alice", branch="dev")) == [c.island_id]
    assert ids(fresh_store.list(states=["ready", "allocated"])) == [a.island_id, b.island_id]
    assert ids(fresh_store.list(states=[])) == []
    assert ids(fresh_store.active()) == [a.island_id, b.island_id]
    assert [e.to_state for e in fresh_store.events(c.island_id, generation=c.generation, limit=1)] == ["deleted"]


def test_transition_many_moves_each_island_in_one_transaction_and_respects_guards(fresh_store):
    rows = [new_island(fresh_store, owner=f"batch{i}") for i in range(4)]
    stale = rows[3]
    assert fresh_store.release(stale.island_id, stale.generation, "PodDeleted")
    moved = fresh_store.transition_many([(r.island_id, r.generation) for r in rows], "applying", "Applying",
                                        "batch apply", expected_from="allocated")
    assert moved == [True, True, True, False]
    got = fresh_store.get_many([r.island_id for r in rows] + [49])
    assert [g.state for g in got[:4]] == ["applying"] * 3 + ["deleted"] and got[4] is None
    for row in rows[:3]:
        assert [e.to_state for e in fresh_store.events(row.island_id)] == ["allocated", "applying"]


def test_transition_many_refuses_a_bad_id_before_touching_any(fresh_store):
    row = new_island(fresh_store)
    with pytest.raises(InvalidInput):
        fresh_store.transition_many([(row.island_id, row.generation), (-1, 1)], "applying", "Applying", "")
    assert fresh_store.get(row.island_id).state == "allocated"


def test_transition_batch_is_one_transaction_whose_moves_see_each_other(fresh_store):
    from island_ssh.store import Move
    a, b = new_island(fresh_store), new_island(fresh_store, owner="刘电波")
    outcomes = fresh_store.transition_batch([
        Move(a.island_id, a.generation, "applying", "Applying", "", expected_from="allocated"),
        Move(b.island_id, b.generation + 7, "applying", "Applying", ""),  # another generation: refused
        Move(a.island_id, a.generation, "creating", "ContainerCreating", "", node="node-dev-1",
             expected_from="applying"),  # sees the first move of the batch
        Move(b.island_id, b.generation, "ready", "Ready", "", expected_from="creating"),  # b is allocated
    ])
    assert outcomes == [True, False, True, False]
    assert (fresh_store.get(a.island_id).state, fresh_store.get(a.island_id).node) == ("creating", "node-dev-1")
    assert [(e.from_state, e.to_state) for e in fresh_store.events(a.island_id)] == [
        (None, "allocated"), ("allocated", "applying"), ("applying", "creating")]
    assert fresh_store.get(b.island_id).state == "allocated" and len(fresh_store.events(b.island_id)) == 1
    assert fresh_store.transition_batch([]) == []


def test_transition_batch_rolls_back_whole_on_bad_input(fresh_store):
    from island_ssh.store import Move
    a = new_island(fresh_store)
    with pytest.raises(InvalidInput):
        fresh_store.transition_batch([Move(a.island_id, a.generation, "applying", "Applying", ""),
                                      Move(a.island_id, a.generation, "no-such-state", "X", "")])
    assert fresh_store.get(a.island_id).state == "allocated"  # the first move went with the second
