"""A long-lived remote command (``kubectl get -w``) whose stdout is consumed line by line.

It runs in the user's login shell on its own channel of the shared connection. A reader thread
only moves bytes: recv -> LineSplitter -> queue (or the on_line callback). It keeps any exception
for the consumer (re-raised by iteration, get_line and wait), stops on an Event and is joined
with a timeout. The end of the command is a normal event: ``finished`` is set and ``exit_code``
holds its status. A lost connection ends the stream with ConnectionLost so its owner restarts it.

What it holds is bounded: a line longer than ``max_line`` ends the stream with LineTooLong, and
with ``max_buffered`` the unread lines never pass that many bytes: the reader then stops reading
the channel until the consumer takes lines. Nothing is dropped: SSH flow control (the channel's
window) makes the remote command wait, as ``kubectl logs -f | less`` would. ``stalled`` is set
while the reader waits so.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Iterator

import paramiko

from island_ssh.core.line_splitter import DEFAULT_MAX_LINE, LineSplitter

from island_ssh.ssh import framing
from island_ssh.ssh.channel_io import close_channel, drain, raise_if_lost, ready_event, run_exec, send_all, wait_readable
from island_ssh.ssh.connection import Connection
from island_ssh.ssh.errors import ConnectionLost, SSHError, StreamTimeout  # callers import StreamTimeout from here too

STDERR_TAIL = 64 * 1024
JOIN_TIMEOUT = 5.0
KILL_TIMEOUT = 3.0
_END = object()


class Stream:
    def __init__(
        self,
        conn: Connection,
        command: str,
        on_line: Callable[[str], None] | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        open_timeout: float | None = None,
        max_buffered: int | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self.command = command
        self.finished = threading.Event()
        """Set once the command ended, the stream was closed or failed."""
        self.exception: BaseException | None = None
        """Why the stream ended abnormally (ConnectionLost, ...); None for a normal end."""
        self.exit_code: int | None = None
        self.remote_pid: int | None = None
        """PID (and process group) of the remote shell running the command."""
        self._conn = conn
        self._on_line = on_line
        self._lines: queue.Queue = queue.Queue()
        self._max_buffered = max_buffered
        self._buffered = 0  # bytes of the lines in _lines, under _room
        self._room = threading.Condition()
        self.stalled = threading.Event()
        """Set while the reader waits for the consumer (max_buffered bytes unread)."""
        self._on_finished = on_finished
        self._splitter = LineSplitter(max_line=max_line)
        self._stderr = bytearray()
        self._stop = threading.Event()
        timeout = open_timeout or conn.target.connect_timeout
        self._channel = conn.open_channel(timeout, f"stream `{command}`")
        self._ready = ready_event(self._channel)
        self._framed = framing.frame_stream(command, framing.new_token())
        self._out_start = framing.MarkerScanner(self._framed.stdout_marker, with_value=True)
        self._err_start = framing.MarkerScanner(self._framed.stderr_marker, with_value=False)
        try:
            with conn.watchdog(timeout, f"a shell request for stream `{command}`"):
                try:
                    self._channel.invoke_shell()
                except (paramiko.SSHException, EOFError) as exc:
                    raise_if_lost(conn, time.monotonic())
                    raise SSHError(f"{conn.target} refused a shell for `{command}`: {exc}") from exc
            send_all(self._channel, self._framed.script, conn, time.monotonic() + timeout, command)
        except BaseException:
            close_channel(self._channel)
            raise
        self._thread = threading.Thread(target=self._read, name=f"island-ssh-stream:{command[:40]}", daemon=True)
        self._thread.start()

    # -- consumer side ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[str]:
        while True:
            item = self._lines.get()
            if item is _END:
                self._lines.put(_END)  # later readers see the end too
                if self.exception is not None:
                    raise self.exception
                return
            yield self._taken(item)

    def get_line(self, timeout: float) -> str | None:
        """The next line; None once the stream has ended and every line was taken.
        Raises the stream's exception at its end, StreamTimeout if nothing came in time."""
        try:
            item = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise StreamTimeout(f"no line from `{self.command}` within {timeout}s; it is still running") from None
        if item is _END:
            self._lines.put(_END)
            if self.exception is not None:
                raise self.exception
            return None
        return self._taken(item)

    def lines_ready(self, limit: int) -> list[str]:
        """Up to ``limit`` lines already received, without waiting (the end stays for get_line)."""
        lines: list[str] = []
        while len(lines) < limit:
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                break
            if item is _END:
                self._lines.put(_END)
                break
            lines.append(self._taken(item))
        return lines

    @property
    def buffered_bytes(self) -> int:
        """Bytes of received lines not yet taken by the consumer."""
        with self._room:
            return self._buffered

    def _taken(self, item: tuple[str, int]) -> str:
        line, size = item
        with self._room:
            self._buffered -= size
            self._room.notify_all()
        return line

    def wait(self, timeout: float) -> int | None:
        """Wait for the command's end; its exit code (None if closed by us before it ended)."""
        if not self.finished.wait(timeout):
            raise StreamTimeout(f"`{self.command}` still running after {timeout}s")
        if self.exception is not None:
            raise self.exception
        return self.exit_code

    @property
    def stderr(self) -> str:
        """The last 64 KiB the command wrote to stderr."""
        return bytes(self._stderr).decode("utf-8", errors="replace")

    def close(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Stop the remote command (its process group gets SIGTERM), close the channel, join the
        reader. Idempotent."""
        self._stop.set()
        with self._room:
            self._room.notify_all()  # a reader waiting for room stops waiting
        if not self.finished.is_set() and self.remote_pid and self._conn.usable:
            try:
                run_exec(self._conn, framing.kill_group_command(self.remote_pid), None, KILL_TIMEOUT)
            except SSHError:
                pass  # closing the channel still ends the session
        close_channel(self._channel)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reader thread ----------------------------------------------------------------------

    def _read(self) -> None:
        since = time.monotonic()
        try:
            while not self._stop.is_set():
                if drain(self._channel, self._on_stdout, self._on_stderr):
                    since = time.monotonic()
                    continue
                if self._channel.closed:
                    drain(self._channel, self._on_stdout, self._on_stderr)
                    self._finish_closed(since)
                    return
                self._conn.check_alive(since)
                wait_readable(self._channel, self._ready, 3600.0)
        except BaseException as exc:  # kept for the consumer, never lost in a log
            if not self._stop.is_set():
                self.exception = exc
            close_channel(self._channel)
        finally:
            self.finished.set()
            self._lines.put(_END)
            if self._on_finished is not None:
                close_channel(self._channel)  # (close() does too, maybe a moment later) before the slot goes back
                self._on_finished()  # the channel is closed: its slot in the pool is free

    def _finish_closed(self, since: float) -> None:
        tail = self._splitter.flush()
        if tail is not None and self._out_start.done:
            self._emit(tail)
        if self._stop.is_set():
            return
        if self._conn.transport.is_active() and self._channel.exit_status_ready():
            self.exit_code = self._channel.recv_exit_status()
            return
        raise_if_lost(self._conn, since)
        raise ConnectionLost(f"stream `{self.command}` ended without an exit status; restart it", command=self.command)

    def _on_stdout(self, data: bytes) -> None:
        if not self._out_start.done:
            if not self._out_start.feed(data):
                return
            self.remote_pid = self._out_start.value
            data = self._out_start.trailing  # bytes after the START line are the command's
            self._out_start.trailing = b""
        for line in self._splitter.feed(data):
            self._emit(line)

    def _emit(self, line: str) -> None:
        if self._on_line is not None:
            self._on_line(line)
            return
        size = len(line.encode("utf-8", "surrogatepass")) + 1
        with self._room:
            if self._max_buffered is not None and self._buffered + size > self._max_buffered and self._buffered:
                self.stalled.set()
                # no bytes are read meanwhile: the channel's window fills and the remote side waits
                while self._buffered + size > self._max_buffered and self._buffered and not self._stop.is_set():
                    self._room.wait(1.0)
                self.stalled.clear()
            self._buffered += size
        self._lines.put((line, size))

    def _on_stderr(self, data: bytes) -> None:
        if not self._err_start.done:
            if not self._err_start.feed(data):
                return
            data = self._err_start.trailing
            self._err_start.trailing = b""
        self._stderr += data
        if len(self._stderr) > STDERR_TAIL:
            del self._stderr[: len(self._stderr) - STDERR_TAIL]
