"""The SSH layer: one persistent connection to the Kubernetes master.

``RemoteShell(target).run(cmd, stdin=..., timeout=...)`` for commands, ``.stream(cmd)`` for
long-lived ones (``kubectl get -w``). See shell.py for the guarantees.
"""

from .connection import fingerprint
from .errors import AuthError, CommandTimeout, ConnectError, ConnectionLost, HostKeyError, SSHError
from .result import CommandResult
from .shell import RemoteShell, ShellClosed
from .stream import Stream, StreamTimeout
from .target import SSHTarget

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
    "fingerprint",
]
