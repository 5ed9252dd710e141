"""The notification outbox (migration 0008): webhook calls to make, made, and given up.

``NotifyStore(store)`` wraps the Store's database; each method is one transaction. Times are the
database's UTC clock (UTC_TIMESTAMP), so processes with skewed clocks agree on what is due.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

MAX_ERROR = 2000
MAX_DEDUPE = 190


@dataclass(frozen=True)
class OutboxRow:
    id: int
    dedupe: str
    webhook: str
    event: str
    island_id: int | None
    generation: int | None
    fields: dict
    state: str
    attempts: int
    next_at: datetime
    last_status: int | None
    last_error: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_db(cls, row: dict) -> "OutboxRow":
        try:
            fields = json.loads(row["fields"])
        except ValueError:
            fields = {}
        return cls(id=row["id"], dedupe=row["dedupe"], webhook=row["webhook"], event=row["event"],
                   island_id=row["island_id"], generation=row["generation"], fields=fields, state=row["state"],
                   attempts=row["attempts"], next_at=row["next_at"], last_status=row["last_status"],
                   last_error=row["last_error"] or "", created_at=row["created_at"], updated_at=row["updated_at"],
                   finished_at=row["finished_at"])

    def as_dict(self) -> dict[str, Any]:
        """For the API and ``--json``: no body, only what happened."""
        def iso(t):
            return t.isoformat() + "Z" if t is not None else None
        return {"id": self.id, "webhook": self.webhook, "event": self.event, "island_id": self.island_id,
                "generation": self.generation, "state": self.state, "attempts": self.attempts,
                "next_at": iso(self.next_at) if self.state == "pending" else None,
                "last_status": self.last_status, "last_error": self.last_error,
                "created_at": iso(self.created_at), "finished_at": iso(self.finished_at),
                "text": self.fields.get("text", "")}


@dataclass(frozen=True)
class NewNotification:
    dedupe: str
    webhook: str
    event: str
    island_id: int | None
    generation: int | None
    fields: dict


def _insert(cur, items: Sequence[NewNotification], state: str = "pending") -> int:
    added = 0
    for n in items:
        cur.execute(
            "INSERT IGNORE INTO notify_outbox (dedupe, webhook, event, island_id, generation, fields, state, "
            "attempts, next_at, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 0, UTC_TIMESTAMP(6), "
            "UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            (_dedupe(n.dedupe), n.webhook, n.event, n.island_id, n.generation,
             json.dumps(n.fields, default=str), state))  # ASCII: a lone surrogate stays an escape
        added += cur.rowcount
    return added


class NotifyStore:
    def __init__(self, store) -> None:
        self.store = store
        self.db = store.db

    def _read(self, body):
        return self.db.transaction(body, idempotent=True, what="reading notifications")

    # -- writing ---------------------------------------------------------------------------
    def enqueue(self, items: Sequence[NewNotification]) -> int:
        """Pending notifications, due now; a dedupe key already there adds nothing. Returns how many
        were new."""
        if not items:
            return 0
        return self.db.transaction(lambda cur: _insert(cur, items), idempotent=True,
                                   what=f"queueing {len(items)} notifications")

    def enqueue_and_advance(self, items: Sequence[NewNotification], cursor: str, position: int) -> int:
        """``enqueue`` and move the event cursor ``cursor`` to ``position``, in ONE commit: a crash
        between them cannot lose or double a notification."""
        def body(cur):
            added = _insert(cur, items)
            _set_cursor(cur, cursor, position)
            return added
        return self.db.transaction(body, idempotent=True, what="queueing notifications from island events")

    def cursor(self, name: str) -> int | None:
        def body(cur):
            cur.execute("SELECT position FROM notify_cursor WHERE name = %s", (name,))
            row = cur.fetchone()
            return None if row is None else int(row["position"])
        return self._read(body)

    def start_cursor(self, name: str) -> int:
        """The cursor's position; a new one starts at the latest island event (no history is sent)."""
        def body(cur):
            cur.execute("SELECT position FROM notify_cursor WHERE name = %s FOR UPDATE", (name,))
            row = cur.fetchone()
            if row is not None:
                return int(row["position"])
            cur.execute("SELECT COALESCE(MAX(id), 0) AS top FROM island_events")
            top = int(cur.fetchone()["top"])
            _set_cursor(cur, name, top)
            return top
        return self.db.transaction(body, idempotent=True, what="reading the notification cursor")

    def record(self, row_id: int, *, delivered: bool, give_up: bool, status: int | None, error: str,
               retry_in: float) -> None:
        """The outcome of one call: delivered, failed for good, or due again in ``retry_in`` s."""
        state = "delivered" if delivered else ("failed" if give_up else "pending")
        finished = state != "pending"

        def body(cur):
            cur.execute(
                "UPDATE notify_outbox SET state = %s, attempts = attempts + 1, last_status = %s, last_error = %s, "
                "next_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s MICROSECOND), updated_at = UTC_TIMESTAMP(6), "
                "finished_at = IF(%s, UTC_TIMESTAMP(6), NULL) WHERE id = %s AND state = 'pending'",
                (state, status, error[:MAX_ERROR], int(max(0.0, retry_in) * 1e6), finished, row_id))
        self.db.transaction(body, what=f"recording notification {row_id}")

    def record_finished(self, item: NewNotification, *, delivered: bool, status: int | None, error: str) -> None:
        """A call made outside the queue (``notify test``), kept so doctor and the API show it."""
        state = "delivered" if delivered else "failed"

        def body(cur):
            _insert(cur, [item], state=state)
            cur.execute(
                "UPDATE notify_outbox SET attempts = 1, last_status = %s, last_error = %s, "
                "finished_at = UTC_TIMESTAMP(6) WHERE dedupe = %s", (status, error[:MAX_ERROR], _dedupe(item.dedupe)))
        self.db.transaction(body, idempotent=True, what="recording a test notification")

    def prune(self, older_than: float) -> int:
        """Forget finished notifications older than ``older_than`` seconds."""
        def body(cur):
            cur.execute("DELETE FROM notify_outbox WHERE state <> 'pending' AND "
                        "updated_at < DATE_SUB(UTC_TIMESTAMP(6), INTERVAL %s SECOND) LIMIT 10000", (int(older_than),))
            return cur.rowcount
        return self.db.transaction(body, idempotent=True, what="pruning old notifications")

    # -- reading ---------------------------------------------------------------------------
    def due(self, limit: int) -> list[OutboxRow]:
        def body(cur):
            cur.execute("SELECT * FROM notify_outbox WHERE state = 'pending' AND next_at <= UTC_TIMESTAMP(6) "
                        "ORDER BY next_at, id LIMIT %s", (int(limit),))
            return [OutboxRow.from_db(r) for r in cur.fetchall()]
        return self._read(body)

    def get(self, row_id: int) -> OutboxRow | None:
        def body(cur):
            cur.execute("SELECT * FROM notify_outbox WHERE id = %s", (row_id,))
            row = cur.fetchone()
            return OutboxRow.from_db(row) if row else None
        return self._read(body)

    def recent(self, limit: int = 50, webhook: str | None = None, state: str | None = None,
               event: str | None = None, island_id: int | None = None) -> list[OutboxRow]:
        """Newest first."""
        where, args = ["1 = 1"], []
        for column, value in (("webhook", webhook), ("state", state), ("event", event), ("island_id", island_id)):
            if value is not None:
                where.append(f"{column} = %s")
                args.append(value)

        def body(cur):
            cur.execute(f"SELECT * FROM notify_outbox WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %s",
                        (*args, max(0, int(limit))))
            return [OutboxRow.from_db(r) for r in cur.fetchall()]
        return self._read(body)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per webhook: counts by state, and the oldest pending notification's age in seconds."""
        def body(cur):
            cur.execute("SELECT webhook, state, COUNT(*) AS n, "
                        "MAX(TIMESTAMPDIFF(SECOND, created_at, UTC_TIMESTAMP(6))) AS oldest "
                        "FROM notify_outbox GROUP BY webhook, state")
            out: dict[str, dict[str, Any]] = {}
            for r in cur.fetchall():
                entry = out.setdefault(r["webhook"], {"pending": 0, "delivered": 0, "failed": 0,
                                                      "oldest_pending_seconds": None})
                entry[r["state"]] = int(r["n"])
                if r["state"] == "pending":
                    entry["oldest_pending_seconds"] = int(r["oldest"] or 0)
            return out
        return self._read(body)


def _dedupe(key: str) -> str:
    """The stored key: as given when it fits, else a prefix and a hash (distinct keys stay distinct)."""
    if len(key) <= MAX_DEDUPE:
        return key
    return key[:MAX_DEDUPE - 41] + "#" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:40]


def _set_cursor(cur, name: str, position: int) -> None:
    cur.execute("INSERT INTO notify_cursor (name, position, updated_at) VALUES (%s, %s, UTC_TIMESTAMP(6)) "
                "ON DUPLICATE KEY UPDATE position = VALUES(position), updated_at = VALUES(updated_at)",
                (name, int(position)))
