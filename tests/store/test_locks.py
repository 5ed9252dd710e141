"""Named locks (GET_LOCK) between connections, threads and processes of the same database."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

import pytest

from island_ssh.core.errors import StoreError
from island_ssh.store import Store
from island_ssh.testing.mariadb import wait_for


def lock_name() -> str:
    return f"test.{uuid.uuid4().hex[:16]}"


def test_second_holder_gets_false_and_a_released_lock_is_reacquired(store, db_settings):
    name = lock_name()
    with Store(db_settings) as other:  # another pool: as another process would
        with store.named_lock(name) as first:
            assert first is True
            with other.named_lock(name) as second:
                assert second is False
            with store.named_lock(name) as same_store_second:  # each lock has its own connection
                assert same_store_second is False
        with other.named_lock(name) as after_release:
            assert after_release is True


def test_timeout_zero_does_not_wait_and_a_timeout_waits_for_the_holder(store):
    name = lock_name()
    holder = store.lock(name)
    assert holder.acquire()
    started = time.monotonic()
    with store.named_lock(name, timeout=0) as got:
        assert got is False
    assert time.monotonic() - started < 1.0

    def someone_waits() -> bool:
        def count(cur):
            cur.execute("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST "
                        "WHERE STATE = 'User lock' AND INFO LIKE %s", (f"%GET_LOCK(%{name}%",))
            return cur.fetchone()["n"]
        return store.db.transaction(count) > 0

    def release_once_waited_for():
        try:
            wait_for(someone_waits, 10, what="a connection waiting in GET_LOCK")
        finally:
            holder.release()

    t = threading.Thread(target=release_once_waited_for)
    t.start()
    try:
        with store.named_lock(name, timeout=20) as got:
            assert got is True
    finally:
        t.join(timeout=20)


def test_a_lock_dies_with_its_holders_process(store, db_settings):
    name = lock_name()
    code = (
        "import sys, dataclasses; from island_ssh.config import DatabaseSettings; from island_ssh.store import Store\n"
        f"s = Store(DatabaseSettings(**{db_settings.__dict__!r}))\n"
        f"lock = s.lock({name!r}); print(lock.acquire(), flush=True); sys.stdin.readline()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "True"
        with store.named_lock(name) as got:
            assert got is False
        proc.kill()
        proc.wait(timeout=10)
        with store.named_lock(name, timeout=10) as got:  # the server notices the closed connection
            assert got is True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_still_held_reports_a_lost_connection(store):
    lock = store.lock(lock_name())
    assert lock.acquire() and lock.still_held()

    def kill(cur, connection_id):
        cur.execute("KILL CONNECTION %s", (connection_id,))

    store.db.transaction(lambda cur: kill(cur, lock._conn.thread_id()))
    assert not lock.still_held()
    assert not lock.held
    lock.release()  # harmless after the loss


def test_bad_lock_names_are_refused(store):
    with pytest.raises(StoreError, match="1 to 64 characters"):
        with store.named_lock("x" * 65):
            pass


def test_locks_are_scoped_to_their_database(store, mariadb):
    from fixtures.db import temporary_database

    name = lock_name()
    with temporary_database(mariadb, "otherdb") as other_db, Store(mariadb.settings(other_db)) as other:
        with store.named_lock(name) as here, other.named_lock(name) as there:
            assert here is True and there is True
    long_name = "n" * 64
    assert len(store.lock_name(long_name)) <= 64
    assert store.lock_name(long_name) != store.lock_name("n" * 63 + "m")
