"""Who did what to which island: the audit log's values (pure: no I/O, no clock reads).

An ``Actor`` is a person (a web user: id and name), the operator (the CLI without ``--as``), or
one of island_ssh's own jobs (the recover job, the tracker, the lease and idle reapers, a clock
timeline). ``AuditEntry`` is one recorded action; ``AuditFilter`` is a checked query
(``/api/audit``, ``island-ssh audit``); ``who_deleted`` answers "who deleted my island?" from an
island's entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from island_ssh.core.errors import InvalidField

USER = "user"
OPERATOR = "operator"
POD = "pod"
SYSTEM_KINDS = ("recover", "tracker", "lease-reaper", "timeline", "idle-reaper")
ACTOR_KINDS = (USER, OPERATOR, POD) + SYSTEM_KINDS
_SYSTEM_LABELS = {"recover": "recover job", "tracker": "tracker", "lease-reaper": "lease reaper",
                  "timeline": "clock timeline", "idle-reaper": "idle reaper"}

ACTIONS = ("launch", "delete", "restart", "clock", "clock-timeline", "clock-timeline-cancel", "extend",
           "expire", "lease-warning", "idle", "register", "failed", "lost", "timeout", "unschedulable",
           "pod-gone", "quota-refused")
"""Actions the product records; ``recover-<kind>`` (the recover job's repairs) is accepted too."""
ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,47}$")

MAX_ID = 128
MAX_NAME = 128
MAX_DETAIL = 4000
LIMIT_DEFAULT = 200
LIMIT_MAX = 1000


@dataclass(frozen=True)
class Actor:
    kind: str
    """"user" | "operator" | "pod" | "recover" | "tracker" | "lease-reaper" | "timeline" | "idle-reaper"."""
    id: str = ""
    """The user's stable id ("" for the operator and the jobs)."""
    name: str = ""
    """The user's display name (shown; never compared)."""

    @classmethod
    def of(cls, user: Any) -> "Actor":
        """A User (or anything with .id/.name), a plain id string (internal callers), or None:
        the operator (the CLI acting without ``--as``)."""
        if user is None:
            return cls(OPERATOR)
        if isinstance(user, Actor):
            return user
        if isinstance(user, str):
            return cls(USER, user[:MAX_ID], user[:MAX_NAME])
        user_id = str(getattr(user, "id", "") or "")
        name = str(getattr(user, "name", "") or user_id)
        return cls(USER, user_id[:MAX_ID], name[:MAX_NAME])

    @classmethod
    def system(cls, kind: str) -> "Actor":
        if kind not in SYSTEM_KINDS:
            raise ValueError(f"not a system actor: {kind!r}; one of {', '.join(SYSTEM_KINDS)}")
        return cls(kind)

    @classmethod
    def pod(cls, pod_name: str) -> "Actor":
        """The island's own container (its registration call, proven by the island's token)."""
        return cls(POD, "", str(pod_name or "")[:MAX_NAME])

    @property
    def is_person(self) -> bool:
        """A human did it (a user or the operator), not one of the automatic jobs."""
        return self.kind in (USER, OPERATOR)

    def label(self) -> str:
        """"刘电波 (u123)" / "u123" / "operator (CLI)" / "recover job"."""
        if self.kind == USER:
            if self.name and self.name != self.id:
                return f"{self.name} ({self.id})"
            return self.id or self.name or "unknown user"
        if self.kind == OPERATOR:
            return "operator (CLI)"
        if self.kind == POD:
            return f"pod {self.name}" if self.name else "the island's pod"
        return _SYSTEM_LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    """UTC (the database's clock)."""
    actor: Actor
    action: str
    island_id: int | None = None
    generation: int | None = None
    detail: str = ""
    owner_id: str | None = None
    """Who owned the island when the entry was written."""

    def as_dict(self) -> dict:
        return {"id": self.id, "at": _iso(self.at), "actor": {"kind": self.actor.kind, "id": self.actor.id,
                "name": self.actor.name, "label": self.actor.label(), "automatic": not self.actor.is_person},
                "action": self.action, "island_id": self.island_id, "generation": self.generation,
                "owner_id": self.owner_id, "detail": self.detail}

    def line(self) -> str:
        island = f"island {self.island_id}" + (f" gen {self.generation}" if self.generation is not None else "") \
            if self.island_id is not None else "-"
        detail = f": {self.detail}" if self.detail else ""
        return f"{_iso(self.at)}  {self.action:<14} {island:<18} by {self.actor.label()}{detail}"


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.isoformat().replace("+00:00", "Z")


