"""The islands' clocks in MySQL (store/clocks.py, migrations/0005) on a real MariaDB: the current
state with its proof, the append-only history, the restart carry, and timeline steps claimed by
exactly one of several racing processes."""

from __future__ import annotations

import threading

import pytest

from island_ssh.core.errors import InvalidInput
from island_ssh.core.settings import IslandSettings
from island_ssh.store import Store, hash_token
from island_ssh.store.clocks import ActorRef, Proof

SETTINGS = IslandSettings(id_min=1, id_max=40)
ALICE = ActorRef("user", "u-1", "刘电波")
STATE = {"island_epoch": 1631926790.0, "real_epoch": 1764700000.0, "rate": 1.0, "frozen": False}


def ready_island(store, owner="tester"):
    row = store.allocate(owner, "dev", lambda i: f"island-{i}", {}, hash_token("t"), SETTINGS, owner_id=owner)
    assert store.transition(row.island_id, row.generation, "ready", "Ready", "")
    return store.get(row.island_id)


def change(store, row, **over):
    fields = dict(state=STATE, setting="2021-09-18 04:59:50", actor=ALICE, source="user",
                  request="2021-09-18 04:59:50", offset_seconds=-132773210.0, server_start=1764699990.5,
                  proof=Proof(asked_epoch=1631926790.0, read_epoch=1631926790.4, read_diff=0.4,
                              read_real_at=1764700000.0))
    fields.update(over)
    return store.record_clock_change(row.island_id, row.generation, **fields)


def test_a_change_stores_state_proof_history_columns_and_an_event_in_one_commit(store):
    row = ready_island(store)
    assert change(store, row, event_message="clock 2021-09-18 04:59:50 by 刘电波 (u-1)")
    record = store.clock(row.island_id)
    assert (record.generation, record.state, record.setting_text) == (row.generation, STATE, "2021-09-18 04:59:50")
    assert (record.set_by.id, record.set_by.name, record.anchor) == ("u-1", "刘电波", "real")
    assert (record.asked_epoch, record.read_epoch, record.read_diff) == (1631926790.0, 1631926790.4, 0.4)
    assert record.server_start == 1764699990.5 and record.proved_at == record.set_at
    island = store.get(row.island_id)
    assert (island.clock_offset_seconds, island.clock_setting) == (-132773210.0, "2021-09-18 04:59:50")
    (entry,) = store.clock_history(row.island_id)
    assert (entry.ok, entry.source, entry.actor.label(), entry.read_diff) == (True, "user", "刘电波 (u-1)", 0.4)
    event = store.events(row.island_id)[-1]
    assert (event.reason, event.from_state, event.to_state) == ("ClockChanged", "ready", "ready")
    assert "刘电波 (u-1)" in event.message


def test_a_failure_is_history_and_an_event_and_leaves_the_clock_as_it_was(store):
    row = ready_island(store)
    assert change(store, row)
    before = store.clock(row.island_id)
    assert store.record_clock_failure(row.island_id, row.generation, actor=ALICE, source="preset",
                                      request="preset daily-reset", state={**STATE, "frozen": True},
                                      proof=Proof(1.0, 31.0, 30.0, 2.0), error="asked X, reads Y")
    assert store.clock(row.island_id) == before
    newest, older = store.clock_history(row.island_id)
    assert (newest.ok, newest.error, newest.read_diff, older.ok) == (False, "asked X, reads Y", 30.0, True)
    assert store.events(row.island_id)[-1].reason == "ClockNotTaken"


def test_a_stale_generation_records_nothing(store):
    old = ready_island(store)
    assert store.release(old.island_id, old.generation, "PodDeleted")
    new = ready_island(store)
    assert new.island_id == old.island_id
    assert not change(store, old)
    assert store.clock(new.island_id) is None or store.clock(new.island_id).generation != new.generation
    assert not store.record_clock_failure(old.island_id, old.generation, actor=ALICE, source="user", request="x",
                                          state=None, proof=None, error="e")


def test_a_restart_carries_the_clock_and_active_timelines_in_its_commit(store):
    row = ready_island(store)
    assert change(store, row)
    live = store.add_timeline(row.island_id, row.generation, actor=ALICE, request="at +1h freeze",
                              steps=[{"at_seconds": 3600, "command": "freeze"}], started_at=1e9)
    new = store.restart_queued(row.island_id, row.generation, hash_token("t2"), "applier-x")
    record = store.clock(row.island_id)
    assert (record.generation, record.state, record.server_start) == (new.generation, STATE, None)
    assert store.timeline(live).generation == new.generation


