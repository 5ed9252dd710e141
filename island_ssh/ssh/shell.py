"""RemoteShell: every remote command of island_ssh, over ONE SSH connection to the master.

* ``run`` sends a framed command through one of ``pool_size`` persistent login shells (channels
  of the one Transport). Threads share the pool; a command never shares a shell with another.
* ``stream`` starts a long-lived command on its own channel of the same Transport.
* Every call states its purpose (core.names): the service's own work (applies, deletes, clock
  changes, relists) may use all ``pool_size`` channels; users' reads (logs, logs -f) hold at most
  ``user_read_channels`` of them at once, so pool_size - user_read_channels are always left for the
  service. A user read over its budget waits ``user_read_wait`` seconds, then ReadChannelsBusy.
  A user read's stream counts as one of the pool's channels while it lives (an idle shell is
  closed to make room), so the connection never holds more than pool_size + the watch.
* A lost connection fails the commands in flight with ConnectionLost (they are never re-run) and
  ends the streams with it; the next call reconnects. Consecutive failed connects back off
  exponentially (backoff_base * 2**n, capped at backoff_max); the first reconnect after a loss is
  immediate.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator

from island_ssh.core.errors import ReadChannelsBusy
from island_ssh.core.line_splitter import DEFAULT_MAX_LINE
from island_ssh.core.names import CHANNEL_PURPOSES, SERVICE_WORK, USER_READ
from island_ssh.core.polling import WaitTimeout, wait_until
from island_ssh.observe import metrics

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
        self._connected_before = False  # a later connect is a reconnect (island_ssh_ssh_reconnects_total)
        self._conn_lock = threading.Lock()
        self._failures = 0
        self._next_attempt = 0.0
        self._idle: list[ShellChannel] = []
        self._idle_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(target.pool_size)
        """Every channel of the pool: a shell in use by run(), or a user read's stream."""
        self._user_reads = threading.BoundedSemaphore(target.user_read_channels)
        """The users' share of those slots (taken first, with its own short wait)."""
        self._busy_shells = 0  # shells lent out by run(); with _idle and _user_streams: open channels
        self._user_streams = 0
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

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 30.0, *,
            purpose: str = SERVICE_WORK) -> CommandResult:
        """Run ``command`` in the user's login shell; stdin bytes arrive exactly (None: /dev/null).

        ``purpose``: SERVICE_WORK or USER_READ (core.names; see the module's docstring).
        Raises CommandTimeout (the shell is killed and replaced), ConnectionLost (the command was
        in flight and is NOT re-run), ConnectError / HostKeyError / AuthError when (re)connecting,
        ReadChannelsBusy (a user read found its channels busy; nothing was started).
        A command that exits the shell itself (``exit 3``) returns that status.
        """
        deadline = time.monotonic() + timeout
        with self._slot(purpose, command, timeout), metrics.SSH_COMMAND_SECONDS.labels(purpose).time():
            conn = self._connection()
            with self._idle_lock:
                self._busy_shells += 1
            try:
                shell = self._take_idle(conn) or self._open_shell(conn, deadline)
                return self._run_on(conn, shell, command, stdin, deadline)
            finally:
                with self._idle_lock:
                    self._busy_shells -= 1

    def _run_on(self, conn: Connection, shell: ShellChannel, command: str, stdin: bytes | None,
                deadline: float) -> CommandResult:
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

    def stream(
        self,
        command: str,
        on_line: Callable[[str], None] | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        *,
        purpose: str = SERVICE_WORK,
        max_buffered: int | None = None,
    ) -> Stream:
        """Start ``command`` on its own channel; read its stdout lines from the Stream.

        A USER_READ stream holds one of the users' channels until it ends (ReadChannelsBusy
        when none frees up within user_read_wait). ``max_buffered``: most bytes of unread lines
        the Stream holds before it stops reading (see Stream). SERVICE_WORK streams (the one
        watch) live beside the pool, as before."""
        if purpose == SERVICE_WORK:
            return self._track(Stream(self._connection(), command, on_line=on_line, max_line=max_line,
                                      max_buffered=max_buffered))
        self._take_slot(purpose, command, self.target.user_read_wait)
        once = threading.Lock()

        def give_back() -> None:  # once, from whichever ends first: the reader or a failed start
            if once.acquire(blocking=False):
                with self._idle_lock:
                    self._user_streams -= 1
                self._give_slot(purpose)

        with self._idle_lock:
            self._user_streams += 1
            surplus = len(self._idle) + self._busy_shells + self._user_streams - self.target.pool_size
            extra = [self._idle.pop() for _ in range(min(max(surplus, 0), len(self._idle)))]
        self._retire(extra)  # their slots are the stream's now: the connection stays within pool_size
        try:
            return self._track(Stream(self._connection(), command, on_line=on_line, max_line=max_line,
                                      max_buffered=max_buffered, on_finished=give_back))
        except BaseException:
            give_back()
            raise

    def _track(self, stream: Stream) -> Stream:
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

    @contextlib.contextmanager
    def _slot(self, purpose: str, command: str, timeout: float) -> Iterator[None]:
        self._take_slot(purpose, command, timeout)
        try:
            yield
        finally:
            self._give_slot(purpose)

    def _take_slot(self, purpose: str, command: str, timeout: float) -> None:
        if purpose not in CHANNEL_PURPOSES:
            raise ValueError(f"purpose {purpose!r}: expected one of {', '.join(CHANNEL_PURPOSES)}")
        if purpose == SERVICE_WORK:
            if not self._slots.acquire(timeout=timeout):
                raise CommandTimeout(f"all {self.target.pool_size} shell channels stayed busy for {timeout}s; "
                                     f"`{command}` was not started", command=command)
            return
        # A user read waits briefly (user_read_wait), for its own share first, then for a channel
        # of the pool; either way the answer is "busy, try again", never a long hang.
        wait = min(timeout, self.target.user_read_wait)
        end = time.monotonic() + wait
        if self._user_reads.acquire(timeout=wait):
            if self._slots.acquire(timeout=max(end - time.monotonic(), 0.0)):
                return
            self._user_reads.release()
            busy = f"all {self.target.pool_size} SSH channels are busy with the service's own work"
        else:
            n = self.target.user_read_channels
            busy = f"all {n} SSH channel{'s' if n > 1 else ''} for reading logs {'are' if n > 1 else 'is'} busy"
        raise ReadChannelsBusy(f"{busy} (waited {wait:g}s); try again in a few seconds "
                               f"(ssh.user_read_channels sets how many reads run at once)", command=command)

    def _retire(self, shells: list[ShellChannel]) -> None:
        """Close idle shells and wait (up to connect_timeout) until the master confirmed each
        close: sshd counts a session against MaxSessions until then, so a channel opened at once
        in its place could be refused."""
        for shell in shells:
            shell.close()
        gone = lambda: all(s.conn.transport._channels.get(s.channel.chanid) is None  # noqa: E731
                           or not s.conn.usable for s in shells)  # paramiko unlinks on the server's CLOSE
        try:
            wait_until(gone, self.target.connect_timeout, "the master to close retired shells",
                       clock=time.monotonic, pause=threading.Event().wait, interval=0.01)
        except WaitTimeout:
            pass  # the open that follows says what the master refused, if it does

    def _give_slot(self, purpose: str) -> None:
        self._slots.release()
        if purpose == USER_READ:
            self._user_reads.release()

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
            if self._connected_before:
                metrics.SSH_RECONNECTS.inc()
            self._conn, self._connected_before = conn, True
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
