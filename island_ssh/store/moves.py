"""Many transitions in a few statements: what ``islands.transition`` does once per move, done for
a whole batch (a burst of watch events, a launch batch) with a constant number of round trips.

``islands.transition`` costs three statements a move (lock the row, update it, append the event):
a batch of 300 watch events was ~900 round trips to MariaDB inside one transaction, each a
wake-up of the database and of this process on a busy machine. Here: one SELECT ... FOR UPDATE
of every row the batch touches, each move judged in order against the row as the earlier moves
of the batch leave it (the same rules as ``islands.transition``, same outcome), then one UPDATE
for every row that changed, one multi-row INSERT for the events and one DELETE for the
registrations of islands that ended. tests/store/test_moves.py checks the rows, the histories
and the outcomes against one ``islands.transition`` per move.
"""

from __future__ import annotations

from typing import Sequence

from island_ssh.observe import metrics
from island_ssh.store.islands import _NEVER_USED, Move
from island_ssh.store.rows import FREE_STATE, MAX_IP, MAX_MESSAGE, MAX_NODE, MAX_REASON, IslandRow, check_state, observed_text

_WRITTEN = ("state", "reason", "message", "node", "host_ip", "resource_version", "updated_at", "state_since",
            "ready_at", "deleted_at")


def get_many(cur, island_ids: Sequence[int]) -> list[IslandRow | None]:
    """``islands.get`` of each id (None where there is no such island), in one query."""
    if not island_ids:
        return []
    unique = sorted(set(island_ids))
    cur.execute(f"SELECT * FROM islands WHERE island_id IN ({', '.join(['%s'] * len(unique))}) AND {_NEVER_USED}",
                unique)
    found = {r["island_id"]: IslandRow.from_db(r) for r in cur.fetchall()}
    return [found.get(i) for i in island_ids]


def _lock_all(cur, island_ids: Sequence[int]) -> dict[int, dict]:
    """Every row of ``island_ids`` locked, in id order (two batches lock in the same order)."""
    unique = sorted(set(island_ids))
    cur.execute(f"SELECT *, UTC_TIMESTAMP(6) AS now FROM islands WHERE island_id IN "
                f"({', '.join(['%s'] * len(unique))}) ORDER BY island_id FOR UPDATE", unique)
    return {r["island_id"]: r for r in cur.fetchall()}


def transition_batch(cur, registration_table: str, moves: Sequence[Move]) -> list[bool]:
    """``islands.transition`` for each move, in order, in the caller's transaction; each outcome
    as it gives it. A later move of an island sees the row the earlier one left."""
    if not moves:
        return []
    for move in moves:
        check_state(move.to_state)
    rows = _lock_all(cur, [m.island_id for m in moves])
    outcomes: list[bool] = []
    events: list[tuple] = []
    changed_ids: dict[int, None] = {}  # in first-change order
    ended: list[int] = []
    for move in moves:
        row = rows.get(move.island_id)
        if (row is None or row["generation"] == 0 or row["generation"] != move.generation
                or row["state"] == FREE_STATE):
            outcomes.append(False)
            continue
        if move.expected_from is not None:
            allowed = {move.expected_from} if isinstance(move.expected_from, str) else set(move.expected_from)
            if row["state"] not in allowed:
                outcomes.append(False)
                continue
        reason = observed_text(move.reason, MAX_REASON)
        message = observed_text(move.message, MAX_MESSAGE)
        node = observed_text(move.node, MAX_NODE) if move.node is not None else None
        host_ip = observed_text(move.host_ip, MAX_IP) if move.host_ip is not None else None
        now, from_state, to_state = row["now"], row["state"], move.to_state
        changed = from_state != to_state
        metrics.transition_stored(row, to_state, now)
        if changed or reason != row["reason"] or message != (row["message"] or ""):
            events.append((move.island_id, move.generation, now, from_state, to_state, reason, message,
                           move.resource_version))
        row.update(
            state=to_state, reason=reason, message=message,
            node=row["node"] if node is None else node,
            host_ip=row["host_ip"] if host_ip is None else host_ip,
            resource_version=row["resource_version"] if move.resource_version is None else move.resource_version,
            updated_at=now, state_since=now if changed else row["state_since"],
            ready_at=now if to_state == "ready" and row["ready_at"] is None else row["ready_at"],
            deleted_at=now if to_state == FREE_STATE else None)
        changed_ids[move.island_id] = None
        if to_state == FREE_STATE:
            ended.append(move.island_id)
        outcomes.append(True)
    if changed_ids:
        _update_rows(cur, [rows[i] for i in changed_ids])
    if events:
        cur.executemany(
            "INSERT INTO island_events (island_id, generation, `at`, from_state, to_state, reason, message, "
            "resource_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", events)
    if ended:
        cur.execute(f"DELETE FROM {registration_table} WHERE island_id IN ({', '.join(['%s'] * len(ended))})",
                    ended)
    return outcomes


def _update_rows(cur, rows: list[dict]) -> None:
    """Write the ``_WRITTEN`` columns of each row: one UPDATE joined with the new values."""
    if len(rows) == 1:
        row = rows[0]
        cur.execute(f"UPDATE islands SET {', '.join(f'{c} = %s' for c in _WRITTEN)} WHERE island_id = %s",
                    [row[c] for c in _WRITTEN] + [row["island_id"]])
        return
    first = "SELECT " + ", ".join(["%s AS island_id"] + [f"%s AS {c}" for c in _WRITTEN])
    rest = " UNION ALL SELECT " + ", ".join(["%s"] * (1 + len(_WRITTEN)))
    values = [v for row in rows for v in [row["island_id"]] + [row[c] for c in _WRITTEN]]
    cur.execute(f"UPDATE islands i JOIN ({first}{rest * (len(rows) - 1)}) v ON i.island_id = v.island_id "
                f"SET {', '.join(f'i.{c} = v.{c}' for c in _WRITTEN)}", values)


def waiting_created_before(cur, states: Sequence[str], cutoff) -> list[IslandRow]:
    """Rows in one of ``states`` created at or before ``cutoff`` (a naive UTC datetime): the
    tracker's readiness-timeout candidates, without reading every active row each second."""
    if not states:
        return []
    cur.execute(f"SELECT * FROM islands WHERE state IN ({', '.join(['%s'] * len(states))}) AND created_at <= %s "
                f"AND {_NEVER_USED} ORDER BY island_id", [*states, cutoff])
    return [IslandRow.from_db(r) for r in cur.fetchall()]