def test_a_new_island_on_a_released_id_does_not_take_the_old_clock(store):
    row = ready_island(store)
    assert change(store, row)
    assert store.release(row.island_id, row.generation, "Deleted")
    again = ready_island(store)
    assert again.island_id == row.island_id
    assert store.clock(again.island_id).generation == row.generation != again.generation


def test_start_anchored_state_is_moved_at_registration_then_made_exact_by_the_probe(store):
    row = ready_island(store)
    assert store.set_initial_clock(row.island_id, row.generation, state=STATE, setting="2021-09-18 04:59:50",
                                   actor=ALICE, anchor="start", request="launch with start time 2021-09-18 04:59:50")
    moved = {**STATE, "real_epoch": STATE["real_epoch"] + 3.0}
    assert store.anchor_clock(row.island_id, row.generation, moved)
    assert store.clock(row.island_id).state == moved
    exact = {**STATE, "real_epoch": STATE["real_epoch"] + 3.2}
    assert store.learn_server_start(row.island_id, row.generation, exact["real_epoch"], exact)
    record = store.clock(row.island_id)
    assert (record.state, record.anchor, record.server_start) == (exact, "real", exact["real_epoch"])
    # anchored on real time now: a later registration (a retry) moves nothing
    assert not store.anchor_clock(row.island_id, row.generation, moved)
    assert [h.source for h in store.clock_history(row.island_id)] == ["launch"]


def test_each_timeline_step_is_claimed_by_exactly_one_of_many_racers(store):
    row = ready_island(store)
    steps = [{"at_seconds": 0, "command": "2021-09-18 04:59:50"}, {"at_seconds": 60, "command": "+1h"},
             {"at_seconds": 120, "command": "freeze"}]
    timeline = store.add_timeline(row.island_id, row.generation, actor=ALICE, request="three steps", steps=steps,
                                  started_at=1000.0)
    assert store.next_timeline_due() <= 1000.0
    assert [t.id for t in store.due_timelines(1000.0)] == [timeline]
    assert store.due_timelines(999.0) == [] or timeline not in [t.id for t in store.due_timelines(999.0)]
    stores = [Store(store.settings) for _ in range(8)]
    try:
        for step in range(3):
            wins, start = [], threading.Barrier(len(stores))

            def race(s, step=step):
                start.wait()
                if s.claim_timeline_step(timeline, step):
                    wins.append(s)

            threads = [threading.Thread(target=race, args=(s,)) for s in stores]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert len(wins) == 1, f"step {step}: {len(wins)} winners"
            got = store.timeline(timeline)
            assert got.next_step == step + 1
            if step < 2:
                assert got.state == "active" and got.next_due == 1000.0 + steps[step + 1]["at_seconds"]
    finally:
        for s in stores:
            s.close()
    done = store.timeline(timeline)
    assert (done.state, done.next_due) == ("done", None) and done.ended_at is not None
    assert not store.claim_timeline_step(timeline, 3)
    assert timeline not in [t.id for t in store.due_timelines(1e12)]


def test_cancel_ends_only_an_active_timeline_and_leaves_an_event(store):
    row = ready_island(store)
    timeline = store.add_timeline(row.island_id, row.generation, actor=ALICE, request="at +1h freeze",
                                  steps=[{"at_seconds": 3600, "command": "freeze"}], started_at=1e9)
    assert store.events(row.island_id)[-1].reason == "ClockTimelineStarted"
    assert store.end_timeline(timeline, "cancelled", expected=("active",), event=("ClockTimelineCancelled", "by u-1"))
    assert not store.end_timeline(timeline, "cancelled", expected=("active",))
    assert not store.claim_timeline_step(timeline, 0)
    assert store.timeline(timeline).state == "cancelled"
    assert store.events(row.island_id)[-1].reason == "ClockTimelineCancelled"
    assert [t.id for t in store.timelines(row.island_id, active_only=True)] == []


@pytest.mark.parametrize("text", ["O'Brien \"q\"", "$(touch /tmp/pwned)", "a\nb: [c", "刘电波🙂", "{{x}}"])
def test_hostile_requests_and_names_are_stored_as_data(store, text):
    row = ready_island(store)
    actor = ActorRef("user", text, text)
    assert change(store, row, request=text, actor=actor, setting=text)
    entry = store.clock_history(row.island_id)[0]
    assert (entry.request, entry.actor.id, entry.actor.name) == (text, text, text)
    assert store.get(row.island_id).clock_setting == text


def test_a_huge_setting_is_refused_with_one_line_and_a_huge_request_is_cut(store):
    row = ready_island(store)
    with pytest.raises(InvalidInput, match=r"^clock setting: 300 characters, at most 255 allowed$"):
        change(store, row, setting="x" * 300)
    assert change(store, row, request="y" * 100_000)
    assert len(store.clock_history(row.island_id)[0].request) == 255
