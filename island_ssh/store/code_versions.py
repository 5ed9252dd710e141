"""The branches' current code versions in MySQL (migrations/0010, table ``branch_code_versions``).

``Store.code_versions``. One row per (branch, node): the version file as that node holds it, read
through a running island there (service/code_versions.py). Shared by every web worker and the
CLI, so the file is read once per islands.code_version_check_interval, not once per page view.
The islands' own versions live on their rows (store/registrations.py writes them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from island_ssh.core.code_version import MAX_VERSION, NodeReading
from island_ssh.store.rows import MAX_BRANCH, MAX_NODE, MAX_POD_NAME, observed_text, utc

_MAX_ERROR = 255


class CodeVersionStore:
    def __init__(self, db) -> None:
        self.db = db

    def readings(self) -> list[NodeReading]:
        def body(cur):
            cur.execute("SELECT branch, node, version, pod, error, read_at FROM branch_code_versions "
                        "ORDER BY branch, node")
            return [NodeReading(branch=r["branch"], node=r["node"], version=r["version"], pod=r["pod"] or "",
                                error=r["error"] or "", read_at=utc(r["read_at"])) for r in cur.fetchall()]

        return self.db.transaction(body, idempotent=True, what="reading the branches' code versions")

    def last_read(self) -> tuple[datetime | None, datetime]:
        """(when the newest reading was taken or None, the database's now)."""
        def body(cur):
            cur.execute("SELECT MAX(read_at) AS last, UTC_TIMESTAMP(6) AS now FROM branch_code_versions")
            r = cur.fetchone()
            return utc(r["last"]), utc(r["now"])

        return self.db.transaction(body, idempotent=True, what="reading when the code versions were read")

    def replace(self, branches: Sequence[str], readings: Sequence[NodeReading]) -> int:
        """The readings of ``branches`` become exactly ``readings`` (nodes not read any more go), in
        ONE transaction, stamped with the database's now; returns how many rows were written."""
        def body(cur):
            cur.execute("SELECT UTC_TIMESTAMP(6) AS now")
            now = cur.fetchone()["now"]
            for branch in branches:
                cur.execute("DELETE FROM branch_code_versions WHERE branch = %s", (branch[:MAX_BRANCH],))
            for r in readings:
                version = r.version if r.version is None or len(r.version) <= MAX_VERSION else None
                cur.execute(
                    "REPLACE INTO branch_code_versions (branch, node, version, pod, error, read_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (r.branch[:MAX_BRANCH], r.node[:MAX_NODE], version, r.pod[:MAX_POD_NAME],
                     observed_text(r.error, _MAX_ERROR), now))
            return len(readings)

        return self.db.transaction(body, what=f"recording the code versions of {len(branches)} branches")
