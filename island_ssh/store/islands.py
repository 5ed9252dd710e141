"""Island rows: state transitions with their event, reads, clock and overrides.

Every function takes a cursor inside the caller's transaction. A change locks the row first
(SELECT ... FOR UPDATE) and checks the generation: an id that was released and handed out again
has a new generation, so a late event about the old pod cannot touch the new island. A row in
state ``deleted`` has ended its generation and accepts no further change.
"""

from __future__ import annotations

import json
from typing import Any, Collection, Mapping, NamedTuple

from island_ssh.observe import metrics
from island_ssh.store.rows import (
    FREE_STATE, MAX_CLOCK_SETTING, MAX_IP, MAX_MESSAGE, MAX_NODE, MAX_REASON, EventRow, IslandRow, check_state,
    check_text, observed_text, overrides_json,
)

_NEVER_USED = "generation > 0"  # slots the allocator created but never handed out stay invisible


def _lock_current(cur, island_id: int, generation: int) -> dict | None:
    cur.execute("SELECT *, UTC_TIMESTAMP(6) AS now FROM islands WHERE island_id = %s FOR UPDATE", (island_id,))
    row = cur.fetchone()
    if row is None or row["generation"] == 0 or row["generation"] != generation or row["state"] == FREE_STATE:
        return None
    return row


def append_event(cur, island_id, generation, at, from_state, to_state, reason, message, resource_version=None) -> None:
    cur.execute(
        "INSERT INTO island_events (island_id, generation, `at`, from_state, to_state, reason, message, "
        "resource_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (island_id, generation, at, from_state, to_state, reason, message, resource_version),
    )


class Move(NamedTuple):
    """One ``transition``'s arguments after the registration table (``Store.transition_batch``)."""
    island_id: int
    generation: int
    to_state: str
    reason: str
    message: str
    node: str | None = None
    host_ip: str | None = None
    resource_version: int | None = None
    expected_from: str | Collection[str] | None = None


def transition(
    cur,
    registration_table: str,
    island_id: int,
    generation: int,
    to_state: str,
    reason: str,
    message: str,
    node: str | None = None,
    host_ip: str | None = None,
    resource_version: int | None = None,
    expected_from: str | Collection[str] | None = None,
) -> bool:
    """Move the island to ``to_state`` and append the event; False when refused.

    Refused: unknown id, other generation, already ``deleted``, or current state not in
    ``expected_from``. A repeat of the current state, reason and message only records the
    resourceVersion (no event), so a watch replaying objects does not flood the history.
    Reaching ``deleted`` frees the id and removes its registration row in the same transaction.
    """
    check_state(to_state)
    reason = observed_text(reason, MAX_REASON)
    message = observed_text(message, MAX_MESSAGE)
    if node is not None:
        node = observed_text(node, MAX_NODE)
    if host_ip is not None:
        host_ip = observed_text(host_ip, MAX_IP)
    row = _lock_current(cur, island_id, generation)
    if row is None:
        return False
    if expected_from is not None:
        allowed = {expected_from} if isinstance(expected_from, str) else set(expected_from)
        if row["state"] not in allowed:
            return False
    now, from_state = row["now"], row["state"]
    changed = from_state != to_state
    metrics.transition_stored(row, to_state, now)  # time in the state left; launch-to-ready (observe/)
    cur.execute(
        "UPDATE islands SET state = %s, reason = %s, message = %s, node = COALESCE(%s, node), "
        "host_ip = COALESCE(%s, host_ip), resource_version = COALESCE(%s, resource_version), updated_at = %s, "
        "state_since = %s, ready_at = %s, deleted_at = %s WHERE island_id = %s",
        (
            to_state, reason, message, node, host_ip, resource_version, now,
            now if changed else row["state_since"],
            now if to_state == "ready" and row["ready_at"] is None else row["ready_at"],
            now if to_state == FREE_STATE else None,
            island_id,
        ),
    )
    if changed or reason != row["reason"] or message != (row["message"] or ""):
        append_event(cur, island_id, generation, now, from_state, to_state, reason, message, resource_version)
    if to_state == FREE_STATE:
        cur.execute(f"DELETE FROM {registration_table} WHERE island_id = %s", (island_id,))
    return True


def set_clock(cur, island_id: int, generation: int, offset_seconds: float | None, setting_text: str) -> bool:
    setting_text = check_text("clock setting", setting_text, MAX_CLOCK_SETTING)
    if offset_seconds is not None:
        offset_seconds = float(offset_seconds)
    row = _lock_current(cur, island_id, generation)
    if row is None:
        return False
    cur.execute(
        "UPDATE islands SET clock_offset_seconds = %s, clock_setting = %s, updated_at = %s WHERE island_id = %s",
        (offset_seconds, setting_text, row["now"], island_id),
    )
    append_event(cur, island_id, generation, row["now"], row["state"], row["state"], "ClockChanged", setting_text)
    return True


def update_overrides(cur, island_id: int, generation: int, changes: Mapping[str, Any]) -> bool:
    """Merge ``changes`` into the island's overrides; a key set to None is removed."""
    row = _lock_current(cur, island_id, generation)
    if row is None:
        return False
    merged = json.loads(row["overrides"]) if row["overrides"] else {}
    for key, value in dict(changes).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    cur.execute(
        "UPDATE islands SET overrides = %s, updated_at = %s WHERE island_id = %s",
        (overrides_json(merged), row["now"], island_id),
    )
    return True


