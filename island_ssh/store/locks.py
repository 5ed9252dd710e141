"""MySQL named locks (GET_LOCK/RELEASE_LOCK): one acting tracker or recover run per database.

A named lock belongs to the connection that took it, and the server drops it when that
connection ends. So each lock gets a dedicated connection, held for the lock's lifetime and
never returned to the pool. Long holders (the tracker holds its lock for days) should call
``still_held()`` now and then: it fails if the connection, and with it the lock, was lost.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import pymysql

from island_ssh.core.errors import StoreError
from island_ssh.store.db import Database

MAX_LOCK_NAME = 64
_LONGEST_IDLE = 31536000  # wait_timeout's maximum: the server must not close a lock-holding connection


class NamedLock:
    def __init__(self, db: Database, name: str) -> None:
        if not isinstance(name, str) or not name or len(name) > MAX_LOCK_NAME:
            raise StoreError(f"lock name {name!r}: must be 1 to {MAX_LOCK_NAME} characters")
        self.db = db
        self.name = name
        self._conn = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self, timeout: float = 0) -> bool:
        """Try to take the lock, waiting up to ``timeout`` seconds (0: do not wait)."""
        if self._conn is not None:
            raise StoreError(f"named lock {self.name!r} is already held by this object")
        timeout = max(0.0, float(timeout))
        conn = self.db.connect(read_timeout=max(self.db.read_timeout, timeout + 10))
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION wait_timeout = %s", (_LONGEST_IDLE,))
                cur.execute("SELECT GET_LOCK(%s, %s)", (self.name, timeout))
                (got,) = cur.fetchone()
        except (pymysql.err.MySQLError, OSError) as exc:
            _close(conn)
            raise self.db.translate(exc, f"taking named lock {self.name!r}") from None
        if got == 1:
            self._conn = conn
            return True
        _close(conn)
        if got is None:
            raise StoreError(f"MySQL could not take named lock {self.name!r} (GET_LOCK returned NULL)")
        return False

    def still_held(self) -> bool:
        """Ask the server whether this connection still owns the lock."""
        if self._conn is None:
            return False
        try:
            with self._conn.cursor() as cur:
                cur.execute("SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", (self.name,))
                (mine,) = cur.fetchone()
        except (pymysql.err.MySQLError, OSError):
            self._drop()
            return False
        return mine == 1

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            with self._conn.cursor() as cur:
                cur.execute("SELECT RELEASE_LOCK(%s)", (self.name,))
        except (pymysql.err.MySQLError, OSError):
            pass  # closing the connection below releases it anyway
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _close(conn)

    def __enter__(self) -> "NamedLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def named_lock(db: Database, name: str, timeout: float = 0) -> Iterator[bool]:
    """``with named_lock(db, name) as acquired:`` -- acquired is True or False; released on exit."""
    lock = NamedLock(db, name)
    acquired = lock.acquire(timeout)
    try:
        yield acquired
    finally:
        lock.release()


def _close(conn) -> None:
    try:
        conn.close()
    except Exception:
        pass
