"""What the store hands out (frozen rows) and what it accepts (checked values). Pure: no I/O.

Values a person or a pod supplied are checked here before any SQL runs, so a bad one is
refused with InvalidInput naming the field, never with a database error. Text observed from
Kubernetes (reason, message) is truncated instead: a watch must not stop on a long message.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from island_ssh.core.errors import InvalidInput
from island_ssh.core.names import FREE_STATE, ISLAND_STATES  # noqa: F401  (re-exported: store callers)

# Column sizes (characters) of migrations/0001 and 0002; keep them in step.
MAX_OWNER = 128
MAX_OWNER_ID = 128  # migrations/0003
MAX_BRANCH = 64
MAX_POD_NAME = 253
MAX_NODE = 253
MAX_IP = 45
MAX_REASON = 255
MAX_MESSAGE = 256 * 1024
MAX_CLOCK_SETTING = 255
MAX_OVERRIDES_JSON = 64 * 1024
MAX_PORTS = 16
_TRUNCATED = " ...[truncated]"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def utc(value: datetime | None) -> datetime | None:
    """pymysql gives naive datetimes; every session of ours runs at time_zone +00:00."""
    return value.replace(tzinfo=timezone.utc) if value is not None else None


@dataclass(frozen=True)
class IslandRow:
    island_id: int
    generation: int
    state: str
    reason: str
    message: str
    pod_name: str
    owner: str
    branch: str
    node: str | None
    host_ip: str | None
    port_base: int | None
    clock_offset_seconds: float | None
    clock_setting: str | None
    overrides: dict = field(default_factory=dict)
    token_hash: str | None = None
    resource_version: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    state_since: datetime | None = None
    ready_at: datetime | None = None
    deleted_at: datetime | None = None
    owner_id: str = ""
    """The owner's stable user id: what permission checks compare (``owner`` is only shown).
    Empty matches nobody, so a row built without it is changed by admins only."""
    applier: str | None = None
    """While its apply waits in a service process's queue: that process's MySQL lock name
    (migrations/0004; store/applies.py). A free lock means the apply was accepted and lost."""
    lease_expires_at: datetime | None = None
    """When the island's lease ends (UTC; migrations/0006, core.lease); None: no lease yet."""
    lease_warned_at: datetime | None = None
    """When its owner was warned that the lease ends soon; None until then."""
    idle_generation: int | None = None
    """The generation the idle fields below belong to (migrations/0009; store/idle.record_of)."""
    quiet_since: datetime | None = None
    idle_since: datetime | None = None
    """Set while the island is idle: no established connection on its ports since then (core.idle)."""
    last_activity_at: datetime | None = None
    activity_checked_at: datetime | None = None
    idle_warned_at: datetime | None = None
    code_version: str | None = None
    """The code version this generation's pod registered (migrations/0010, core.code_version): the
    version, "" (no version file) or "!unreadable"; None: not reported by this generation."""
    code_version_at: datetime | None = None

    @property
    def ports(self) -> tuple[int, int, int] | tuple[()]:
        if self.port_base is None:
            return ()
        return (self.port_base, self.port_base + 1, self.port_base + 2)

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "IslandRow":
        return cls(
            island_id=int(r["island_id"]), generation=int(r["generation"]), state=r["state"],
            reason=r["reason"] or "", message=r["message"] or "", pod_name=r["pod_name"] or "",
            owner=r["owner"] or "", branch=r["branch"] or "", node=r["node"], host_ip=r["host_ip"],
            port_base=r["port_base"], clock_offset_seconds=r["clock_offset_seconds"],
            clock_setting=r["clock_setting"],
            overrides=json.loads(r["overrides"]) if r["overrides"] else {},
            token_hash=r["token_hash"], resource_version=r["resource_version"],
            created_at=utc(r["created_at"]), updated_at=utc(r["updated_at"]),
            state_since=utc(r["state_since"]), ready_at=utc(r["ready_at"]), deleted_at=utc(r["deleted_at"]),
            owner_id=r.get("owner_id") or "",
            applier=r.get("applier"),
            lease_expires_at=utc(r.get("lease_expires_at")), lease_warned_at=utc(r.get("lease_warned_at")),
            idle_generation=r.get("idle_generation"), quiet_since=utc(r.get("quiet_since")),
            idle_since=utc(r.get("idle_since")), last_activity_at=utc(r.get("last_activity_at")),
            activity_checked_at=utc(r.get("activity_checked_at")), idle_warned_at=utc(r.get("idle_warned_at")),
            # only this generation's report counts (an older one is from before a restart)
            code_version=r.get("code_version") if r.get("code_version_generation") == r["generation"] else None,
            code_version_at=utc(r.get("code_version_at")) if r.get("code_version_generation") == r["generation"] else None,
        )


