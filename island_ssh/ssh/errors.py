"""SSH errors: the part of the family in island_ssh.core.errors that this layer raises, under one name."""

from __future__ import annotations

from island_ssh.core.errors import (AuthError, CommandTimeout, ConnectError, ConnectionLost, HostKeyError,
                                   LoginShellError, SessionLimitError, SSHError, ShellClosed, StreamTimeout)

__all__ = ["SSHError", "HostKeyError", "AuthError", "ConnectionLost", "CommandTimeout", "ConnectError", "ShellClosed",
           "StreamTimeout", "LoginShellError", "SessionLimitError"]
