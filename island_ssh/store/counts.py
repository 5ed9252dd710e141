"""Counts for the metrics scrape: islands by state and branch in ONE query (service/metrics.py).

Free id slots (state ``deleted``, or never handed out: generation 0) are not islands and are
left out. The ``islands_state`` index (state, island_id) serves the range; at 1,000 islands
the query costs about a millisecond (bench/metrics.py).
"""

from __future__ import annotations

from island_ssh.store.rows import FREE_STATE

_BY_STATE_BRANCH = ("SELECT state, branch, COUNT(*) AS n FROM islands WHERE generation > 0 AND state <> %s "
                    "GROUP BY state, branch")


def islands_by_state_branch(db) -> list[tuple[str, str, int]]:
    """(state, branch, count) of every island that is not a free slot, from ONE query."""
    def body(cur):
        cur.execute(_BY_STATE_BRANCH, (FREE_STATE,))
        return [(r["state"], r["branch"] or "", int(r["n"])) for r in cur.fetchall()]

    return db.transaction(body, idempotent=True, what="counting islands by state and branch")
