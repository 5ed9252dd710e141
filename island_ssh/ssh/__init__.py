"""The SSH layer: one persistent connection to the Kubernetes master.

``RemoteShell(target).run(cmd, stdin=..., timeout=...)`` for commands, ``.stream(cmd)`` for
long-lived ones (``kubectl get -w``). See shell.py for the guarantees.
"""

from island_ssh.ssh.connection import fingerprint
from island_ssh.ssh.errors import (AuthError, CommandTimeout, ConnectError, ConnectionLost, HostKeyError,
                                  LoginShellError, SessionLimitError, SSHError)
from island_ssh.ssh.result import CommandResult
from island_ssh.ssh.shell import RemoteShell, ShellClosed
from island_ssh.ssh.stream_channel import Stream, StreamTimeout
from island_ssh.ssh.target import SSHTarget

__all__ = [
    "SSHTarget",
    "RemoteShell",
    "CommandResult",
    "Stream",
    "StreamTimeout",
    "ShellClosed",
    "SSHError",
    "HostKeyError",
    "AuthError",
    "ConnectionLost",
    "ConnectError",
    "CommandTimeout",
    "LoginShellError",
    "SessionLimitError",
    "fingerprint",
]
