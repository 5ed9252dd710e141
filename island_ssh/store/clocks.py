"""The islands' clocks in MySQL (migrations/0005): current state + proof, history, timelines.

Every function takes a cursor inside the caller's transaction (``Store`` runs them). A change of
an island's clock locks the island row first (as every island change does) and checks its
generation, so a clock recorded for an island that was deleted or restarted meanwhile is refused
(False), never written onto its successor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from island_ssh.store.islands import _lock_current, append_event
from island_ssh.store.rows import MAX_CLOCK_SETTING, check_text, observed_text, utc

MAX_ACTOR = 128
MAX_ERROR = 4000
MAX_TIMELINE_TEXT = 8000
SOURCES = ("user", "preset", "timeline", "restart", "recover", "launch")
TIMELINE_STATES = ("active", "done", "cancelled", "failed")


@dataclass(frozen=True)
class ActorRef:
    """Who made a change, as stored (kind: user | operator | timeline | recover | ...)."""
    kind: str
    id: str = ""
    name: str = ""

    def label(self) -> str:
        if self.kind in ("user",) or self.id:
            if self.name and self.name != self.id:
                return f"{self.name} ({self.id})"
            return self.id or self.name or self.kind
        return {"operator": "an operator", "recover": "recover job", "timeline": "timeline"}.get(self.kind, self.kind)


@dataclass(frozen=True)
class ClockRecord:
    island_id: int
    generation: int
    state: dict
    setting_text: str
    set_by: ActorRef
    set_at: datetime | None
    server_start: float | None
    anchor: str
    asked_epoch: float | None
    read_epoch: float | None
    read_diff: float | None
    read_real_at: float | None
    proved_at: datetime | None

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "ClockRecord":
        return cls(island_id=int(r["island_id"]), generation=int(r["generation"]), state=json.loads(r["state"]),
                   setting_text=r["setting_text"] or "",
                   set_by=ActorRef(r["set_by_kind"] or "", r["set_by_id"] or "", r["set_by_name"] or ""),
                   set_at=utc(r["set_at"]), server_start=r["server_start"], anchor=r["anchor"] or "real",
                   asked_epoch=r["asked_epoch"], read_epoch=r["read_epoch"], read_diff=r["read_diff"],
                   read_real_at=r["read_real_at"], proved_at=utc(r["proved_at"]))


@dataclass(frozen=True)
class ClockChangeRow:
    id: int
    island_id: int
    generation: int
    at: datetime
    actor: ActorRef
    source: str
    request: str
    state: dict | None
    asked_epoch: float | None
    read_epoch: float | None
    read_diff: float | None
    ok: bool
    error: str
    timeline_id: int | None

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "ClockChangeRow":
        return cls(id=int(r["id"]), island_id=int(r["island_id"]), generation=int(r["generation"]), at=utc(r["at"]),
                   actor=ActorRef(r["actor_kind"] or "", r["actor_id"] or "", r["actor_name"] or ""),
                   source=r["source"], request=r["request"] or "",
                   state=json.loads(r["state"]) if r["state"] else None, asked_epoch=r["asked_epoch"],
                   read_epoch=r["read_epoch"], read_diff=r["read_diff"], ok=bool(r["ok"]), error=r["error"] or "",
                   timeline_id=r["timeline_id"])


@dataclass(frozen=True)
class TimelineRow:
    id: int
    island_id: int
    generation: int
    created_by: ActorRef
    created_at: datetime
    request: str
    steps: list
    """[{"at_seconds": float, "command": str}, ...] in order."""
    started_at: float
    next_step: int
    next_due: float | None
    state: str
    ended_at: datetime | None
    last_error: str

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "TimelineRow":
        return cls(id=int(r["id"]), island_id=int(r["island_id"]), generation=int(r["generation"]),
                   created_by=ActorRef("user", r["created_by_id"] or "", r["created_by_name"] or ""),
                   created_at=utc(r["created_at"]), request=r["request"] or "", steps=json.loads(r["steps"]),
                   started_at=float(r["started_at"]), next_step=int(r["next_step"]), next_due=r["next_due"],
                   state=r["state"], ended_at=utc(r["ended_at"]), last_error=r["last_error"] or "")


@dataclass(frozen=True)
class Proof:
    """The read-back of a change: what was asked and what the island read, at node real time."""
    asked_epoch: float
    read_epoch: float
    read_diff: float
    read_real_at: float


def _actor(actor: ActorRef) -> tuple[str, str, str]:
    return (observed_text(actor.kind, 32), observed_text(actor.id, MAX_ACTOR), observed_text(actor.name, MAX_ACTOR))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False, ensure_ascii=False)


# -- the current clock -----------------------------------------------------------------------------
def get(cur, island_id: int) -> ClockRecord | None:
    cur.execute("SELECT * FROM island_clocks WHERE island_id = %s", (island_id,))
    row = cur.fetchone()
    return ClockRecord.from_db(row) if row else None


def _upsert(cur, island_id, generation, state, setting, actor, at, server_start, anchor, proof) -> None:
    kind, actor_id, name = _actor(actor)
    cur.execute(
        "INSERT INTO island_clocks (island_id, generation, state, setting_text, set_by_kind, set_by_id, set_by_name, "
        "set_at, server_start, anchor, asked_epoch, read_epoch, read_diff, read_real_at, proved_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON DUPLICATE KEY UPDATE generation = VALUES(generation), state = VALUES(state), "
        "setting_text = VALUES(setting_text), set_by_kind = VALUES(set_by_kind), set_by_id = VALUES(set_by_id), "
        "set_by_name = VALUES(set_by_name), set_at = VALUES(set_at), server_start = VALUES(server_start), "
        "anchor = VALUES(anchor), asked_epoch = VALUES(asked_epoch), read_epoch = VALUES(read_epoch), "
        "read_diff = VALUES(read_diff), read_real_at = VALUES(read_real_at), proved_at = VALUES(proved_at)",
        (island_id, generation, _json(state), setting, kind, actor_id, name, at, server_start, anchor,
         *(proof_values(proof)), at if proof else None))


def proof_values(proof: Proof | None) -> tuple:
    if proof is None:
        return (None, None, None, None)
    return (proof.asked_epoch, proof.read_epoch, proof.read_diff, proof.read_real_at)


def _history(cur, island_id, generation, at, actor, source, request, state, proof, ok, error, timeline_id) -> None:
    if source not in SOURCES:
        raise ValueError(f"clock change source {source!r} is not one of {SOURCES}")
    kind, actor_id, name = _actor(actor)
    asked, read, diff, _ = proof_values(proof)
    cur.execute(
        "INSERT INTO clock_changes (island_id, generation, `at`, actor_kind, actor_id, actor_name, source, request, "
        "state, asked_epoch, read_epoch, read_diff, ok, error, timeline_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (island_id, generation, at, kind, actor_id, name, source, observed_text(request, MAX_CLOCK_SETTING),
         None if state is None else _json(state), asked, read, diff, 1 if ok else 0,
         observed_text(error, MAX_ERROR) if error else None, timeline_id))


def record_change(cur, island_id: int, generation: int, *, state: dict, setting: str, actor: ActorRef, source: str,
                  request: str, offset_seconds: float, server_start: float | None, anchor: str = "real",
                  proof: Proof | None = None, event_message: str = "", timeline_id: int | None = None) -> bool:
    """A clock change that took: current state + proof, a history row, the island's columns
    (older readers) and a ClockChanged event, all in the caller's one transaction. False when the
    island is gone or in another generation."""
    setting = check_text("clock setting", setting, MAX_CLOCK_SETTING)
    row = _lock_current(cur, island_id, generation)
    if row is None:
        return False
    now = row["now"]
    _upsert(cur, island_id, generation, state, setting, actor, now, server_start, anchor, proof)
    _history(cur, island_id, generation, now, actor, source, request, state, proof, True, "", timeline_id)
    cur.execute("UPDATE islands SET clock_offset_seconds = %s, clock_setting = %s, updated_at = %s "
                "WHERE island_id = %s", (float(offset_seconds), setting, now, island_id))
    append_event(cur, island_id, generation, now, row["state"], row["state"], "ClockChanged",
                 observed_text(event_message or setting, 64 * 1024))
    return True


def record_failure(cur, island_id: int, generation: int, *, actor: ActorRef, source: str, request: str,
                   state: dict | None, proof: Proof | None, error: str, timeline_id: int | None = None) -> bool:
    """A change that did not take: a history row (ok=0) and a ClockNotTaken event."""
    row = _lock_current(cur, island_id, generation)
    if row is None:
        return False
    now = row["now"]
    _history(cur, island_id, generation, now, actor, source, request, state, proof, False, error, timeline_id)
    append_event(cur, island_id, generation, now, row["state"], row["state"], "ClockNotTaken",
                 observed_text(f"{request}: {error}", 64 * 1024))
    return True


def learn_server_start(cur, island_id: int, generation: int, server_start: float, state: dict | None = None) -> bool:
    """The probe measured S (the server's start): store it; with ``state`` (the state re-anchored
    on S, for an island launched or restarted with an ``@`` clock) store that too, anchor 'real'."""
    if state is None:
        cur.execute("UPDATE island_clocks SET server_start = %s WHERE island_id = %s AND generation = %s",
                    (server_start, island_id, generation))
    else:
        cur.execute("UPDATE island_clocks SET server_start = %s, state = %s, anchor = 'real' "
                    "WHERE island_id = %s AND generation = %s", (server_start, _json(state), island_id, generation))
    return cur.rowcount == 1


def anchor_at(cur, island_id: int, generation: int, state: dict) -> bool:
    """At registration (just before the server starts): the 'start'-anchored state's best guess."""
    cur.execute("UPDATE island_clocks SET state = %s WHERE island_id = %s AND generation = %s AND anchor = 'start'",
                (_json(state), island_id, generation))
    return cur.rowcount == 1


