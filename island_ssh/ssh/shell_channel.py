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
from island_ssh.ssh.channel_io import close_channel, drain, raise_if_lost, ready_event, run_exec, send_all, wait_readable
from island_ssh.ssh.connection import Connection
from island_ssh.ssh.errors import CommandTimeout, ConnectionLost, LoginShellError, SessionLimitError, SSHError
from island_ssh.ssh.result import CommandResult

KILL_TIMEOUT = 3.0
PROFILE_OUTPUT_MAX = 1 << 20
"""A login profile printing more than this before the shell reads commands is refused (prints forever)."""
UPLOAD_PREFIX = "island_ssh_stdin"


class ShellChannel:
    def __init__(self, conn: Connection, channel: paramiko.Channel, ready: threading.Event, shell_pid: int) -> None:
        self.conn = conn
        self.channel = channel
        self.ready = ready
        self.shell_pid = shell_pid
        """PID (and process group) of the remote shell, for killing a stuck command."""
        self.usable = True
        self.profile_stdout = b""
        """What the login profile printed before the shell read its first command (discarded)."""
        self.profile_stderr = b""
        self.startup_seconds = 0.0
        """From the shell request until the shell read its first command: the profile's time."""

    @classmethod
    def open(cls, conn: Connection, timeout: float) -> "ShellChannel":
        """Open a login shell and wait until it reads commands. LoginShellError when its profile
        keeps it from ever doing so (see _refuse); CommandTimeout when only the caller's shorter
        deadline ran out."""
        started = time.monotonic()
        deadline = started + timeout
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
            try:
                out, err = _exchange(conn, channel, ready, framed, deadline, "<shell start>", PROFILE_OUTPUT_MAX)
            except _TooMuchOutput as exc:
                raise _refuse(conn, "printed more than", exc.out, exc.err, timeout) from None
            except CommandTimeout:
                if timeout < conn.target.connect_timeout:
                    raise  # the caller's own deadline, not the profile, set this limit
                raise _refuse(conn, "timeout", b"", b"", timeout) from None
            if not (out.done and err.done):
                raise _refuse(conn, f"exited (status {channel.recv_exit_status()})", out.received, err.received,
                              timeout)
            shell = cls(conn, channel, ready, out.value or 0)
        except BaseException:
            close_channel(channel)
            raise
        shell.profile_stdout, shell.profile_stderr = out.body, err.body
        shell.startup_seconds = time.monotonic() - started
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
        self._refuse_stray_output(command)
        path = None
        if stdin is not None and len(stdin) > inline_stdin_max:
            try:
                path = self._upload(bytes(stdin), deadline, command)
            except SessionLimitError:
                path = None  # no session left for the upload (MaxSessions): slower, but inline works
        if stdin is None:
            framed = framing.frame_command(command, token)
        elif path is None:
            framed = framing.frame_command(command, token, stdin_inline=bytes(stdin))
        else:
            framed = framing.frame_command(command, token, stdin_path=path)
        self.usable = False  # until the markers prove the stream is in step again
        out, err = _exchange(self.conn, self.channel, self.ready, framed, deadline, command)
        if out.done and err.done:
            self.usable = True
            return CommandResult(out.value or 0, out.body, err.body, command)
        # The shell itself ended (see _exchange): report its status.
        return CommandResult(self.channel.recv_exit_status(), out.received, err.received, command)

    def _refuse_stray_output(self, command: str) -> None:
        """Bytes that arrived while this shell sat idle come from no command of ours: a background
        job of the profile writes to the session and would mix into every command's output."""
        if not (self.channel.recv_ready() or self.channel.recv_stderr_ready()):
            return
        stray = bytearray()
        drain(self.channel, stray.extend, stray.extend)
        self.usable = False
        raise LoginShellError(
            f"the login shell of {self.conn.target} printed {len(stray)} bytes between commands "
            f"({_sample(bytes(stray))}): a background job started by its profile writes to the session, so "
            f"no command's output could be trusted; `{command}` was not started. Keep the login profile from "
            "starting jobs for non-interactive logins (e.g. `[ -t 0 ] || return` before them)",
            command=command,
        )

    def _upload(self, data: bytes, deadline: float, command: str) -> str:
        remaining = deadline - time.monotonic()
        token = framing.new_token()
        status, out, err = run_exec(self.conn, framing.upload_command(token, UPLOAD_PREFIX), data, remaining)
        path = framing.upload_path(out, token)
        if status != 0 or path is None:
            raise SSHError(
                f"could not store the input of `{command}` in a remote temp file "
                f"(exit {status}): {err.decode(errors='replace').strip()}; is $TMPDIR or /tmp writable?",
                command=command,
            )
        return path

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
        close_channel(self.channel)