def check_action(action: str) -> str:
    if not isinstance(action, str) or not ACTION_PATTERN.match(action):
        raise InvalidField("action", f"{action!r}: lower-case letters, digits and '-', e.g. delete, launch, "
                                     f"recover-lost")
    return action


def clip_detail(detail: object) -> str:
    """What is stored: text, at most MAX_DETAIL characters (a longer one ends with an ellipsis)."""
    text = "" if detail is None else str(detail)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL - 1] + "…"


_RELATIVE = re.compile(r"^([0-9]{1,6})([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str | None, now: datetime) -> datetime | None:
    """``since``: an ISO 8601 time ("2026-12-03", "2026-12-03T11:00:00Z"; no offset = UTC) or a
    span back from ``now`` ("90m", "2h", "7d"). Returns naive UTC, as the database stores it."""
    if text is None or text == "":
        return None
    if not isinstance(text, str) or len(text) > 40:
        raise InvalidField("since", "expected an ISO time like 2026-12-03T11:00:00Z or a span like 2h, 7d")
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        span = timedelta(seconds=int(match.group(1)) * _UNIT[match.group(2)])
        if span > timedelta(days=3650):
            raise InvalidField("since", f"{value!r} reaches back more than 10 years")
        return (now.astimezone(timezone.utc) if now.tzinfo else now).replace(tzinfo=None) - span
    if not value.isascii():
        raise InvalidField("since", f"{value!r}: expected an ISO time like 2026-12-03T11:00:00Z or a span like 2h, 7d")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidField("since", f"{value!r}: expected an ISO time like 2026-12-03T11:00:00Z "
                                    f"or a span like 90m, 2h, 7d") from None
    if at.tzinfo is not None:
        at = at.astimezone(timezone.utc).replace(tzinfo=None)
    return at


def parse_limit(value: object, default: int = LIMIT_DEFAULT) -> int:
    if value is None or value == "":
        return default
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= LIMIT_MAX:
        raise InvalidField("limit", f"{value!r}: a whole number from 1 to {LIMIT_MAX}")
    return int(text)


def parse_island(value: object) -> int | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise InvalidField("island", f"{value!r}: an island id (a whole number)")
    return int(text)


@dataclass(frozen=True)
class AuditFilter:
    island_id: int | None = None
    actor: str | None = None
    """A user id, or a job's kind (recover, tracker, ...) / "operator"."""
    action: str | None = None
    since: datetime | None = None
    limit: int = LIMIT_DEFAULT

    @classmethod
    def parse(cls, island=None, actor=None, action=None, since=None, limit=None, *, now: datetime) -> "AuditFilter":
        """The faces' raw values (query string / CLI options) -> a checked filter; InvalidField
        naming the field otherwise."""
        if actor is not None and actor != "":
            if not isinstance(actor, str) or len(actor) > MAX_ID or any(ord(c) < 32 for c in actor):
                raise InvalidField("actor", f"a user id (at most {MAX_ID} characters, no control characters) "
                                            f"or one of {', '.join((OPERATOR,) + SYSTEM_KINDS)}")
        else:
            actor = None
        return cls(island_id=parse_island(island), actor=actor,
                   action=check_action(action) if action not in (None, "") else None,
                   since=parse_since(since, now), limit=parse_limit(limit))


def who_deleted(entries: Iterable[AuditEntry]) -> AuditEntry | None:
    """The latest entry that ended the island: a delete (a person's or the operator's), a lease
    or idle expiry (``expire``), a pod deleted outside island_ssh (``pod-gone``, seen by the
    tracker), or a recover repair (``recover-<kind>``: released, lost, ...)."""
    ending = [e for e in entries if e.action in ("delete", "expire", "pod-gone") or e.action.startswith("recover-")]
    return max(ending, key=lambda e: (e.at, e.id)) if ending else None


def who_deleted_line(island_id: int, entry: AuditEntry | None) -> str:
    """One line: "island 12 (generation 3) was deleted by 王伟 (u-1001) at 2026-12-03T11:00:00Z"."""
    if entry is None:
        return (f"island {island_id}: no delete recorded (it is alive, or it ended before the audit "
                f"log existed: see `island-ssh events {island_id}`)")
    verb = {"delete": "deleted", "expire": "expired (deleted)",
            "pod-gone": "found with its pod deleted outside island_ssh"}.get(entry.action, f"ended ({entry.action})")
    gen = f" (generation {entry.generation})" if entry.generation is not None else ""
    detail = f": {entry.detail}" if entry.detail else ""
    return f"island {island_id}{gen} was {verb} by {entry.actor.label()} at {_iso(entry.at)}{detail}"
