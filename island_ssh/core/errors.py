"""The one exception family of island_ssh: every error the library raises on purpose, in one module.

Every error carries what a person needs to act on it: the command that failed, its exit code,
the island it concerns. Messages say what went wrong and, where we know, what to do.

Each class also says how the faces answer it, so the command line and the web cannot disagree
and a new error cannot fall through a map: ``cli_exit`` is the command line's exit code (the
promise of README.md "Exit codes"), ``http_status`` the web's status. Both are class attributes;
an instance's ``exit_code`` is something else (the exit code of the remote command that failed).

  family (its subclasses inherit)                     cli_exit  http_status
  IslandError (anything else of ours)                 1         500
  InvalidInput (ClockError, InvalidField)             2         400
  ConfigError                                         3         500
  IslandNotFound                                      4         404 (PodGone: 410)
  PermissionDenied                                    5         403 (RegistrationRefused: 409)
  AllocationError (CapacityError, QuotaExceeded)     6         409
  SSHError, StoreError                                7         503 (CommandTimeout: 504)
  LoginShellError, SessionLimitError (SSHError)       3         503
  ReadChannelsBusy (SSHError)                         7         503 (+ Retry-After)
  KubectlError                                        8         502 (NotFound: 404)
  UnreadableOutput (WatchParseError, PodParseError)   8         502
  ClockNotTaken (PreloadMissing, ClockFileMismatch,  1         502
    ClockFileUnwritable)

The web layer's own errors (``island_ssh_web.errors``, ``island_ssh_web.auth``) live there and
carry the same two attributes.
"""

from __future__ import annotations

from typing import ClassVar


class IslandError(Exception):
    """Root of every error island_ssh raises on purpose."""

    cli_exit: ClassVar[int] = 1
    http_status: ClassVar[int] = 500

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

    cli_exit = 3
    http_status = 500  # the server's own configuration: not the client's to fix


# -- the master, over SSH ------------------------------------------------------------------------


class SSHError(IslandError):
    """Anything that went wrong talking to the Kubernetes master over SSH."""

    cli_exit = 7
    http_status = 503


class HostKeyError(SSHError):
    """The master's host key is unknown or changed; nothing was added to known_hosts."""


class AuthError(SSHError):
    """Key authentication to the master failed."""


class ConnectError(SSHError):
    """The master could not be reached (refused, unreachable, timed out) within connect_timeout."""


class ConnectionLost(SSHError):
    """The SSH connection dropped while a command was in flight; the command was not re-run."""


class CommandTimeout(SSHError):
    """A remote command ran past its timeout; its channel was discarded."""

    http_status = 504


class StreamTimeout(SSHError):
    """Nothing arrived within the wait; the stream is still running: wait again or close it."""


class ShellClosed(SSHError):
    """This RemoteShell was closed; make a new one."""


class LoginShellError(SSHError):
    """The master's login shell cannot run framed commands (its profile prints forever, reads
    stdin, ``exec``s another program or exits); the message names the cause and the fix.

    Exit 3 like a ConfigError: the master's set-up (the login user's profile) must change."""

    cli_exit = 3


class SessionLimitError(SSHError):
    """The master refused one more session channel on the connection (sshd ``MaxSessions``);
    the message says which setting to change, on the master or in ssh.pool_size.

    Exit 3 like a ConfigError: a setting (sshd's or ours) must change, nothing is down."""

    cli_exit = 3


class ReadChannelsBusy(SSHError):
    """Every SSH channel set aside for user reads (logs, logs -f; ``ssh.user_read_channels``) stayed
    busy for ``ssh.user_read_wait`` seconds; nothing was started. Try again shortly: 503 with
    Retry-After on the web, exit 7 on the command line. The service's own work never gets this."""


class LineTooLong(IslandError):
    """A line grew past the splitter's limit without a newline; the stream is not line-based
    or is runaway output. Raise the limit (max_line) if such lines are legitimate.

    Not UnreadableOutput: the stream may be an island's own log (``logs -f``), not kubectl's."""


# -- kubectl on the master -----------------------------------------------------------------------


