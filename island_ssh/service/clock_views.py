"""What service.clocks hands the faces: ClockView (one island's clock), history and timeline
entries as dicts, presets as (name, expression). Plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class ClockProof:
    """The island's own reading after the last change (the read-back)."""
    asked_epoch: float
    """What the island should have read at ``read_real_at`` (epoch seconds)."""
    read_epoch: float
    """What a process under the server's preload read."""
    diff: float
    """read - asked, seconds."""
    read_real_at: float
    """The node's real time at the reading."""
    proved_at: datetime | None
    age_seconds: float | None = None
    """Seconds since the reading (when the view was made)."""

    def as_dict(self) -> dict[str, Any]:
        return {"asked_epoch": self.asked_epoch, "read_epoch": self.read_epoch, "diff": round(self.diff, 3),
                "read_real_at": self.read_real_at,
                "proved_at": self.proved_at.isoformat() if self.proved_at else None,
                "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1)}


@dataclass(frozen=True)
class ClockView:
    """What the page, the CLI and the API show of one island's clock."""
    island_id: int
    generation: int
    state: dict | None
    """ClockState.as_dict() (island_epoch, real_epoch, rate, frozen), None: real time, never set."""
    setting: str
    """What was last asked ("+2d", "preset daily-reset", ...); "" when never set."""
    island_now: float
    """What the island reads now by the stored state (epoch seconds)."""
    offset_seconds: float
    """island_now - real now."""
    rate: float
    frozen: bool
    timezone: str
    set_by: dict = field(default_factory=dict)
    """{"id": ..., "name": ..., "kind": ...} of the last change."""
    set_at: datetime | None = None
    proof: ClockProof | None = None
    timelines: list[dict] = field(default_factory=list)
    """The island's active timelines."""

    def proof_line(self) -> str:
        """``reads 2021-09-19 04:59:51 (asked 04:59:50, 0.4 s ago)`` in the studio's time zone."""
        if self.proof is None:
            return "not read back yet"
        tz = zone(self.timezone)
        read = datetime.fromtimestamp(self.proof.read_epoch, tz).strftime("%Y-%m-%d %H:%M:%S")
        asked = datetime.fromtimestamp(self.proof.asked_epoch, tz).strftime("%Y-%m-%d %H:%M:%S")
        asked = asked[11:] if asked[:10] == read[:10] else asked  # the date only when it differs
        age = "" if self.proof.age_seconds is None else f", {_age(self.proof.age_seconds)} ago"
        return f"reads {read} (asked {asked}{age})"

    def island_time_text(self) -> str:
        return datetime.fromtimestamp(self.island_now, zone(self.timezone)).strftime("%Y-%m-%d %H:%M:%S")

    def as_dict(self) -> dict[str, Any]:
        return {"island_id": self.island_id, "generation": self.generation, "state": self.state,
                "setting": self.setting, "island_now": round(self.island_now, 3),
                "island_time": self.island_time_text(), "offset_seconds": round(self.offset_seconds, 3),
                "rate": self.rate, "frozen": self.frozen, "timezone": self.timezone, "set_by": self.set_by,
                "set_at": self.set_at.isoformat() if self.set_at else None,
                "proof": self.proof.as_dict() if self.proof else None, "proof_line": self.proof_line(),
                "timelines": [json_safe(t) for t in self.timelines]}


def json_safe(entry: dict) -> dict:
    """A history or timeline dict with its datetimes as ISO text (UTC)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in entry.items()}


def zone(name: str):
    from zoneinfo import ZoneInfo
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - checked at config load; a view never fails on it
        return timezone.utc


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

class Preset(tuple):
    """(name, expression), also as .name / .spec."""

    def __new__(cls, name: str, spec: str):
        return super().__new__(cls, (name, spec))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def spec(self) -> str:
        return self[1]


def change_dict(c, tz) -> dict:
    """One history entry as the faces show it."""
    who = c.actor.label()
    if c.source == "timeline" and c.actor.id:
        who = f"timeline {c.timeline_id} of {c.actor.label()}"
    return {"id": c.id, "at": c.at, "who": who, "actor": {"kind": c.actor.kind, "id": c.actor.id,
                                                            "name": c.actor.name},
            "source": c.source, "text": c.request, "state": c.state, "ok": c.ok, "error": c.error,
            "asked_epoch": c.asked_epoch, "read_epoch": c.read_epoch, "diff_seconds": c.read_diff,
            "asked": _wall(c.asked_epoch, tz), "read": _wall(c.read_epoch, tz),
            "timeline_id": c.timeline_id, "generation": c.generation}


def timeline_dict(t) -> dict:
    done = t.next_step if t.state == "active" else (len(t.steps) if t.state == "done" else t.next_step)
    return {"id": t.id, "island_id": t.island_id, "generation": t.generation, "text": t.request,
            "state": t.state, "who": t.created_by.label(),
            "created_by": {"id": t.created_by.id, "name": t.created_by.name}, "created_at": t.created_at,
            "started_at": t.started_at, "steps": t.steps, "next_step": t.next_step, "done_steps": done,
            "next_at": datetime.fromtimestamp(t.next_due, timezone.utc) if t.next_due is not None else None,
            "ended_at": t.ended_at, "last_error": t.last_error}


def _wall(epoch, tz) -> str | None:
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(float(epoch), tz).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return None
