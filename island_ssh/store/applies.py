"""The durable launch queue: rows in ``applying`` ARE the queue (issue 11, nothing accepted is lost).

A launch (or a restart) moves its row to ``applying`` and writes, in ``applier``, the name of the
MySQL named lock its service process holds for as long as it lives (IslandService). The
process's apply worker clears that name in the same breath as it takes the row for kubectl
(``start``): from then on the pod, or its absence once recover.stuck_after has passed, says
what became of the apply. The server drops a named lock with its connection, so a row that
still names a lock nobody holds was accepted by a process that died before running kubectl:
``orphaned`` finds those, ``adopt`` hands one to another process to apply again.

Every function takes a cursor inside the caller's transaction (store.Store wraps them).
"""

from __future__ import annotations

from typing import Sequence

from island_ssh.store.islands import _lock_current, append_event, restart, transition
from island_ssh.store.rows import MAX_MESSAGE, MAX_REASON, IslandRow, check_token_hash, observed_text

QUEUED_FROM = ("allocated", "applying")
"""States a row may be queued (or re-queued) from: allocated by a launch, or left applying."""


def queue(cur, registration_table: str, moves: Sequence[tuple[int, int]], applier: str, reason: str,
          message: str) -> list[bool]:
    """``allocated`` -> ``applying`` for each (island_id, generation), naming ``applier``'s lock."""
    outcomes = []
    for island_id, generation in moves:
        ok = transition(cur, registration_table, island_id, generation, "applying", reason, message,
                        expected_from="allocated")
        if ok:
            cur.execute("UPDATE islands SET applier = %s WHERE island_id = %s", (applier, island_id))
        outcomes.append(ok)
    return outcomes


def start(cur, moves: Sequence[tuple[int, int]], applier: str) -> set[tuple[int, int]]:
    """Take the rows still ``applying`` and still queued by ``applier`` for kubectl (their
    applier name is cleared); the others were deleted, or adopted by another process, meanwhile."""
    started = set()
    for island_id, generation in moves:
        cur.execute("UPDATE islands SET applier = NULL WHERE island_id = %s AND generation = %s "
                    "AND state = 'applying' AND applier = %s", (island_id, generation, applier))
        if cur.rowcount:
            started.add((island_id, generation))
    return started


def orphaned(cur) -> list[IslandRow]:
    """Rows ``applying`` whose queueing process is gone (its lock is free): accepted, never applied."""
    cur.execute("SELECT * FROM islands WHERE state = 'applying' AND generation > 0 AND applier IS NOT NULL "
                "AND IS_USED_LOCK(applier) IS NULL ORDER BY island_id")
    return [IslandRow.from_db(r) for r in cur.fetchall()]


def adopt(cur, island_id: int, generation: int, token_hash: str, applier: str, reason: str, message: str,
          unqueued_ok: bool) -> IslandRow | None:
    """Queue the row again under ``applier`` with a new token hash, or None when it is not ours
    to take: another generation, no longer allocated/applying, its queueing process alive, or
    (unless ``unqueued_ok``: recover, past stuck_after) no queueing process named at all."""
    token_hash = check_token_hash(token_hash)
    row = _lock_current(cur, island_id, generation)
    if row is None or row["state"] not in QUEUED_FROM:
        return None
    if row["applier"] is None:
        if not unqueued_ok:
            return None
    else:
        cur.execute("SELECT IS_USED_LOCK(%s) IS NULL AS free", (row["applier"],))
        if not cur.fetchone()["free"]:
            return None
    now = row["now"]
    reason, message = observed_text(reason, MAX_REASON), observed_text(message, MAX_MESSAGE)
    cur.execute("UPDATE islands SET state = 'applying', reason = %s, message = %s, token_hash = %s, applier = %s, "
                "updated_at = %s, state_since = %s WHERE island_id = %s",
                (reason, message, token_hash, applier, now, now, island_id))
    append_event(cur, island_id, generation, now, row["state"], "applying", reason, message)
    cur.execute("SELECT * FROM islands WHERE island_id = %s", (island_id,))
    return IslandRow.from_db(cur.fetchone())


def restart_queued(cur, registration_table: str, island_id: int, generation: int, token_hash: str,
                   applier: str) -> IslandRow | None:
    """The next generation (islands.restart) committed together with its apply queued under
    ``applier``: a crash after this commit leaves a row start-up or recover applies, never one
    they release (see IslandService.restart for every crash point)."""
    row = restart(cur, registration_table, island_id, generation, token_hash)
    if row is None:
        return None
    queue(cur, registration_table, [(island_id, row.generation)], applier, "Applying", "restart: new pod queued")
    cur.execute("SELECT * FROM islands WHERE island_id = %s", (island_id,))
    return IslandRow.from_db(cur.fetchone())