class KubectlError(IslandError):
    """kubectl on the master exited non-zero; carries its stderr and exit code."""

    cli_exit = 8
    http_status = 502

    def __init__(self, message: str, *, stderr: str = "", **context) -> None:
        super().__init__(message, **context)
        self.stderr = stderr


class Forbidden(KubectlError):
    """The master's Kubernetes user lacks a right island_ssh uses (RBAC said Forbidden).

    Exit 5 (permission denied); the web says 502: the service's own rights on the cluster, not
    the tester's, are missing. The message names the right and conf/kubernetes/rbac.yaml."""

    cli_exit = 5


class NotFound(KubectlError):
    """The Kubernetes object does not exist.

    Exit 8, not 4: kubectl's answer about the cluster (4 means no island row with that id);
    the web says 404, as for any object that is not there."""

    http_status = 404


class UnreadableOutput(IslandError):
    """kubectl or the master printed something we could not read (not JSON, not a watch event,
    not a pod). Their output, not the user's input: answered like a kubectl failure."""

    cli_exit = 8
    http_status = 502


class WatchParseError(UnreadableOutput):
    """A line or document from kubectl is not what a watch event / pod list looks like."""


class PodParseError(UnreadableOutput):
    """The object handed to classify() is not a Pod mapping at all."""


# -- room for islands, the database --------------------------------------------------------------


class AllocationError(IslandError):
    """No free island id (and port block) is left in the configured range."""

    cli_exit = 6
    http_status = 409


class CapacityError(AllocationError):
    """No node of the branch can fit the island's memory request right now.

    Like running out of ids, a lack of room (exit 6, 409), not a refused value: the same request
    may fit once other islands are deleted."""


class QuotaExceeded(AllocationError):
    """The owner's quota (quotas.*: islands, total memory request) has no room for this launch;
    nothing was allocated. Exit 6 and 409 like every "no room" answer: the same launch fits once
    the owner deletes islands (or an admin raises the quota)."""


class StoreError(IslandError):
    """The database refused or could not be reached; also schema-version mismatches."""

    cli_exit = 7
    http_status = 503


# -- the user ------------------------------------------------------------------------------------


class InvalidInput(IslandError):
    """A value a user typed was refused; the message says which field and why."""

    cli_exit = 2
    http_status = 400


class InvalidField(InvalidInput):
    """A user-typed value was refused; ``field`` names it."""

    def __init__(self, field: str, why: str, **context) -> None:
        super().__init__(f"{field}: {why}", **context)
        self.field = field


class ClockError(InvalidInput):
    """A clock text could not be understood, or would put the island's clock out of range."""


class ClockNotTaken(IslandError):
    """An island's clock could not be set or proven: its server does not read what was asked
    (within the cache duration + 1 s), or the clock script found why it cannot (the subclasses).
    The island's fault, not the request's: exit 1, 502 (the island did not do it); the message
    says what to check."""

    http_status = 502


class PreloadMissing(ClockNotTaken):
    """No process in the server container runs under libfaketime (not running, static, Go)."""


class ClockFileMismatch(ClockNotTaken):
    """The server reads another FAKETIME_TIMESTAMP_FILE than the one island_ssh writes."""


class ClockFileUnwritable(ClockNotTaken):
    """The clock file could not be written in the server container; the clock did not change."""


class PermissionDenied(IslandError):
    """The user may not do this to that island."""

    cli_exit = 5
    http_status = 403


class RegistrationRefused(PermissionDenied):
    """A pod holding its island's token may not register so: the island is going or gone, a fact
    differs from the island row's, or this launch already registered other facts. 409, not 403:
    the caller proved it holds the live token, so saying why leaks nothing and tells its
    entry script to stop retrying."""

    http_status = 409


class IslandNotFound(IslandError):
    """No island with that id."""

    cli_exit = 4
    http_status = 404


class PodGone(IslandNotFound):
    """The island's pod no longer exists, and what only the pod held went with it (issue 15: the
    remains of an ended server). 410 Gone: the island is known, the thing asked for is no more."""

    http_status = 410


# -- our own mistakes ----------------------------------------------------------------------------


class StateMachineError(IslandError):
    """A caller passed a state or event type the machine does not know (a programming error)."""
