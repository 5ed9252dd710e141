"""Leases in MySQL (store/leases.py, migrations/0006) on a real MariaDB: the launch's lease, extend
under the row lock, warnings claimed once across several workers, expired rows, defaults."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from island_ssh.core.errors import InvalidInput
from island_ssh.core.settings import IslandSettings
from island_ssh.store import Store, hash_token

SETTINGS = IslandSettings(id_min=1, id_max=50)


def new_island(store, lease_seconds=3600.0, owner="tester"):
    return store.allocate(owner, "dev", lambda i: f"island-{i}", {}, hash_token("t"), SETTINGS,
                          lease_seconds=lease_seconds)


def test_the_launch_sets_the_lease_from_the_database_clock(fresh_store):
    before = fresh_store.leases.now()
    row = new_island(fresh_store, lease_seconds=8 * 3600)
    stored = fresh_store.get(row.island_id)
    assert stored.lease_expires_at == row.lease_expires_at
    assert timedelta(hours=8) <= stored.lease_expires_at - before < timedelta(hours=8, seconds=5)
    assert stored.lease_warned_at is None
    # a launch without a lease (an adopted pod) has none until the reaper gives the default
    bare = new_island(fresh_store, lease_seconds=None)
    assert fresh_store.get(bare.island_id).lease_expires_at is None
    assert fresh_store.leases.assign_missing(3600) == 1
    assert fresh_store.get(bare.island_id).lease_expires_at is not None
    assert fresh_store.leases.assign_missing(3600) == 0


def test_extend_stores_the_new_end_and_a_history_line_or_changes_nothing(fresh_store):
    row = new_island(fresh_store)
    seen = {}

    def compute(current, now):
        seen["current"], seen["now"] = current.lease_expires_at, now
        return current.lease_expires_at + timedelta(hours=4), "lease extended by +4h"

    extended = fresh_store.leases.extend(row.island_id, row.generation, compute)
    assert extended.lease_expires_at == row.lease_expires_at + timedelta(hours=4)
    assert seen["current"] == row.lease_expires_at and seen["now"].tzinfo is not None
    last = fresh_store.events(row.island_id)[-1]
    assert (last.reason, last.message, last.to_state) == ("LeaseExtended", "lease extended by +4h", "allocated")

    def refuse(current, now):
        raise InvalidInput("island 1: +9d would end ..., past the 7d maximum")

    with pytest.raises(InvalidInput, match="past the 7d maximum"):
        fresh_store.leases.extend(row.island_id, row.generation, refuse)
    assert fresh_store.get(row.island_id).lease_expires_at == extended.lease_expires_at
    # another generation (the id was deleted and launched again) is not extended
    assert fresh_store.leases.extend(row.island_id, row.generation + 1, compute) is None


def test_a_warning_is_claimed_once_even_by_workers_at_the_same_time(mariadb, fresh_store):
    soon = new_island(fresh_store, lease_seconds=60)
    later = new_island(fresh_store, lease_seconds=7200)
    claims, errors = [], []
    stores = [Store(fresh_store.settings) for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def worker(store):
        try:
            barrier.wait(5)
            claims.extend(store.leases.claim_warnings(1800, lambda row, now: f"ends {row.lease_expires_at}"))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in stores:
        s.close()
    assert errors == []
    assert [r.island_id for r in claims] == [soon.island_id]
    assert fresh_store.get(soon.island_id).lease_warned_at is not None
    assert fresh_store.get(later.island_id).lease_warned_at is None
    warnings = [e for e in fresh_store.events(soon.island_id) if e.reason == "LeaseWarning"]
    assert len(warnings) == 1 and warnings[0].message.startswith("ends ")
    # extending clears the warning: the new end gets its own
    fresh_store.leases.extend(soon.island_id, soon.generation, lambda r, now: (now + timedelta(seconds=90), "x"))
    assert fresh_store.get(soon.island_id).lease_warned_at is None
    assert [r.island_id for r in fresh_store.leases.claim_warnings(1800, lambda r, n: "again")] == [soon.island_id]


def test_due_expiries_lists_live_islands_whose_lease_ended(fresh_store):
    ended = new_island(fresh_store)
    running = new_island(fresh_store)
    deleted = new_island(fresh_store)
    now = fresh_store.leases.now()
    fresh_store.leases.set_expiry(ended.island_id, ended.generation, now - timedelta(seconds=1))
    fresh_store.leases.set_expiry(deleted.island_id, deleted.generation, now - timedelta(seconds=1))
    fresh_store.release(deleted.island_id, deleted.generation, "Deleted")
    at, due = fresh_store.leases.due_expiries()
    assert at >= now and [r.island_id for r in due] == [ended.island_id]
    # a terminating island is on its way out already: not due again
    fresh_store.transition(ended.island_id, ended.generation, "terminating", "LeaseExpired", "")
    assert fresh_store.leases.due_expiries()[1] == []
    assert running.island_id not in [r.island_id for r in fresh_store.leases.ending_before(now)]


def test_a_new_launch_on_the_id_starts_without_the_old_warning(fresh_store):
    row = new_island(fresh_store, lease_seconds=60)
    assert fresh_store.leases.claim_warnings(1800, lambda r, n: "w")
    fresh_store.release(row.island_id, row.generation, "Deleted")
    again = new_island(fresh_store, lease_seconds=7200)
    assert again.island_id == row.island_id
    stored = fresh_store.get(again.island_id)
    assert stored.lease_warned_at is None and stored.lease_expires_at == again.lease_expires_at
