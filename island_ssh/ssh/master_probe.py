"""What the master's sshd and login shell look like to island_ssh, for ``doctor``: the login shell
and its version, sshd's pre-auth banner, what the login profile prints and how long it takes, and
how many session channels one connection is granted (sshd MaxSessions).

Probes run on a connection of their own (closed at the end), so they never count against, or
disturb, the pool of a RemoteShell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from island_ssh.ssh.connection import Connection, open_connection, session_limit_message
from island_ssh.ssh.errors import SessionLimitError
from island_ssh.ssh.shell_channel import ShellChannel
from island_ssh.ssh.target import SSHTarget

# passwd's shell, then what runs (a wrapper may exec another), then the version variables
_SHELL_INFO = ('getent passwd "$(id -un)" | cut -d: -f7; readlink "/proc/$$/exe" || echo "?"; '
               'printf "%s\\n" "${BASH_VERSION:+bash $BASH_VERSION}${ZSH_VERSION:+zsh $ZSH_VERSION}"')


@dataclass(frozen=True)
class LoginShellReport:
    shell: str
    """The login user's shell (passwd)."""
    runs: str
    """The program that runs for it (readlink /proc/PID/exe: a wrapper's target)."""
    version: str
    """``bash 5.2.15(1)-release``, ``zsh 5.9``, or empty (dash and other POSIX shells)."""
    banner: bytes
    """sshd's pre-authentication Banner (not in the session: it cannot disturb commands)."""
    profile_stdout: bytes
    profile_stderr: bytes
    """What the login profile printed before the shell read commands (discarded by RemoteShell)."""
    startup_seconds: float
    """From the shell request until the shell read its first command."""

    @property
    def profile_noise(self) -> int:
        return len(self.profile_stdout) + len(self.profile_stderr)


def probe_login_shell(target: SSHTarget) -> LoginShellReport:
    """Open one shell channel as RemoteShell does and describe it. Raises LoginShellError (the
    shell cannot be served), SessionLimitError, or the connection's errors."""
    conn = open_connection(target)
    try:
        banner = conn.transport.get_banner() or b""
        shell = ShellChannel.open(conn, target.connect_timeout)
        try:
            result = shell.run(_SHELL_INFO, None, time.monotonic() + target.command_timeout, 0)
        finally:
            shell.close()
    finally:
        conn.close()
    lines = (result.stdout.splitlines() + ["", "", ""])[:3]
    return LoginShellReport(shell=lines[0] or "?", runs=lines[1], version=lines[2], banner=bytes(banner),
                            profile_stdout=shell.profile_stdout, profile_stderr=shell.profile_stderr,
                            startup_seconds=shell.startup_seconds)


@dataclass(frozen=True)
class SessionReport:
    granted: int
    """Session channels the master opened on one connection, up to ``wanted``."""
    wanted: int
    """ssh.pool_size + 1: the shell pool plus the watch."""
    advice: str
    """What to change when granted < wanted (else empty)."""

    @property
    def enough(self) -> bool:
        return self.granted >= self.wanted


def probe_sessions(target: SSHTarget) -> SessionReport:
    """Open session channels on a fresh connection until the master refuses or pool_size + 1 are
    open, then close them all."""
    wanted = target.pool_size + 1
    conn = open_connection(target)
    try:
        granted = _open_until_refused(conn, wanted)
    finally:
        conn.close()
    advice = "" if granted >= wanted else session_limit_message(target, granted)
    return SessionReport(granted, wanted, advice)


def _open_until_refused(conn: Connection, wanted: int) -> int:
    channels = []
    try:
        while len(channels) < wanted:
            try:
                channels.append(conn.open_channel(conn.target.connect_timeout, "doctor's session count"))
            except SessionLimitError:
                break
        return len(channels)
    finally:
        for channel in channels:
            channel.close()
