#!/usr/bin/env python3
"""Allocator throughput: 2 processes x 16 threads allocating island ids on a fresh database.

    .venv/bin/python bench/allocator.py [--processes 2] [--threads 16] [--per-thread 20] [--private]

Uses the MariaDB at 127.0.0.1:3306 (root, no password) or, failing that or with --private, a
private mariadbd. Creates a throw-away database, migrates it, starts every worker, releases them
together, and reports allocations per second over the burst (from the go signal to the last
result) against the goal of 500/s. Checks that no id was handed out twice and that the ids run
contiguously from id_min. Exit status 1 if a check fails (not if only the goal is missed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from island_ssh.config import IslandSettings  # noqa: E402
from island_ssh.store import Store  # noqa: E402
from island_ssh.testing.allocation import run_burst  # noqa: E402
from island_ssh.testing.mariadb import find_or_start_mariadb  # noqa: E402

GOAL_PER_SECOND = 500


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--per-thread", type=int, default=20)
    ap.add_argument("--private", action="store_true", help="always start a private mariadbd")
    args = ap.parse_args()

    total = args.processes * args.threads * args.per_thread
    load_before = os.getloadavg()
    islands = IslandSettings(id_min=1, id_max=max(999, total))
    with tempfile.TemporaryDirectory(prefix="island-bench-") as state, \
            find_or_start_mariadb(state, private=args.private or None) as server:
        name = f"isl_bench_{uuid.uuid4().hex[:10]}"
        settings = server.settings(name)
        with Store(settings) as store:
            store.migrate()
        try:
            burst = run_burst(settings, islands, args.processes, args.threads, args.per_thread)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        finally:
            server.drop_database(name)

    ids, errors, elapsed = burst.ids, burst.errors, burst.seconds
    duplicates = len(ids) - len(set(ids))
    contiguous = sorted(ids) == list(range(islands.id_min, islands.id_min + len(ids)))
    rate = len(ids) / elapsed
    print(f"server: {server.kind} {server.host}:{server.port}; load average before the run: "
          f"{load_before[0]:.2f} on {os.cpu_count()} cores (other work on the machine lowers the figure)")
    print(f"{len(ids)} allocations by {args.processes} processes x {args.threads} threads in {elapsed:.2f} s")
    print(f"rate: {rate:.0f} allocations/s (goal >= {GOAL_PER_SECOND}/s: {'met' if rate >= GOAL_PER_SECOND else 'MISSED'})")
    print(f"duplicates: {duplicates}, contiguous from {islands.id_min}: {contiguous}, errors: {len(errors)}")
    for e in errors[:5]:
        print("  error:", e)
    return 0 if not duplicates and contiguous and not errors and len(ids) == total else 1


if __name__ == "__main__":
    sys.exit(main())
