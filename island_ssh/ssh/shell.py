"""RemoteShell: every remote command of island_ssh, over ONE SSH connection to the master.

* ``run`` sends a framed command through one of ``pool_size`` persistent login shells (channels
  of the one Transport). Threads share the pool; a command never shares a shell with another.
* ``stream`` starts a long-lived command on its own channel of the same Transport.
* A lost connection fails the commands in flight with ConnectionLost (they are never re-run) and
  ends the streams with it; the next call reconnects. Consecutive failed connects back off
  exponentially (backoff_base * 2**n, capped at backoff_max); the first reconnect after a loss is
  immediate.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from island_ssh.core.line_splitter import DEFAULT_MAX_LINE

from island_ssh.ssh.connection import Connection, open_connection
# ShellClosed lives with the family; callers import it from here too
from island_ssh.ssh.errors import CommandTimeout, ConnectError, ConnectionLost, ShellClosed, SSHError
from island_ssh.ssh.result import CommandResult
from island_ssh.ssh.shell_channel import ShellChannel
from island_ssh.ssh.stream_channel import Stream
from island_ssh.ssh.target import SSHTarget

INLINE_STDIN_MAX = 4096
"""Up to this many stdin bytes travel inline (base64 here-document: one round trip); more are
uploaded on an exec channel first, because bash parses its script input one byte per read()."""


class RemoteShell:
    def __init__(
        self,
        target: SSHTarget,
        *,
        inline_stdin_max: int = INLINE_STDIN_MAX,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
    ) -> None:
        self.target = target
        self.inline_stdin_max = inline_stdin_max
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._conn: Connection | None = None
        self._conn_lock = threading.Lock()
        self._failures = 0
        self._next_attempt = 0.0
        self._idle: list[ShellChannel] = []
        self._idle_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(target.pool_size)
        self._streams: set[Stream] = set()
        self._closed = False

    # -- public API -------------------------------------------------------------------------

    def connect(self) -> "RemoteShell":
        """Connect now (otherwise the first call does): host key, auth and reachability errors
        show up here."""
        self._connection()
        return self

    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and conn.usable

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 30.0) -> CommandResult:
        """Run ``command`` in the user's login shell; stdin bytes arrive exactly (None: /dev/null).

        Raises CommandTimeout (the shell is killed and replaced), ConnectionLost (the command was
        in flight and is NOT re-run), ConnectError / HostKeyError / AuthError when (re)connecting.
        A command that exits the shell itself (``exit 3``) returns that status.
        """
        deadline = time.monotonic() + timeout
        if not self._slots.acquire(timeout=timeout):
            raise CommandTimeout(
                f"all {self.target.pool_size} shell channels stayed busy for {timeout}s; "
                f"`{command}` was not started",
                command=command,
            )
        try:
            conn = self._connection()
            shell = self._take_idle(conn) or self._open_shell(conn, deadline)
            try:
                result = shell.run(command, stdin, deadline, self.inline_stdin_max)
            except CommandTimeout:
                shell.abandon()
                raise
            except ConnectionLost:
                shell.close()
                conn.mark_lost(conn.lost_reason or f"connection to {self.target} lost")
                raise
            except BaseException:
                shell.close()
                raise
            if shell.usable:
                self._give_back(shell)
            else:
                shell.close()
            return result
        finally:
            self._slots.release()

    def stream(
        self,
        command: str,
        on_line: Callable[[str], None] | None = None,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> Stream:
        """Start ``command`` on its own channel; read its stdout lines from the Stream."""
        conn = self._connection()
        stream = Stream(conn, command, on_line=on_line, max_line=max_line)
        with self._idle_lock:
            self._streams = {s for s in self._streams if not s.finished.is_set()}
            self._streams.add(stream)
        return stream

    def close(self) -> None:
        """Close streams, shells and the connection; no thread of ours is left running."""
        self._closed = True
        with self._idle_lock:
            streams, self._streams = list(self._streams), set()
            idle, self._idle = self._idle, []
        for stream in streams:
            stream.close()
        for shell in idle:
            shell.close()
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> "RemoteShell":
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- connection and pool ----------------------------------------------------------------

    def _connection(self) -> Connection:
        wait = self.target.connect_timeout + self.backoff_max + 1.0
        if not self._conn_lock.acquire(timeout=wait):
            raise ConnectError(f"another thread has been connecting to {self.target} for {wait:.0f}s")
        try:
            if self._closed:
                raise ShellClosed(f"this RemoteShell to {self.target} is closed; create a new one")
            conn = self._conn
            if conn is not None and conn.usable:
                return conn
            if conn is not None:
                conn.close()
                self._conn = None
            delay = self._next_attempt - time.monotonic()
            if delay > 0:
                threading.Event().wait(delay)
            try:
                conn = open_connection(self.target)
            except SSHError:
                self._failures += 1
                backoff = min(self.backoff_max, self.backoff_base * 2 ** (self._failures - 1))
                self._next_attempt = time.monotonic() + backoff
                raise
            self._failures = 0
            self._next_attempt = 0.0
            self._conn = conn
            return conn
        finally:
            self._conn_lock.release()

    def _take_idle(self, conn: Connection) -> ShellChannel | None:
        with self._idle_lock:
            while self._idle:
                shell = self._idle.pop()
                if shell.conn is conn and shell.usable and not shell.channel.closed:
                    return shell
                shell.close()
        return None

    def _give_back(self, shell: ShellChannel) -> None:
        with self._idle_lock:
            if not self._closed:
                self._idle.append(shell)
                return
        shell.close()

    def _open_shell(self, conn: Connection, deadline: float) -> ShellChannel:
        timeout = max(min(deadline - time.monotonic(), self.target.connect_timeout), 0.1)
        return ShellChannel.open(conn, timeout)
