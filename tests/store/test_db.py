"""The transaction runner: retry after a drop before COMMIT, deadlock retry, rollback on errors."""

from __future__ import annotations

import threading

import pytest

from island_ssh.core.errors import StoreError


@pytest.fixture
def scratch(fresh_store):
    def create(cur):
        cur.execute("CREATE TABLE scratch (id INT PRIMARY KEY, n INT NOT NULL)")
    fresh_store.db.transaction(create)
    fresh_store.db.transaction(lambda cur: cur.execute("INSERT INTO scratch VALUES (1, 0), (2, 0)"))
    return fresh_store


def read_scratch(store) -> dict[int, int]:
    def read(cur):
        cur.execute("SELECT id, n FROM scratch ORDER BY id")
        return {r["id"]: r["n"] for r in cur.fetchall()}
    return store.db.transaction(read)


def test_a_connection_dropped_before_commit_is_retried_once_and_applied_once(scratch):
    attempts = []

    def body(cur):
        attempts.append(1)
        cur.execute("UPDATE scratch SET n = n + 1 WHERE id = 1")
        if len(attempts) == 1:  # the server loses this connection mid-transaction
            cur.execute("SELECT CONNECTION_ID() AS me")
            me = cur.fetchone()["me"]
            scratch.db.transaction(lambda other: other.execute("KILL CONNECTION %s", (me,)))
        cur.execute("UPDATE scratch SET n = n + 10 WHERE id = 2")

    scratch.db.transaction(body)
    assert len(attempts) == 2
    assert read_scratch(scratch) == {1: 1, 2: 10}


def test_a_second_drop_is_reported_and_nothing_is_committed(scratch):
    def body(cur):
        cur.execute("UPDATE scratch SET n = n + 1 WHERE id = 1")
        cur.execute("SELECT CONNECTION_ID() AS me")
        me = cur.fetchone()["me"]
        scratch.db.transaction(lambda other: other.execute("KILL CONNECTION %s", (me,)))
        cur.execute("SELECT 1")

    with pytest.raises(StoreError, match="lost the connection to MySQL at .*nothing was committed"):
        scratch.db.transaction(body, what="testing")
    assert read_scratch(scratch) == {1: 0, 2: 0}


def test_a_deadlock_victim_is_rolled_back_and_run_again(scratch):
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts = {"a": 0, "b": 0}
    errors = []

    def body(name, first, second):
        def run(cur):
            attempts[name] += 1
            cur.execute("SELECT n FROM scratch WHERE id = %s FOR UPDATE", (first,))
            if attempts[name] == 1:
                both_hold_one.wait()
            cur.execute("UPDATE scratch SET n = n + 1 WHERE id = %s", (second,))
        return run

    def worker(name, first, second):
        try:
            scratch.db.transaction(body(name, first, second))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=("a", 1, 2)), threading.Thread(target=worker, args=("b", 2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(attempts.values()) == [1, 2]  # exactly one victim, run once more
    assert read_scratch(scratch) == {1: 1, 2: 1}


def test_an_exception_in_the_body_rolls_back_and_the_pool_stays_usable(scratch):
    class Boom(Exception):
        pass

    def body(cur):
        cur.execute("UPDATE scratch SET n = 99 WHERE id = 1")
        raise Boom()

    with pytest.raises(Boom):
        scratch.db.transaction(body)
    assert read_scratch(scratch) == {1: 0, 2: 0}


def test_sql_errors_become_store_errors_naming_the_action(scratch):
    with pytest.raises(StoreError, match=r"refused while poking: error 1064"):
        scratch.db.transaction(lambda cur: cur.execute("SELEKT 1"), what="poking")
