"""Idle records in MySQL (migrations/0009): save a batch of checks, claim runs and warnings.

``Store.idle``. The database's clock (UTC_TIMESTAMP) is the one clock every worker shares. A run
of the idle check is claimed by moving ``island_idle_runs.last_run_at`` under its row lock, so
several web workers (and the cron recover job) run it once per islands.idle_check_interval; a
warning is claimed by setting ``idle_warned_at`` while it is still NULL, so exactly one worker
sends it. Every write is conditional on the island's generation and state ``ready``: a check
that raced a delete or a restart changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

from island_ssh.core.idle import IdleRecord
from island_ssh.store.rows import check_island_id, utc

RUN_NAME_MAX = 64


def _naive(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _db_now(cur) -> datetime:
    cur.execute("SELECT UTC_TIMESTAMP(6) AS now")
    return utc(cur.fetchone()["now"])


class IdleStore:
    def __init__(self, db) -> None:
        self.db = db

    def now(self) -> datetime:
        return self.db.transaction(_db_now, idempotent=True, what="reading the database clock")

    def claim_run(self, name: str, interval: float, force: bool = False) -> datetime | None:
        """The database's now when this caller runs the check; None when another ran it less than
        ``interval`` seconds ago (``force``: run anyway, and record it)."""
        if not isinstance(name, str) or not 0 < len(name) <= RUN_NAME_MAX:
            raise ValueError(f"run name {name!r}: 1 to {RUN_NAME_MAX} characters")

        def body(cur):
            now = _db_now(cur)
            cur.execute("INSERT IGNORE INTO island_idle_runs (name, last_run_at) VALUES (%s, '1970-01-01')", (name,))
            cur.execute("SELECT last_run_at FROM island_idle_runs WHERE name = %s FOR UPDATE", (name,))
            last = utc(cur.fetchone()["last_run_at"])
            # 0.9: a worker whose timer fires a little early still takes its turn
            if not force and (now - last).total_seconds() < 0.9 * interval:
                return None
            cur.execute("UPDATE island_idle_runs SET last_run_at = %s WHERE name = %s", (_naive(now), name))
            return now

        return self.db.transaction(body, what="claiming the idle check")

    def save(self, records: Sequence[tuple[int, int, IdleRecord]]) -> int:
        """Store each (island_id, generation, record) of a still-ready island, in ONE transaction;
        returns how many rows took it."""
        for island_id, _, _ in records:
            check_island_id(island_id)
        if not records:
            return 0

        def body(cur):
            taken = 0
            for island_id, generation, r in records:
                taken += cur.execute(
                    "UPDATE islands SET idle_generation = %s, quiet_since = %s, idle_since = %s, "
                    "last_activity_at = %s, activity_checked_at = %s, idle_warned_at = %s "
                    "WHERE island_id = %s AND generation = %s AND state = 'ready'",
                    (generation, _naive(r.quiet_since), _naive(r.idle_since), _naive(r.last_activity_at),
                     _naive(r.checked_at), _naive(r.warned_at), island_id, generation))
            return taken

        return self.db.transaction(body, what=f"recording the idle check of {len(records)} islands")

    def claim_warning(self, island_id: int, generation: int) -> datetime | None:
        """Set idle_warned_at (now) if the island is still idle and unwarned; the time, or None
        when another worker warned it first, or it changed meanwhile."""
        check_island_id(island_id)

        def body(cur):
            now = _db_now(cur)
            n = cur.execute(
                "UPDATE islands SET idle_warned_at = %s WHERE island_id = %s AND generation = %s AND "
                "idle_generation = %s AND state = 'ready' AND idle_since IS NOT NULL AND idle_warned_at IS NULL",
                (_naive(now), island_id, generation, generation))
            return now if n == 1 else None

        return self.db.transaction(body, what=f"claiming island {island_id}'s idle warning")
