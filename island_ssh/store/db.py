"""Connections and transactions: the only module of the store that talks to pymysql directly.

Safe from many threads: each transaction checks a connection out of a small pool and returns it
(or closes it after any error), so no connection is ever used by two threads at once. Every
socket operation has a timeout (connect, read, write), and InnoDB row-lock waits are capped.

Autocommit is off: every statement runs inside a transaction that ends with our COMMIT or
ROLLBACK. A dropped connection is retried once, on a fresh connection, when a retry cannot
apply the work twice: either the drop happened before COMMIT was sent (the server then rolls
the transaction back), or the caller declared the transaction idempotent. A deadlock victim is
rolled back whole by InnoDB, so deadlocks are retried too.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from typing import Callable, TypeVar

import pymysql
from pymysql.cursors import DictCursor

from island_ssh.core.settings import DatabaseSettings
from island_ssh.core.errors import StoreError

T = TypeVar("T")
log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
CONFIG_HINT = "(database.host/database.port in conf/island.yaml)"

# Client and server codes that mean "this connection is gone".
_DROPPED = {
    0,  # pymysql InterfaceError(0, "") on a connection it already knows is closed
    1053,  # server shutdown in progress
    1927,  # connection was killed (MariaDB)
    2006,  # server has gone away
    2013,  # lost connection during query
    2014,  # commands out of sync (connection left in an unusable state)
    2055,  # lost connection at ... (system error)
    4031,  # disconnected by the server because of inactivity (MySQL 8)
}
_DEADLOCK = 1213
_HANDSHAKE_LOST = 2013
CONNECT_ATTEMPTS = 2
_LOCK_WAIT_TIMEOUT = 1205
_DEADLOCK_RETRIES = 3
_SQL_MODE = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"


def quote_identifier(name: str, what: str = "identifier") -> str:
    """Backquote a configured table/database name after checking it is a plain identifier."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise StoreError(
            f"{what} {name!r} is not a plain SQL identifier (letters, digits, underscore, at most 64, "
            f"not starting with a digit): fix it in conf/island.yaml"
        )
    return f"`{name}`"


def error_code(exc: BaseException) -> int | None:
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def is_timeout(exc: BaseException) -> bool:
    """Our read/write timeout fired: the server may still be working on the statement."""
    return isinstance(exc, TimeoutError) or (error_code(exc) == 2013 and "timed out" in str(exc))


