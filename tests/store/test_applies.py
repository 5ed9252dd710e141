"""The durable launch queue (store/applies.py) on a real MariaDB: a row queued under a process's
named lock is that process's while the lock is held, anyone's to resume once it is free, and
taking it for kubectl and taking it over exclude each other."""

from __future__ import annotations

from island_ssh.core.settings import IslandSettings
from island_ssh.store import hash_token

SETTINGS = IslandSettings(id_min=1, id_max=50)


def queued(store, lock, owner="tester"):
    row = store.allocate(owner, "dev", lambda i: f"island-{i}", {"memory": "2Gi"}, hash_token("t"), SETTINGS)
    assert store.queue_applies([(row.island_id, row.generation)], lock.name) == [True]
    return store.get(row.island_id)


def test_a_queued_row_is_resumable_only_once_its_process_lock_is_free(fresh_store):
    lock = fresh_store.lock("island_ssh.applier.test1")
    assert lock.acquire()
    row = queued(fresh_store, lock)
    assert (row.state, row.applier) == ("applying", lock.name)
    assert fresh_store.orphaned_applies() == []
    # while its process lives nobody takes it, not even recover past stuck_after
    assert fresh_store.adopt_apply(row.island_id, row.generation, hash_token("t2"), "other", "Reapplied", "",
                                   unqueued_ok=True) is None
    lock.release()  # the process died: MySQL dropped its lock
    assert [r.island_id for r in fresh_store.orphaned_applies()] == [row.island_id]
    taken = fresh_store.adopt_apply(row.island_id, row.generation, hash_token("t2"), "other", "Reapplied", "again")
    assert (taken.state, taken.applier, taken.token_hash, taken.generation) == (
        "applying", "other", hash_token("t2"), row.generation)
    # the dead process's worker, had it woken, could no longer take it for kubectl
    assert fresh_store.start_applies([(row.island_id, row.generation)], lock.name) == set()
    assert fresh_store.start_applies([(row.island_id, row.generation)], "other") == {(row.island_id, row.generation)}
    assert fresh_store.get(row.island_id).applier is None
    history = [(e.from_state, e.to_state, e.reason) for e in fresh_store.events(row.island_id)]
    assert history == [(None, "allocated", "Allocated"), ("allocated", "applying", "Applying"),
                       ("applying", "applying", "Reapplied")]


def test_a_row_taken_for_kubectl_is_no_longer_anyones_to_resume(fresh_store):
    lock = fresh_store.lock("island_ssh.applier.test2")
    assert lock.acquire()
    row = queued(fresh_store, lock)
    assert fresh_store.start_applies([(row.island_id, row.generation)], lock.name) == {(row.island_id, row.generation)}
    lock.release()
    assert fresh_store.orphaned_applies() == []
    # its kubectl ran: only recover, past stuck_after (unqueued_ok), applies it again
    assert fresh_store.adopt_apply(row.island_id, row.generation, hash_token("t2"), "x", "Reapplied", "") is None
    assert fresh_store.adopt_apply(row.island_id, row.generation, hash_token("t2"), "x", "Reapplied", "",
                                   unqueued_ok=True) is not None


def test_a_restart_commits_its_generation_already_queued(fresh_store):
    lock = fresh_store.lock("island_ssh.applier.test3")
    assert lock.acquire()
    row = queued(fresh_store, lock)
    fresh_store.start_applies([(row.island_id, row.generation)], lock.name)
    assert fresh_store.transition(row.island_id, row.generation, "ready", "Ready", "")
    new = fresh_store.restart_queued(row.island_id, row.generation, hash_token("t3"), lock.name)
    assert (new.generation, new.state, new.applier, new.token_hash) == (row.generation + 1, "applying", lock.name,
                                                                        hash_token("t3"))
    assert [(e.from_state, e.to_state) for e in fresh_store.events(row.island_id, generation=new.generation)] == [
        (None, "allocated"), ("allocated", "applying")]
    lock.release()
    assert [r.island_id for r in fresh_store.orphaned_applies()] == [row.island_id]
