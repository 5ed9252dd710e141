"""The audit log's SQL (migrations/0007_audit.sql): append an entry, read entries by filter.

Each function takes a cursor inside the caller's transaction. Entries are never updated or
deleted. ``at`` is the database's UTC clock, so entries written by several web processes and the
recover job on other hosts sort on one clock. ``owner_id`` is copied from the island's row when
the entry is written (who owned it then), unless the caller gives it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from island_ssh.core.audit import MAX_ID, MAX_NAME, Actor, AuditEntry, clip_detail
from island_ssh.store.rows import utc

TABLE = "island_audit"


def append(cur, actor_kind: str, actor_id: str, actor_name: str, action: str, island_id: int | None,
           generation: int | None, detail: str, owner_id: str | None = None) -> int:
    if owner_id is None and island_id is not None:
        cur.execute("SELECT owner_id FROM islands WHERE island_id = %s", (island_id,))
        found = cur.fetchone()
        owner_id = found["owner_id"] if found else None
    cur.execute(
        f"INSERT INTO {TABLE} (`at`, actor_kind, actor_id, actor_name, action, island_id, generation, owner_id, "
        "detail) VALUES (UTC_TIMESTAMP(6), %s, %s, %s, %s, %s, %s, %s, %s)",
        (actor_kind[:32], (actor_id or "")[:MAX_ID], (actor_name or "")[:MAX_NAME], action[:48], island_id,
         generation, owner_id[:MAX_ID] if owner_id else None, clip_detail(detail)),
    )
    return int(cur.lastrowid)


def append_many(cur, entries) -> None:
    """``append`` of each entry ((actor_kind, actor_id, actor_name, action, island_id, generation,
    detail, owner_id) tuples) in two statements whatever their number: one read of the clock and
    of the owners the entries do not give, one multi-row INSERT (a recover run's thousands)."""
    missing = sorted({e[4] for e in entries if e[7] is None and e[4] is not None})
    cur.execute("SELECT UTC_TIMESTAMP(6) AS now")
    now = cur.fetchone()["now"]
    owners: dict[int, Any] = {}
    if missing:
        cur.execute(f"SELECT island_id, owner_id FROM islands WHERE island_id IN ({', '.join(['%s'] * len(missing))})",
                    missing)
        owners = {r["island_id"]: r["owner_id"] for r in cur.fetchall()}
    rows = []
    for kind, actor_id, actor_name, action, island_id, generation, detail, owner_id in entries:
        owner_id = owners.get(island_id) if owner_id is None else owner_id
        rows.append((now, kind[:32], (actor_id or "")[:MAX_ID], (actor_name or "")[:MAX_NAME], action[:48], island_id,
                     generation, owner_id[:MAX_ID] if owner_id else None, clip_detail(detail)))
    cur.executemany(
        f"INSERT INTO {TABLE} (`at`, actor_kind, actor_id, actor_name, action, island_id, generation, owner_id, "
        "detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)


def entries(cur, island_id: int | None = None, actor: str | None = None, action: str | None = None,
            since: datetime | None = None, limit: int = 200, visible_to: str | None = None) -> list[AuditEntry]:
    """Newest first. ``actor`` matches a user id, or (for entries without one) the actor kind:
    "recover", "tracker", "operator", ... ``visible_to`` (a non-admin's user id) keeps only the
    entries about islands they owned or that they caused."""
    where: list[str] = []
    args: list[Any] = []
    if island_id is not None:
        where.append("island_id = %s")
        args.append(int(island_id))
    if action is not None:
        where.append("action = %s")
        args.append(action)
    if since is not None:
        where.append("`at` >= %s")
        args.append(since.replace(tzinfo=None))
    if actor is not None:
        where.append("(actor_id = %s OR (actor_id = '' AND actor_kind = %s))")
        args.extend([actor, actor])
    if visible_to is not None:
        where.append("(owner_id = %s OR actor_id = %s)")
        args.extend([visible_to, visible_to])
    sql = f"SELECT * FROM {TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY id DESC LIMIT %s"
    args.append(max(0, int(limit)))
    cur.execute(sql, args)
    return [_entry(r) for r in cur.fetchall()]


def _entry(row: dict) -> AuditEntry:
    return AuditEntry(id=int(row["id"]), at=utc(row["at"]),
                      actor=Actor(row["actor_kind"], row["actor_id"] or "", row["actor_name"] or ""),
                      action=row["action"], island_id=row["island_id"], generation=row["generation"],
                      detail=row["detail"] or "", owner_id=row.get("owner_id"))
