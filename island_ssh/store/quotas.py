"""What an owner holds, for quotas (core/quota.py): their islands that are not deleted.

Read inside the owner's quota lock (service/quotas.py), right before the allocation, so the
count is what MySQL has committed, whichever web process launched the islands.
"""

from __future__ import annotations

import json

from island_ssh.store.rows import FREE_STATE


def owner_islands(cur, owner_id: str) -> list[tuple[int, str | None]]:
    """(island_id, memory override or None: the default) of each island of ``owner_id`` not deleted."""
    cur.execute("SELECT island_id, overrides FROM islands WHERE owner_id = %s AND state <> %s AND generation > 0",
                (owner_id, FREE_STATE))
    out = []
    for row in cur.fetchall():
        memory = None
        if row["overrides"]:
            try:
                memory = (json.loads(row["overrides"]) or {}).get("memory")
            except (ValueError, AttributeError):
                memory = None
        out.append((int(row["island_id"]), memory if isinstance(memory, str) and memory else None))
    return out

