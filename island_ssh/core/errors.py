"""The one exception family of island_ssh.

Every error carries what a person needs to act on it: the command that failed, its exit code,
the island it concerns. Messages say what went wrong and, where we know, what to do.
"""

from __future__ import annotations


class IslandError(Exception):
    """Root of every error island_ssh raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        command: str | None = None,
        exit_code: int | None = None,
        island_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.command = command
        self.exit_code = exit_code
        self.island_id = island_id

    def __str__(self) -> str:
        return self.message


class ConfigError(IslandError):
    """A setting is missing or malformed; the message names the key and the file."""


class SSHError(IslandError):
    """Anything that went wrong talking to the Kubernetes master over SSH."""


class HostKeyError(SSHError):
    """The master's host key is unknown or changed; nothing was added to known_hosts."""


class AuthError(SSHError):
    """Key authentication to the master failed."""


class ConnectionLost(SSHError):
    """The SSH connection dropped while a command was in flight; the command was not re-run."""


class CommandTimeout(SSHError):
    """A remote command ran past its timeout; its channel was discarded."""


class KubectlError(IslandError):
    """kubectl on the master exited non-zero; carries its stderr and exit code."""

    def __init__(self, message: str, *, stderr: str = "", **context) -> None:
        super().__init__(message, **context)
        self.stderr = stderr


class NotFound(KubectlError):
    """The Kubernetes object does not exist."""


class AllocationError(IslandError):
    """No free island id (and port block) is left in the configured range."""


class StoreError(IslandError):
    """The database refused or could not be reached; also schema-version mismatches."""


class InvalidInput(IslandError):
    """A value a user typed was refused; the message says which field and why."""


class PermissionDenied(IslandError):
    """The user may not do this to that island."""


class IslandNotFound(IslandError):
    """No island with that id."""