def is_dropped(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return isinstance(exc, pymysql.err.MySQLError) and error_code(exc) in _DROPPED


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Connection(pymysql.connections.Connection):
    """PyMySQL >= 1.2 tries TLS by default and builds a fresh SSL context for every connection,
    loading every system CA certificate: 0.1-0.3 s of CPU each, which made a pool warming up
    under a burst CPU-bound. The default context is built once per process instead."""

    _shared_ctx = None
    _ctx_guard = threading.Lock()

    def _create_ssl_ctx(self, sslp):
        if sslp:
            return super()._create_ssl_ctx(sslp)
        with _Connection._ctx_guard:
            if _Connection._shared_ctx is None:
                _Connection._shared_ctx = super()._create_ssl_ctx(sslp)
            return _Connection._shared_ctx


class Database:
    """A pool of short-lived pymysql connections to one database, and a transaction runner."""

    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        read_timeout: float = 30.0,
        write_timeout: float = 30.0,
        lock_wait_timeout: int = 10,
        pool_size: int = 16,
    ) -> None:
        self.settings = settings
        self.quoted_name = quote_identifier(settings.name, "database.name")
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.lock_wait_timeout = max(1, int(lock_wait_timeout))
        self.pool_size = pool_size
        self._idle: list[pymysql.connections.Connection] = []
        self._idle_guard = threading.Lock()  # guards the idle list only, never database state

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    # -- connections -----------------------------------------------------------------------
    def connect(self, *, with_database: bool = True, read_timeout: float | None = None) -> pymysql.connections.Connection:
        """A new connection with our session settings; the caller closes it."""
        s = self.settings
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                conn = _Connection(
                    # TLS over loopback protects nothing and costs a handshake per connection
                    ssl_disabled=True if is_loopback(s.host) else None,
                    host=s.host, port=s.port, user=s.user, password=s.password,
                    database=s.name if with_database else None,
                    charset="utf8mb4", autocommit=False,
                    connect_timeout=s.connect_timeout,
                    read_timeout=read_timeout or self.read_timeout, write_timeout=self.write_timeout,
                    init_command=(
                        f"SET SESSION sql_mode='{_SQL_MODE}', SESSION time_zone='+00:00', "
                        f"SESSION innodb_lock_wait_timeout={self.lock_wait_timeout}"
                    ),
                )
                break
            except (pymysql.err.MySQLError, OSError) as exc:
                # a handshake cut short (2013) sent nothing that changes data: one more try is safe
                if attempt + 1 < CONNECT_ATTEMPTS and error_code(exc) == _HANDSHAKE_LOST and not is_timeout(exc):
                    log.warning("MySQL at %s dropped a new connection during the handshake (%s); trying again",
                                self.address, exc)
                    continue
                raise self.translate(exc, "connecting") from None
        try:
            with conn.cursor() as cur:
                # Each transaction locks the rows it changes explicitly; READ COMMITTED avoids
                # REPEATABLE READ's gap locks, which would make concurrent allocations queue.
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            conn.commit()
        except (pymysql.err.MySQLError, OSError) as exc:
            _close_quietly(conn)
            raise self.translate(exc, "setting up the session") from None
        return conn

    def _checkout(self) -> pymysql.connections.Connection:
        with self._idle_guard:
            if self._idle:
                return self._idle.pop()
        return self.connect()

    def _checkin(self, conn: pymysql.connections.Connection) -> None:
        with self._idle_guard:
            if len(self._idle) < self.pool_size:
                self._idle.append(conn)
                return
        _close_quietly(conn)

    def _flush_idle(self) -> None:
        """After one dropped connection the others are likely stale too (server restarted)."""
        with self._idle_guard:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)

    def close(self) -> None:
        self._flush_idle()

    # -- transactions ----------------------------------------------------------------------
    def transaction(self, body: Callable[[DictCursor], T], *, idempotent: bool = False, what: str = "") -> T:
        """Run ``body(cursor)`` in one transaction and commit; roll back if it raises.

        ``body`` must only touch the database (it may run twice, see the module docstring).
        """
        dropped_retries = 1
        deadlock_retries = _DEADLOCK_RETRIES
        while True:
            conn = self._checkout()
            committing = False
            try:
                with conn.cursor(DictCursor) as cur:
                    result = body(cur)
                committing = True
                conn.commit()
            except (pymysql.err.MySQLError, OSError) as exc:
                _rollback_and_close(conn)
                if is_dropped(exc):
                    self._flush_idle()
                    # a timed-out statement may still run on the server: running it again would
                    # double the wait and compete with it for the same locks
                    if dropped_retries and (idempotent or not committing) and not is_timeout(exc):
                        dropped_retries -= 1
                        continue
                elif error_code(exc) == _DEADLOCK and deadlock_retries:
                    deadlock_retries -= 1
                    continue
                raise self.translate(exc, what, during_commit=committing) from None
            except BaseException:
                if _rollback(conn):
                    self._checkin(conn)
                else:
                    _close_quietly(conn)
                raise
            self._checkin(conn)
            return result

    # -- errors ----------------------------------------------------------------------------
    def translate(self, exc: BaseException, what: str = "", during_commit: bool = False) -> StoreError:
        """A StoreError whose message says what happened and what to do about it."""
        s = self.settings
        code = error_code(exc)
        detail = exc.args[1] if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) > 1 else str(exc)
        doing = f" while {what}" if what else ""
        if code == 2003 or (code is None and isinstance(exc, OSError)):
            msg = f"cannot reach MySQL at {self.address}: {detail}; is it running? {CONFIG_HINT}"
        elif code == 1045:
            msg = (f"MySQL at {self.address} refused user {s.user!r}: {detail}; check database.user in "
                   f"conf/island.yaml and ISLAND_SSH_DATABASE_PASSWORD")
        elif code == 1049:
            msg = f"database `{s.name}` does not exist on {self.address}: run `island-ssh migrate` to create it"
        elif code == 1146:
            msg = f"a table is missing in database `{s.name}` ({detail}): run `island-ssh migrate`"
        elif code == _LOCK_WAIT_TIMEOUT:
            msg = (f"gave up after waiting {self.lock_wait_timeout} s for a row lock{doing}: another "
                   f"transaction holds it; retry, and look for a stuck process if it repeats")
        elif is_timeout(exc):
            msg = (f"MySQL at {self.address} did not answer within read_timeout={self.read_timeout:g} s{doing}; "
                   f"{'the commit was sent, so check whether it was applied' if during_commit else 'nothing was committed'}"
                   f". Is the server overloaded or stuck? {CONFIG_HINT}")
        elif is_dropped(exc):
            fate = ("the commit was sent, so it may or may not have been applied: check before repeating"
                    if during_commit else "nothing was committed")
            msg = (f"lost the connection to MySQL at {self.address}{doing} ({detail}); {fate}. "
                   f"Is the server up and within read_timeout={self.read_timeout:g} s? {CONFIG_HINT}")
        else:
            msg = f"MySQL at {self.address} refused{doing}: error {code}: {detail}"
        err = StoreError(msg)
        err.mysql_code = code
        return err


def _rollback(conn) -> bool:
    try:
        conn.rollback()
        return True
    except Exception:
        return False


def _rollback_and_close(conn) -> None:
    _rollback(conn)
    _close_quietly(conn)


def _close_quietly(conn) -> None:
    try:
        conn.close()
    except Exception:
        pass