@dataclass(frozen=True)
class EventRow:
    id: int
    island_id: int
    generation: int
    at: datetime
    from_state: str | None
    to_state: str
    reason: str
    message: str
    resource_version: int | None

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "EventRow":
        return cls(
            id=int(r["id"]), island_id=int(r["island_id"]), generation=int(r["generation"]), at=utc(r["at"]),
            from_state=r["from_state"], to_state=r["to_state"], reason=r["reason"] or "",
            message=r["message"] or "", resource_version=r["resource_version"],
        )


@dataclass(frozen=True)
class RegistrationRow:
    island_id: int
    node_ip: str
    ports: tuple[int, ...]
    pod_name: str
    registered_at: datetime
    updated_at: datetime

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "RegistrationRow":
        ports = tuple(int(p) for p in r["ports"].split(",") if p.strip().isdigit())
        return cls(
            island_id=int(r["island_id"]), node_ip=r["node_ip"], ports=ports, pod_name=r["pod_name"],
            registered_at=utc(r["registered_at"]), updated_at=utc(r["updated_at"]),
        )


@dataclass(frozen=True)
class RegistrationResult:
    island_id: int
    generation: int
    state: str
    created: bool
    """True for the first registration of this island id, False for a repeat (an update)."""
    registration: RegistrationRow


# -- checks ----------------------------------------------------------------------------------
def check_text(field_name: str, value: Any, max_chars: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field_name}: expected text, got {type(value).__name__}")
    if required and not value.strip():
        raise InvalidInput(f"{field_name}: must not be empty")
    if len(value) > max_chars:
        raise InvalidInput(f"{field_name}: {len(value)} characters, at most {max_chars} allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field_name}: contains characters that are not valid Unicode (lone surrogates)") from None
    return value


def observed_text(value: Any, max_chars: int) -> str:
    """Text from Kubernetes: never refused, only made storable."""
    text = "" if value is None else str(value)
    text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) > max_chars:
        text = text[: max_chars - len(_TRUNCATED)] + _TRUNCATED
    return text


def check_state(state: str) -> str:
    if state not in ISLAND_STATES:
        raise InvalidInput(f"state {state!r} is not one of {', '.join(ISLAND_STATES)}")
    return state


def check_island_id(island_id: Any) -> int:
    if isinstance(island_id, bool) or not isinstance(island_id, int) or island_id < 0:
        raise InvalidInput(f"island id must be a non-negative integer, got {island_id!r}")
    return island_id


def check_token_hash(token_hash: Any) -> str:
    if not isinstance(token_hash, str) or not _SHA256_HEX.match(token_hash):
        raise InvalidInput("token_hash: expected the sha256 hex digest (64 lowercase hex digits) of the token")
    return token_hash


def check_ip(field_name: str, value: Any) -> str:
    text = check_text(field_name, value, MAX_IP, required=True)
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise InvalidInput(f"{field_name}: {text[:60]!r} is not an IP address") from None


def check_ports(value: Any) -> str:
    """Ports as a list of ints (or "a,b,c", or "a b c" as ISLAND_PORTS has them) -> the stored text "a,b,c"."""
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,\s]+", value.strip())]
        if not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in parts):
            raise InvalidInput(f"ports: {value[:60]!r} is not a list of port numbers (comma or space separated)")
        numbers = [int(p) for p in parts]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray)):
        numbers = list(value)
        if not all(isinstance(p, int) and not isinstance(p, bool) for p in numbers):
            raise InvalidInput("ports: every port must be an integer")
    else:
        raise InvalidInput(f"ports: expected a list of port numbers, got {type(value).__name__}")
    if not 1 <= len(numbers) <= MAX_PORTS:
        raise InvalidInput(f"ports: expected 1 to {MAX_PORTS} ports, got {len(numbers)}")
    if not all(1 <= p <= 65535 for p in numbers):
        raise InvalidInput("ports: every port must be between 1 and 65535")
    return ",".join(str(p) for p in numbers)


def overrides_json(overrides: Mapping[str, Any] | None) -> str | None:
    if overrides is None:
        return None
    if not isinstance(overrides, Mapping):
        raise InvalidInput(f"overrides: expected a mapping, got {type(overrides).__name__}")
    try:
        text = json.dumps(dict(overrides), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"overrides: not representable as JSON: {exc}") from None
    return check_text("overrides", text, MAX_OVERRIDES_JSON)
