#!/usr/bin/env python3
"""/metrics scrape time at 1,000 islands and at 100 (the ratio says whether it grows with them).

    .venv/bin/python bench/metrics.py [--islands 100 1000] [--scrapes 200] [--json]

A throw-away MariaDB database holding N islands (rows allocated through the store, spread over
six states and four branches), the real web app (create_app, the blueprint's /metrics view, the
service's scrape: ONE GROUP BY query plus the process's registry) asked through Flask's test
client, so no socket is timed, only the app. The registry holds what a busy day leaves: every
histogram and counter with series for each state, branch, verb and node. No cluster: a scrape
never calls kubectl (its FakeKubectl would record a call, and the run fails if it does).
Printed per size: median and p99 of a whole scrape, of the MySQL query alone, the body's size,
and the ratio 1,000 / 100 side by side. Goal: the ratio stays near 1 (the query reads an index
range; the rest does not depend on islands), and a scrape under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from island_ssh.config import DEFAULT_CONFIG, load_settings  # noqa: E402
from island_ssh.core.manifests import pod_name  # noqa: E402
from island_ssh.core.tokens import hash_token  # noqa: E402
from island_ssh.observe import metrics  # noqa: E402

GOAL_MS = 50.0
STATES = ("ready", "ready", "ready", "starting", "pending", "failed", "lost", "applying")
BRANCHES = ("dev", "weekly", "release", "hotfix")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def fill_registry() -> None:
    """Series a busy day leaves in the registry (the scrape writes all of them)."""
    for state in ("allocated", "applying", "pending", "creating", "starting", "ready", "failed", "terminating"):
        metrics.STATE_SECONDS.labels(state).observe(12.0)
    for branch in BRANCHES:
        metrics.LAUNCH_TO_READY_SECONDS.labels(branch).observe(8.0)
    for purpose in ("service", "user-read"):
        metrics.SSH_COMMAND_SECONDS.labels(purpose).observe(0.002)
    for verb in ("apply", "delete", "get", "exec", "logs"):
        metrics.KUBECTL_FAILURES.labels(verb).inc()
    for kind in ("lost", "expire", "reapply", "adopt", "release"):
        metrics.RECOVER_ACTIONS.labels(kind, "done").inc()
    for result in metrics.REGISTRATION_RESULTS:
        metrics.REGISTRATIONS.labels(result).inc()
    metrics.node_memory({f"node-{b}-{i}": (2 ** 30, 8 * 2 ** 30) for b in BRANCHES for i in (1, 2, 3)})
    metrics.TRACKER_LAG_SECONDS.observe(0.8)
    metrics.APPLY_BATCH_ISLANDS.observe(20)


def add_islands(store, settings, upto: int, have: int) -> None:
    for n in range(have, upto):
        branch = BRANCHES[n % len(BRANCHES)]
        row = store.allocate("bench", branch, lambda i, b=branch: pod_name("bench", b, i), {},
                             hash_token(f"bench-token-{n}"), settings.islands)
        state = STATES[n % len(STATES)]
        store.transition(row.island_id, row.generation, "applying", "Applying", "")
        if state != "applying":
            store.transition(row.island_id, row.generation, state, "Bench", "")


def measure(client, store, scrapes: int) -> dict:
    from island_ssh.store.counts import islands_by_state_branch

    whole, query = [], []
    size = 0
    for _ in range(scrapes):
        start = time.perf_counter()
        r = client.get("/metrics")
        whole.append(time.perf_counter() - start)
        assert r.status_code == 200, r.status_code
        size = len(r.data)
        start = time.perf_counter()
        islands_by_state_branch(store.db)
        query.append(time.perf_counter() - start)
    return {"scrape_p50_ms": statistics.median(whole) * 1000, "scrape_p99_ms": percentile(whole, 99) * 1000,
            "query_p50_ms": statistics.median(query) * 1000, "bytes": size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--islands", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from island_ssh.service.islands import IslandService
    from island_ssh.store import Store
    from island_ssh.store.counts import islands_by_state_branch
    from island_ssh.testing.fakes import FakeKubectl
    from island_ssh.testing.mariadb import find_or_start_mariadb
    from island_ssh_web import create_app

    sizes = sorted(args.islands)
    base = load_settings(DEFAULT_CONFIG, environ={})
    db_name = f"isl_bench_metrics_{uuid.uuid4().hex[:8]}"
    results = {}
    with find_or_start_mariadb(Path(tempfile.mkdtemp(prefix="island-ssh-bench-db-"))) as server:
        server.create_database(db_name)
        try:
            settings = base.replace(database=server.settings(db_name), islands={
                "id_max": max(999, sizes[-1] + 10), "branches": list(BRANCHES)})
            with Store(settings.database) as store:
                store.migrate()
                kubectl = FakeKubectl()
                service = IslandService(settings, store, kubectl)
                app = create_app(settings, service=service)
                client = app.test_client()
                fill_registry()
                have = 0
                for n in sizes:
                    start = time.perf_counter()
                    add_islands(store, settings, n, have)
                    have = n
                    print(f"setup: {n} islands in MySQL ({time.perf_counter() - start:.1f} s)", flush=True)
                    measure(client, store, 20)  # warm the pool and the query cache
                    results[n] = measure(client, store, args.scrapes)
                    counted = sum(c for _, _, c in islands_by_state_branch(store.db))
                    assert counted == n, (counted, n)
                calls = getattr(kubectl, "calls", [])
                assert not calls, f"a scrape called kubectl: {calls}"
                app.extensions["island_ssh.service.feed"].close()
                service.close()
        finally:
            server.drop_database(db_name)

    small, big = sizes[0], sizes[-1]
    ratio = results[big]["scrape_p50_ms"] / results[small]["scrape_p50_ms"]
    print(f"\n{'islands':>8} {'scrape p50':>11} {'scrape p99':>11} {'query p50':>10} {'bytes':>7}")
    for n in sizes:
        r = results[n]
        print(f"{n:>8} {r['scrape_p50_ms']:>9.2f}ms {r['scrape_p99_ms']:>9.2f}ms {r['query_p50_ms']:>8.2f}ms "
              f"{r['bytes']:>7}")
    print(f"scrape p50 at {big} / at {small} islands: {ratio:.2f}x; goal: scrape < {GOAL_MS:g} ms "
          f"({'met' if results[big]['scrape_p50_ms'] < GOAL_MS else 'missed'})")
    if args.json:
        print(json.dumps({"sizes": {str(n): results[n] for n in sizes}, "small": small, "big": big,
                          "ratio": ratio, "goal_ms": GOAL_MS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
