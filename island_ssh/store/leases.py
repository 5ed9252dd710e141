"""Island leases in MySQL (migrations/0006): extend, claim warnings, find expired, give defaults.

The database's clock (UTC_TIMESTAMP) is the one clock every worker shares, so "now" comes from
it. Several web workers (and the cron recover job) run the reaper: a warning is claimed by
setting ``lease_warned_at`` on a row locked with SKIP LOCKED while it is still NULL, so exactly
one worker sends it; an expiry is claimed by the conditional move to ``terminating``
(``Store.transition(..., expected_from=...)``), which only one caller wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable, Sequence

from island_ssh.store.islands import append_event
from island_ssh.store.rows import FREE_STATE, MAX_MESSAGE, IslandRow, check_island_id, observed_text, utc

_LIVE = f"generation > 0 AND state NOT IN ('{FREE_STATE}', 'terminating')"
WAITING_STATES = ("allocated", "applying")
"""Rows whose apply may still be in flight: the reaper leaves them to the next pass."""


def _micros(seconds: float) -> int:
    return int(round(float(seconds) * 1_000_000))


class LeaseStore:
    """``Store.leases``: each method is one transaction on the store's Database."""

    def __init__(self, db) -> None:
        self.db = db

    def now(self) -> datetime:
        return self.db.transaction(lambda cur: _db_now(cur), idempotent=True, what="reading the database clock")

    def extend(self, island_id: int, generation: int,
               compute: Callable[[IslandRow, datetime], tuple[datetime, str]]) -> IslandRow | None:
        """Lock the island's row, ask ``compute(row, now)`` for the new end and the history line
        (it raises to refuse: nothing changes), store both; None when the row changed meanwhile
        (another generation, or deleted)."""
        check_island_id(island_id)

        def body(cur):
            cur.execute("SELECT *, UTC_TIMESTAMP(6) AS now FROM islands WHERE island_id = %s FOR UPDATE",
                        (island_id,))
            raw = cur.fetchone()
            if raw is None or raw["generation"] != generation or raw["state"] == FREE_STATE:
                return None
            now = raw["now"]
            new_end, message = compute(IslandRow.from_db(raw), utc(now))
            new_end = new_end.replace(tzinfo=None)  # sessions run at +00:00; columns are naive UTC
            cur.execute("UPDATE islands SET lease_expires_at = %s, lease_warned_at = NULL, updated_at = %s "
                        "WHERE island_id = %s", (new_end, now, island_id))
            append_event(cur, island_id, generation, now, raw["state"], raw["state"], "LeaseExtended",
                         observed_text(message, MAX_MESSAGE))
            cur.execute("SELECT * FROM islands WHERE island_id = %s", (island_id,))
            return IslandRow.from_db(cur.fetchone())

        return self.db.transaction(body, what=f"extending island {island_id}'s lease")

    def claim_warnings(self, warning_seconds: float, describe: Callable[[IslandRow, datetime], str],
                       limit: int = 200) -> list[IslandRow]:
        """The live islands whose lease ends within ``warning_seconds`` and whose owner was not
        warned yet, each marked warned (with a ``LeaseWarning`` event saying ``describe(row, now)``)
        in this one transaction: rows another worker holds are skipped, not waited for."""

        def body(cur):
            now = _db_now(cur, naive=True)
            cur.execute(
                f"SELECT * FROM islands FORCE INDEX (islands_lease) WHERE lease_expires_at <= %s "
                f"AND lease_warned_at IS NULL AND {_LIVE} ORDER BY lease_expires_at, island_id LIMIT %s "
                f"FOR UPDATE SKIP LOCKED",
                (now + timedelta(microseconds=_micros(warning_seconds)), int(limit)))
            rows = [IslandRow.from_db(r) for r in cur.fetchall()]
            claimed = []
            for row in rows:
                cur.execute("UPDATE islands SET lease_warned_at = %s WHERE island_id = %s AND generation = %s "
                            "AND lease_warned_at IS NULL", (now, row.island_id, row.generation))
                if cur.rowcount != 1:
                    continue
                append_event(cur, row.island_id, row.generation, now, row.state, row.state, "LeaseWarning",
                             observed_text(describe(row, utc(now)), MAX_MESSAGE))
                claimed.append(IslandRow(**{**row.__dict__, "lease_warned_at": utc(now)}))
            return claimed

        return self.db.transaction(body, what="claiming lease warnings")

    def due_expiries(self, limit: int = 200) -> tuple[datetime, list[IslandRow]]:
        """The database's now and the live islands whose lease has ended by then, oldest end first."""

        def body(cur):
            now = _db_now(cur, naive=True)
            cur.execute(f"SELECT * FROM islands FORCE INDEX (islands_lease) WHERE lease_expires_at <= %s "
                        f"AND {_LIVE} ORDER BY lease_expires_at, island_id LIMIT %s", (now, int(limit)))
            return utc(now), [IslandRow.from_db(r) for r in cur.fetchall()]

        return self.db.transaction(body, idempotent=True, what="reading expired leases")

    def assign_missing(self, default_seconds: float) -> int:
        """Give every live island without a lease (made before leases, or adopted) the default
        lease from now; how many got one."""

        def body(cur):
            cur.execute(f"UPDATE islands SET lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND "
                        f"WHERE lease_expires_at IS NULL AND generation > 0 AND state <> '{FREE_STATE}'",
                        (_micros(default_seconds),))
            return cur.rowcount

        return self.db.transaction(body, what="giving islands without a lease the default one")

    def set_expiry(self, island_id: int, generation: int, expires_at: datetime | None) -> bool:
        """Set the end as it is (tests, adoption): no policy, no event."""
        check_island_id(island_id)
        value = expires_at.replace(tzinfo=None) if expires_at is not None else None

        def body(cur):
            cur.execute("UPDATE islands SET lease_expires_at = %s, lease_warned_at = NULL "
                        "WHERE island_id = %s AND generation = %s AND state <> %s",
                        (value, island_id, generation, FREE_STATE))
            return cur.rowcount == 1

        return self.db.transaction(body, what=f"setting island {island_id}'s lease")

    def ending_before(self, moment: datetime, limit: int = 1000) -> Sequence[IslandRow]:
        """Live islands whose lease ends before ``moment`` (the page's and doctor's "ending soon")."""
        value = moment.replace(tzinfo=None)

        def body(cur):
            cur.execute(f"SELECT * FROM islands FORCE INDEX (islands_lease) WHERE lease_expires_at <= %s "
                        f"AND {_LIVE} ORDER BY lease_expires_at LIMIT %s", (value, int(limit)))
            return [IslandRow.from_db(r) for r in cur.fetchall()]

        return self.db.transaction(body, idempotent=True, what="reading leases")


def _db_now(cur, naive: bool = False) -> datetime:
    cur.execute("SELECT UTC_TIMESTAMP(6) AS now")
    now = cur.fetchone()["now"]
    return now if naive else utc(now)
