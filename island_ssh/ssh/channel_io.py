"""Moving bytes through one paramiko channel with deadlines, without busy polling.

paramiko's channel buffers set an Event we give them (``BufferedPipe.set_event``) whenever
stdout or stderr data arrives or the channel closes, and clear it when drained; waiting is a
wait on that Event (cheaper than ``Channel.fileno()``'s OS pipe: no extra syscalls per packet).
Only the channel's one reader drains, and it re-checks both buffers before every wait, so one
Event shared by both buffers loses no wake-up. Every wait is bounded: by the caller's deadline
and by TICK, after which the connection's liveness is checked again.
"""

from __future__ import annotations

import socket
import threading
import time

import paramiko

from island_ssh.ssh.connection import Connection
from island_ssh.ssh.errors import CommandTimeout, ConnectionLost

TICK = 0.5
CHUNK = 1 << 16
SEND_CHUNK = 1 << 15


def ready_event(channel: paramiko.Channel) -> threading.Event:
    """The Event set when the channel has stdout/stderr data or closed (attach once per channel)."""
    event = threading.Event()
    channel.in_buffer.set_event(event)
    channel.in_stderr_buffer.set_event(event)
    return event


def close_channel(channel: paramiko.Channel) -> None:
    """Close a channel whose transport may already be gone (sshd stopped, socket reset).

    paramiko sends CHANNEL_CLOSE through the transport and raises EOFError or OSError when the
    socket is dead; the channel is closed on our side either way, which is all a close owes.
    """
    try:
        channel.close()
    except (EOFError, OSError, paramiko.SSHException):
        pass


def wait_readable(channel: paramiko.Channel, ready: threading.Event, timeout: float) -> None:
    if timeout <= 0 or channel.recv_ready() or channel.recv_stderr_ready() or channel.closed:
        return
    ready.wait(min(timeout, TICK))


def drain(channel: paramiko.Channel, on_stdout, on_stderr) -> bool:
    """Hand every byte already received to the callbacks; True if there were any."""
    got = False
    while channel.recv_ready():
        data = channel.recv(CHUNK)
        if not data:
            break
        on_stdout(data)
        got = True
    while channel.recv_stderr_ready():
        data = channel.recv_stderr(CHUNK)
        if not data:
            break
        on_stderr(data)
        got = True
    return got


def send_all(
    channel: paramiko.Channel,
    data: bytes,
    conn: Connection,
    deadline: float,
    command: str,
) -> None:
    """Send everything, or raise CommandTimeout / ConnectionLost (never block past deadline)."""
    view = memoryview(data)
    sent = 0
    waiting_since = time.monotonic()
    channel.settimeout(TICK)
    try:
        while sent < len(view):
            try:
                n = channel.send(view[sent : sent + SEND_CHUNK])
            except socket.timeout:
                n = 0
            if n == 0 and channel.closed:
                raise_if_lost(conn, waiting_since)
                raise ConnectionLost(f"the remote shell closed while `{command}` was being sent", command=command)
            if n:
                sent += n
                waiting_since = time.monotonic()
                continue
            if time.monotonic() >= deadline:
                raise CommandTimeout(
                    f"could not send the input of `{command}` in time: the remote side stopped reading",
                    command=command,
                )
            conn.check_alive(waiting_since)
    finally:
        channel.settimeout(None)


def raise_if_lost(conn: Connection, since: float) -> None:
    if not conn.transport.is_active() or conn.lost_reason is not None:
        conn.check_alive(since)  # raises ConnectionLost with the reason


def run_exec(conn: Connection, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
    """A one-off exec channel (no login profile): exact stdin with EOF, exit status, output."""
    deadline = time.monotonic() + timeout
    channel = conn.open_channel(timeout, f"`{command}`")
    try:
        with conn.watchdog(timeout, f"an exec request for `{command}`"):
            try:
                channel.exec_command(command)
            except (paramiko.SSHException, EOFError) as exc:
                raise_if_lost(conn, time.monotonic())
                raise ConnectionLost(f"exec of `{command}` failed: {exc}", command=command) from exc
        if stdin:
            send_all(channel, stdin, conn, deadline, command)
        channel.shutdown_write()
        ready = ready_event(channel)
        out, err = bytearray(), bytearray()
        since = time.monotonic()
        while not channel.closed or channel.recv_ready() or channel.recv_stderr_ready():
            if drain(channel, out.extend, err.extend):
                since = time.monotonic()
                continue
            if channel.closed:
                break
            if time.monotonic() >= deadline:
                raise CommandTimeout(f"`{command}` did not finish within {timeout}s", command=command)
            conn.check_alive(since)
            wait_readable(channel, ready, deadline - time.monotonic())
        if not channel.exit_status_ready():
            raise_if_lost(conn, since)
            raise ConnectionLost(f"`{command}` ended without an exit status", command=command)
        return channel.recv_exit_status(), bytes(out), bytes(err)
    finally:
        close_channel(channel)