def carry(cur, island_id: int, from_generation: int, to_generation: int, state: dict | None = None,
          anchor: str | None = None) -> None:
    """A restart: the clock (and the island's active timelines) belong to the next generation.
    The server start is not known for the new pod yet (NULL until the next probe)."""
    sets, args = ["generation = %s", "server_start = NULL"], [to_generation]
    if state is not None:
        sets.append("state = %s")
        args.append(_json(state))
    if anchor is not None:
        sets.append("anchor = %s")
        args.append(anchor)
    cur.execute(f"UPDATE island_clocks SET {', '.join(sets)} WHERE island_id = %s AND generation = %s",
                (*args, island_id, from_generation))
    cur.execute("UPDATE clock_timelines SET generation = %s WHERE island_id = %s AND generation = %s "
                "AND state = 'active'", (to_generation, island_id, from_generation))


def set_initial(cur, island_id: int, generation: int, *, state: dict, setting: str, actor: ActorRef,
                anchor: str, request: str) -> bool:
    """A new island's clock (launch with a start time): state, no proof yet, a 'launch' history row."""
    row = _lock_current(cur, island_id, generation)
    if row is None:
        return False
    now = row["now"]
    _upsert(cur, island_id, generation, state, check_text("clock setting", setting, MAX_CLOCK_SETTING), actor, now,
            None, anchor, None)
    _history(cur, island_id, generation, now, actor, "launch", request, state, None, True, "", None)
    return True


