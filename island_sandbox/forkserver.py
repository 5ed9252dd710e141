"""The kubelet's side of the fork server (``zygote.py``, whose docstring tells the process shape).

``ForkServer.spawn(spec, status_fd, log_fd)`` asks the zygote for one container and returns its
PID: a child of ours (CLONE_PARENT), which the caller waits on through a pidfd. Everything runs in
the loop: one reader for the replies, one for the zygote's pidfd, no thread.

``for_this_loop()`` keeps one server per event loop, started on first use: the socket and the
pidfd are the loop's readers, and the zygote dies with the thread that started it (its parent-death
signal), which is the loop's. A server whose loop has closed is stopped when the next one starts.
If the zygote dies, the launches waiting on it fail with ``ForkServerError`` (a container it
cloned before dying lives on: it is ours, not the zygote's) and the next launch starts another.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import itertools
import marshal
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

# Not imported: run as a script, it puts its own directory on sys.path to find container_init.
ZYGOTE = Path(__file__).with_name("zygote.py")
MAX_REQUEST = 1 << 20  # zygote.MAX_REQUEST


class ForkServerError(Exception):
    """The fork server could not start that container (it is gone, or the clone failed)."""


class ForkServer:
    def __init__(self, env: dict[str, str], discard: Callable[[int], None]) -> None:
        """``discard(pid)`` takes over a container whose launch was cancelled before its PID came:
        it is our child all the same, and must be killed and reaped."""
        self.loop = asyncio.get_running_loop()
        self._discard = discard
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_REQUEST)
            self._popen = subprocess.Popen(
                [sys.executable, "-I", "-S", str(ZYGOTE), str(os.getpid()), str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env, pass_fds=(theirs.fileno(),),
                start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self.pid = self._popen.pid
        self._pidfd = os.pidfd_open(self.pid)
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[int]] = {}
        self._send_waiters: list[asyncio.Future[None]] = []
        self.error: str | None = None
        self.loop.add_reader(self._sock.fileno(), self._on_replies)
        self.loop.add_reader(self._pidfd, self._on_exit)

    @property
    def usable(self) -> bool:
        return self.error is None and self._sock.fileno() >= 0 and not self.loop.is_closed()

    async def spawn(self, spec: dict, status_fd: int, log_fd: int) -> int:
        """Start the container; its PID. The descriptors go as copies: the caller closes its own."""
        if self.error is not None:
            raise ForkServerError(self.error)
        request = next(self._ids)
        data = marshal.dumps((request, spec))
        if len(data) > MAX_REQUEST:
            raise ForkServerError(f"the container's spec is too large ({len(data)} bytes)")
        future = self.loop.create_future()
        self._waiting[request] = future
        try:
            await self._send(data, [status_fd, log_fd])
        except BaseException:
            self._waiting.pop(request, None)  # not sent (a record goes whole or not at all)
            raise
        # A cancel here leaves the request waiting, cancelled: _on_replies discards what it started.
        return await future

    async def _send(self, data: bytes, fds: list[int]) -> None:
        fds_data = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        while True:
            if self.error is not None:
                raise ForkServerError(self.error)
            try:
                self._sock.sendmsg([data], fds_data, socket.MSG_NOSIGNAL)
                return
            except BlockingIOError:  # the zygote is behind: wait until it has read some
                waiter = self.loop.create_future()
                if not self._send_waiters:
                    self.loop.add_writer(self._sock.fileno(), self._on_writable)
                self._send_waiters.append(waiter)
                await waiter
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    raise ForkServerError(f"the container's spec is too large ({len(data)} bytes)") from None
                self._lost()  # it is dying: the request fails with its exit, in _on_exit
                return

    def _on_writable(self) -> None:
        self.loop.remove_writer(self._sock.fileno())
        waiters, self._send_waiters = self._send_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _on_replies(self) -> None:
        while True:
            try:
                data = self._sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            request, pid, error = marshal.loads(data)
            future = self._waiting.pop(request, None)
            if future is None or future.done():  # its launch was cancelled meanwhile
                if pid:
                    self._discard(pid)
            elif pid:
                future.set_result(pid)
            else:
                future.set_exception(ForkServerError(error))

    def _on_exit(self) -> None:
        code = self._popen.poll()
        if code is None:
            return
        self.loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        self._gone(self._ended(code))

    def _ended(self, code: int) -> str:
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        return f"the sandbox's fork server (pid {self.pid}) ended ({how}); see the sandbox's log"

    def _lost(self) -> None:
        """The socket broke: it is dying (or confused, so make it die). Whatever waits on it fails
        when its exit is seen, with its exit status in the message."""
        self._close_socket()
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def _close_socket(self) -> None:
        if self._sock.fileno() >= 0:
            if not self.loop.is_closed():
                self.loop.remove_reader(self._sock.fileno())
                self.loop.remove_writer(self._sock.fileno())
            self._sock.close()

    def _gone(self, why: str) -> None:
        """Stop using it and fail whatever waits on it."""
        if self.error is None:
            self.error = why
        self._close_socket()
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ForkServerError(why))
        for waiter in self._send_waiters:
            if not waiter.done():
                waiter.set_result(None)  # _send then raises the error
        self._send_waiters = []

    def close(self) -> None:
        """Stop the zygote and reap it (the containers it started are ours: they carry on)."""
        code = self._popen.poll()
        self._gone("the sandbox's fork server was closed" if code is None else self._ended(code))
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            if not self.loop.is_closed():
                self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        self._popen.wait()  # killed just now: a matter of microseconds


_servers: dict[asyncio.AbstractEventLoop, ForkServer] = {}


def for_this_loop(env: dict[str, str], discard: Callable[[int], None]) -> ForkServer:
    """This loop's fork server, started if there is none or the last one died."""
    loop = asyncio.get_running_loop()
    server = _servers.get(loop)
    if server is not None and server.usable:
        return server
    for old_loop, old in list(_servers.items()):
        if old is server or old_loop.is_closed():
            del _servers[old_loop]
            old.close()
    _servers[loop] = ForkServer(env, discard)
    return _servers[loop]