# -- reads -----------------------------------------------------------------------------------
def get(cur, island_id: int) -> IslandRow | None:
    cur.execute(f"SELECT * FROM islands WHERE island_id = %s AND {_NEVER_USED}", (island_id,))
    row = cur.fetchone()
    return IslandRow.from_db(row) if row else None


def list_islands(cur, owner: str | None = None, branch: str | None = None,
                 states: Collection[str] | None = None, owner_id: str | None = None) -> list[IslandRow]:
    where, args = _filters(owner, branch, states, owner_id)
    if where is None:
        return []
    cur.execute(f"SELECT * FROM islands WHERE {' AND '.join(where)} ORDER BY island_id", args)
    return [IslandRow.from_db(r) for r in cur.fetchall()]


def list_page(cur, owner: str | None = None, branch: str | None = None, states: Collection[str] | None = None,
              owner_id: str | None = None, include_deleted: bool = True, limit: int | None = None,
              offset: int = 0) -> tuple[list[IslandRow], int]:
    """One page of ``list_islands`` (oldest id first) and how many match in all: two queries,
    whatever the page's size. ``include_deleted=False`` leaves out deleted rows (when no
    ``states`` are given, as the faces do); ``limit`` None: every row from ``offset`` on."""
    where, args = _filters(owner, branch, states, owner_id)
    if where is None:
        return [], 0
    if not include_deleted and states is None:
        where.append("state <> %s")
        args.append(FREE_STATE)
    clause = " AND ".join(where)
    cur.execute(f"SELECT COUNT(*) AS n FROM islands WHERE {clause}", args)
    total = int(cur.fetchone()["n"])
    if offset >= total or limit == 0:
        return [], total
    page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else (
        f" LIMIT 18446744073709551615 OFFSET {int(offset)}" if offset else "")
    cur.execute(f"SELECT * FROM islands WHERE {clause} ORDER BY island_id{page}", args)
    return [IslandRow.from_db(r) for r in cur.fetchall()], total


def _filters(owner, branch, states, owner_id) -> tuple[list[str] | None, list]:
    """The WHERE terms of a listing; (None, []) when it can match nothing (an empty ``states``)."""
    where, args = [_NEVER_USED], []
    if owner is not None:
        where.append("owner = %s")
        args.append(owner)
    if owner_id is not None:
        # the collation pads: 'u-1 ' = 'u-1' in SQL; ids compare exactly, so the length must match too
        where.append("owner_id = %s AND CHAR_LENGTH(owner_id) = CHAR_LENGTH(%s)")
        args.extend([owner_id, owner_id])
    if branch is not None:
        where.append("branch = %s")
        args.append(branch)
    if states is not None:
        states = [check_state(s) for s in ([states] if isinstance(states, str) else states)]
        if not states:
            return None, []
        where.append(f"state IN ({', '.join(['%s'] * len(states))})")
        args.extend(states)
    return where, args


def active(cur) -> list[IslandRow]:
    cur.execute(f"SELECT * FROM islands WHERE state <> %s AND {_NEVER_USED} ORDER BY island_id", (FREE_STATE,))
    return [IslandRow.from_db(r) for r in cur.fetchall()]


def events(cur, island_id: int, generation: int | None = None, limit: int = 200) -> list[EventRow]:
    """The latest ``limit`` events of the island (of one generation if given), oldest first."""
    sql = "SELECT * FROM island_events WHERE island_id = %s"
    args: list[Any] = [island_id]
    if generation is not None:
        sql += " AND generation = %s"
        args.append(generation)
    sql += " ORDER BY id DESC LIMIT %s"
    args.append(max(0, int(limit)))
    cur.execute(sql, args)
    return [EventRow.from_db(r) for r in reversed(cur.fetchall())]


def events_since(cur, last_event_id: int | None, limit: int = 500) -> list[EventRow]:
    """Events of every island after ``last_event_id``, oldest first: the live feed's poll.

    ``last_event_id`` None gives the latest ``limit`` events instead (where a new reader starts)."""
    limit = max(0, int(limit))
    if last_event_id is None:
        cur.execute("SELECT * FROM island_events ORDER BY id DESC LIMIT %s", (limit,))
        return [EventRow.from_db(r) for r in reversed(cur.fetchall())]
    cur.execute("SELECT * FROM island_events WHERE id > %s ORDER BY id LIMIT %s", (max(0, int(last_event_id)), limit))
    return [EventRow.from_db(r) for r in cur.fetchall()]


def restart(cur, registration_table: str, island_id: int, generation: int, token_hash: str) -> IslandRow | None:
    """Same id and ports, next generation, state ``allocated`` with a new token: the old pod's
    late events (labelled with the old generation) can no longer touch the island."""
    row = _lock_current(cur, island_id, generation)
    if row is None:
        return None
    now, new_generation = row["now"], generation + 1
    append_event(cur, island_id, generation, now, row["state"], "deleted", "Restarted", "replaced by a new pod")
    cur.execute(
        "UPDATE islands SET generation = %s, state = 'allocated', reason = 'Restart', message = '', "
        "node = NULL, host_ip = NULL, resource_version = NULL, token_hash = %s, created_at = %s, updated_at = %s, "
        "state_since = %s, ready_at = NULL, deleted_at = NULL WHERE island_id = %s",
        (new_generation, token_hash, now, now, now, island_id),
    )
    append_event(cur, island_id, new_generation, now, None, "allocated", "Restart", "same id and ports, new pod")
    cur.execute(f"DELETE FROM {registration_table} WHERE island_id = %s", (island_id,))
    cur.execute("SELECT * FROM islands WHERE island_id = %s", (island_id,))
    return IslandRow.from_db(cur.fetchone())