def note(cur, island_id: int, generation: int, *, actor: ActorRef, source: str, request: str,
         state: dict | None) -> None:
    """A history row only (a restart or a recover re-applied the stored clock)."""
    cur.execute("SELECT UTC_TIMESTAMP(6) AS now")
    _history(cur, island_id, generation, cur.fetchone()["now"], actor, source, request, state, None, True, "", None)


def history(cur, island_id: int, limit: int = 100) -> list[ClockChangeRow]:
    cur.execute("SELECT * FROM clock_changes WHERE island_id = %s ORDER BY id DESC LIMIT %s",
                (island_id, max(0, min(int(limit), 10000))))
    return [ClockChangeRow.from_db(r) for r in cur.fetchall()]


# -- timelines -------------------------------------------------------------------------------------
def add_timeline(cur, island_id: int, generation: int, *, actor: ActorRef, request: str,
                 steps: Sequence[Mapping[str, Any]], started_at: float) -> int | None:
    """Store a timeline (active, next step 0); None when the island is gone or another generation."""
    request = check_text("timeline", request, MAX_TIMELINE_TEXT)
    row = _lock_current(cur, island_id, generation)
    if row is None:
        return None
    steps = [{"at_seconds": float(s["at_seconds"]), "command": str(s["command"])} for s in steps]
    kind, actor_id, name = _actor(actor)
    cur.execute(
        "INSERT INTO clock_timelines (island_id, generation, created_by_id, created_by_name, created_at, request, "
        "steps, started_at, next_step, next_due, state) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, 'active')",
        (island_id, generation, actor_id, name, row["now"], request, _json(steps), started_at,
         started_at + steps[0]["at_seconds"] if steps else None))
    timeline_id = cur.lastrowid
    append_event(cur, island_id, generation, row["now"], row["state"], row["state"], "ClockTimelineStarted",
                 observed_text(f"timeline {timeline_id} ({len(steps)} steps) by {actor.label()}: {request}", 64 * 1024))
    return timeline_id


