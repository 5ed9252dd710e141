"""One persistent login shell on a channel without a PTY, running framed commands one at a time.

No PTY: nothing is echoed, newlines are not rewritten, lines are not capped at 4095 bytes, and the
user's login shell reads its profile (PATH, KUBECONFIG) once, when the channel opens.
A ShellChannel is used by one thread at a time (the pool in RemoteShell sees to that). After a
timeout or any surprise it is closed, never reused: its byte stream can no longer be trusted.
"""

from __future__ import annotations

import threading
import time

import paramiko

from island_ssh.ssh import framing
from island_ssh.ssh.channel_io import drain, raise_if_lost, ready_event, run_exec, send_all, wait_readable
from island_ssh.ssh.connection import Connection
from island_ssh.ssh.errors import CommandTimeout, ConnectionLost, SSHError
from island_ssh.ssh.result import CommandResult

KILL_TIMEOUT = 3.0
UPLOAD_PREFIX = "island_ssh_stdin"


class ShellChannel:
    def __init__(self, conn: Connection, channel: paramiko.Channel, ready: threading.Event, shell_pid: int) -> None:
        self.conn = conn
        self.channel = channel
        self.ready = ready
        self.shell_pid = shell_pid
        """PID (and process group) of the remote shell, for killing a stuck command."""
        self.usable = True

    @classmethod
    def open(cls, conn: Connection, timeout: float) -> "ShellChannel":
        deadline = time.monotonic() + timeout
        channel = conn.open_channel(timeout, "a shell channel")
        try:
            with conn.watchdog(timeout, "a shell request"):
                try:
                    channel.invoke_shell()
                except (paramiko.SSHException, EOFError) as exc:
                    raise_if_lost(conn, time.monotonic())
                    raise SSHError(f"{conn.target} refused a shell: {exc}") from exc
            ready = ready_event(channel)
            framed = framing.frame_sync(framing.new_token())
            out, _ = _exchange(conn, channel, ready, framed, deadline, "<shell start>")
            shell = cls(conn, channel, ready, out.value or 0)
        except BaseException:
            channel.close()
            raise
        return shell

    def run(
        self,
        command: str,
        stdin: bytes | None,
        deadline: float,
        inline_stdin_max: int,
    ) -> CommandResult:
        """Run once; CommandTimeout / ConnectionLost leave this channel unusable.

        A command that ends the shell itself (``exit 3``, ``exec``) returns the shell's exit
        status with the output it produced; the channel is then retired.
        """
        token = framing.new_token()
        if stdin is None:
            framed = framing.frame_command(command, token)
        elif len(stdin) <= inline_stdin_max:
            framed = framing.frame_command(command, token, stdin_inline=bytes(stdin))
        else:
            path = self._upload(bytes(stdin), deadline, command)
            framed = framing.frame_command(command, token, stdin_path=path)
        self.usable = False  # until the markers prove the stream is in step again
        out, err = _exchange(self.conn, self.channel, self.ready, framed, deadline, command)
        if out.done and err.done:
            self.usable = True
            return CommandResult(out.value or 0, out.body, err.body, command)
        # The shell itself ended (see _exchange): report its status.
        return CommandResult(self.channel.recv_exit_status(), out.received, err.received, command)

    def _upload(self, data: bytes, deadline: float, command: str) -> str:
        remaining = deadline - time.monotonic()
        status, out, err = run_exec(self.conn, framing.upload_command(UPLOAD_PREFIX), data, remaining)
        if status != 0:
            raise SSHError(
                f"could not store the input of `{command}` in a remote temp file "
                f"(exit {status}): {err.decode(errors='replace').strip()}; is $TMPDIR or /tmp writable?",
                command=command,
            )
        return out.decode("utf-8").strip()

    def abandon(self) -> None:
        """After a timeout: kill the remote shell's whole process group, then close."""
        self.usable = False
        if self.shell_pid > 1 and self.conn.usable:
            try:
                run_exec(self.conn, framing.kill_group_command(self.shell_pid), None, KILL_TIMEOUT)
            except SSHError:
                pass  # best effort: closing the channel below still ends the session
        self.close()

    def close(self) -> None:
        self.usable = False
        self.channel.close()


def _exchange(
    conn: Connection,
    channel: paramiko.Channel,
    ready: threading.Event,
    framed: framing.Framed,
    deadline: float,
    command: str,
) -> tuple[framing.MarkerScanner, framing.MarkerScanner]:
    """Send a framed script and read until both markers, or until the shell ends.

    Returns the scanners; if they are not both done, the shell exited (exit status is ready).
    Raises CommandTimeout at the deadline and ConnectionLost if the connection dies.
    """
    out = framing.MarkerScanner(framed.stdout_marker, with_value=True)
    err = framing.MarkerScanner(framed.stderr_marker, with_value=False)
    send_all(channel, framed.script, conn, deadline, command)
    since = time.monotonic()
    while True:
        if drain(channel, out.feed, err.feed):
            since = time.monotonic()
            if out.done and err.done:
                return out, err
            continue
        if channel.closed:
            drain(channel, out.feed, err.feed)
            if out.done and err.done:
                return out, err
            if conn.transport.is_active() and channel.exit_status_ready():
                return out, err
            try:
                raise_if_lost(conn, since)
            except ConnectionLost as exc:  # same words as the timeout path: the caller must know
                raise ConnectionLost(f"{exc.message}; `{command}` was in flight and was not re-run",
                                     command=command) from None
            raise ConnectionLost(
                f"the shell channel to {conn.target} closed during `{command}` without an exit status; "
                "it was not re-run",
                command=command,
            )
        now = time.monotonic()
        if now >= deadline:
            raise CommandTimeout(
                f"`{command}` ran past its timeout on {conn.target}; its shell was killed and "
                "replaced. Raise timeout= if it legitimately takes longer.",
                command=command,
            )
        try:
            conn.check_alive(since)
        except ConnectionLost as exc:
            raise ConnectionLost(f"{exc}; `{command}` was in flight and was not re-run", command=command) from None
        wait_readable(channel, ready, deadline - now)
