"""SSH errors: the shared family from island_ssh.core.errors plus the ones only this layer raises."""

from __future__ import annotations

from island_ssh.core.errors import AuthError, CommandTimeout, ConnectionLost, HostKeyError, SSHError


class ConnectError(SSHError):
    """The master could not be reached (refused, unreachable, timed out) within connect_timeout."""


__all__ = ["SSHError", "HostKeyError", "AuthError", "ConnectionLost", "CommandTimeout", "ConnectError"]