def get_timeline(cur, timeline_id: int) -> TimelineRow | None:
    cur.execute("SELECT * FROM clock_timelines WHERE id = %s", (timeline_id,))
    row = cur.fetchone()
    return TimelineRow.from_db(row) if row else None


def timelines(cur, island_id: int, limit: int = 50, active_only: bool = False) -> list[TimelineRow]:
    sql = "SELECT * FROM clock_timelines WHERE island_id = %s"
    if active_only:
        sql += " AND state = 'active'"
    cur.execute(sql + " ORDER BY id DESC LIMIT %s", (island_id, max(0, min(int(limit), 1000))))
    return [TimelineRow.from_db(r) for r in cur.fetchall()]


def due_timelines(cur, now: float, limit: int = 100) -> list[TimelineRow]:
    cur.execute("SELECT * FROM clock_timelines WHERE state = 'active' AND next_due <= %s ORDER BY next_due LIMIT %s",
                (now, limit))
    return [TimelineRow.from_db(r) for r in cur.fetchall()]


def next_due(cur) -> float | None:
    cur.execute("SELECT MIN(next_due) AS due FROM clock_timelines WHERE state = 'active'")
    row = cur.fetchone()
    return None if row is None or row["due"] is None else float(row["due"])


def claim_step(cur, timeline_id: int, step: int) -> bool:
    """Take step ``step`` of an active timeline for this process: one conditional UPDATE, so of
    several processes exactly one wins. At most once: a process that dies after claiming loses
    the step (a clock change applied twice would be worse than one missed; it shows in history)."""
    cur.execute("SELECT steps, started_at FROM clock_timelines WHERE id = %s", (timeline_id,))
    row = cur.fetchone()
    if row is None:
        return False
    steps = json.loads(row["steps"])
    following = step + 1
    due = float(row["started_at"]) + float(steps[following]["at_seconds"]) if following < len(steps) else None
    cur.execute("UPDATE clock_timelines SET next_step = %s, next_due = %s, "
                "state = IF(%s IS NULL, 'done', state), ended_at = IF(%s IS NULL, UTC_TIMESTAMP(6), ended_at) "
                "WHERE id = %s AND next_step = %s AND state = 'active'",
                (following, due, due, due, timeline_id, step))
    return cur.rowcount == 1


def end_timeline(cur, timeline_id: int, state: str, error: str = "", expected: Sequence[str] = ("active", "done"),
                 event: tuple[str, str] | None = None) -> bool:
    """active|done -> failed/cancelled/done; with ``event`` (reason, message) an island event too."""
    if state not in TIMELINE_STATES:
        raise ValueError(f"timeline state {state!r}")
    cur.execute("SELECT * FROM clock_timelines WHERE id = %s FOR UPDATE", (timeline_id,))
    row = cur.fetchone()
    if row is None or row["state"] not in expected:
        return False
    cur.execute("UPDATE clock_timelines SET state = %s, next_due = NULL, ended_at = COALESCE(ended_at, "
                "UTC_TIMESTAMP(6)), last_error = %s WHERE id = %s",
                (state, observed_text(error, MAX_ERROR) if error else row["last_error"], timeline_id))
    if event is not None:
        island = _lock_current(cur, int(row["island_id"]), int(row["generation"]))
        if island is not None:
            append_event(cur, int(row["island_id"]), int(row["generation"]), island["now"], island["state"],
                         island["state"], event[0], observed_text(event[1], 64 * 1024))
    return True