class _TooMuchOutput(Exception):
    def __init__(self, out: bytes, err: bytes) -> None:
        super().__init__("too much output before the markers")
        self.out, self.err = out, err


def _shown(command: str, size: int = 200) -> str:
    """A lost command as its message shows it: a long script (the idle probe's is ~15 KB) would
    fill one log line; its first characters and its length tell which one it was."""
    return command if len(command) <= size else f"{command[:size]}... ({len(command.encode())} bytes)"


def _sample(data: bytes, size: int = 120) -> str:
    text = data[:size].decode("utf-8", errors="replace")
    return repr(text) + ("..." if len(data) > size else "")


def _refuse(conn: Connection, how: str, out: bytes, err: bytes, timeout: float) -> LoginShellError:
    """Why the login shell of conn.target never read its first command, and what to do."""
    target = conn.target
    if how == "timeout":
        what = (f"did not read its first command within {timeout:.1f}s: its profile is slow, waits for input or a "
                "terminal, `exec`s a program that does not read commands, or prints without end")
        fix = ("make the profile quick and quiet for non-interactive logins (e.g. `[ -t 0 ] || return` before "
               "interactive parts), or raise ssh.connect_timeout if it is only slow")
    elif how == "printed more than":
        what = f"printed more than {PROFILE_OUTPUT_MAX} bytes before reading its first command ({_sample(out or err)})"
        fix = "stop the profile printing without end for non-interactive logins (e.g. `[ -t 0 ] || return`)"
    else:
        what = (f"{how} before reading its first command ({_sample(out + err)}): its profile exits or `exec`s a "
                "program that is not a shell (tmux, screen, ...)")
        fix = "let non-interactive logins fall through to the shell (e.g. `[ -t 0 ] || return` before the exec)"
    return LoginShellError(f"the login shell of {target} {what}; island_ssh runs commands through it: {fix}")


def _exchange(
    conn: Connection,
    channel: paramiko.Channel,
    ready: threading.Event,
    framed: framing.Framed,
    deadline: float,
    command: str,
    limit: int | None = None,
) -> tuple[framing.MarkerScanner, framing.MarkerScanner]:
    """Send a framed script and read until both markers, or until the shell ends.

    Returns the scanners; if they are not both done, the shell exited (exit status is ready).
    Raises CommandTimeout at the deadline and ConnectionLost if the connection dies;
    _TooMuchOutput once more than ``limit`` bytes arrived without the markers.
    """
    out = framing.MarkerScanner(framed.stdout_marker, with_value=True)
    err = framing.MarkerScanner(framed.stderr_marker, with_value=False)
    feed_out, feed_err = out.feed, err.feed
    if limit is not None:
        # checked per chunk: drain() keeps reading while a flood keeps coming
        def feed_out(data: bytes) -> None:
            out.feed(data)
            if not out.done and out.size + err.size > limit:
                raise _TooMuchOutput(out.received, err.received)

        def feed_err(data: bytes) -> None:
            err.feed(data)
            if not err.done and out.size + err.size > limit:
                raise _TooMuchOutput(out.received, err.received)
    send_all(channel, framed.script, conn, deadline, command)
    since = time.monotonic()
    while True:
        if drain(channel, feed_out, feed_err):
            since = time.monotonic()
            if out.done and err.done:
                return out, err
            continue
        if channel.closed:
            drain(channel, feed_out, feed_err)
            if out.done and err.done:
                return out, err
            if conn.transport.is_active() and channel.exit_status_ready():
                return out, err
            try:
                raise_if_lost(conn, since)
            except ConnectionLost as exc:  # same words as the timeout path: the caller must know
                raise ConnectionLost(f"{exc.message}; `{_shown(command)}` was in flight and was not re-run",
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
            raise ConnectionLost(f"{exc}; `{_shown(command)}` was in flight and was not re-run",
                                 command=command) from None
        wait_readable(channel, ready, deadline - now)
