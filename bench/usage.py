#!/usr/bin/env python3
"""Per-island resource use: what polling costs at 200 islands vs 20 (issue 15).

    .venv/bin/python bench/usage.py [--sizes 20 200] [--readers 16] [--json]

On the cluster sandbox (real sshd, real kubectl, the sandbox API server serving metrics.k8s.io
from the pods' real processes) and MariaDB: N real islands launched through the service and
ready (each runs the stand-in island server and its side container). Per size:
  * poll: ``service.usage.refresh()``: ONE ``kubectl get --raw .../metrics.k8s.io/v1beta1/
    namespaces/NS/pods?labelSelector=<managed-by>`` for every island: kubectl calls and seconds;
  * page loads: ``--readers`` threads each reading ``usage_all()`` and every island's ``usage(id)``
    (what 16 open pages and their 200 rows ask), arriving together on an expired cache: kubectl
    calls (SingleFlight: they share one poll in flight, kept islands.usage_cache_seconds) and seconds;
  * one call per island (what the product does NOT do): ``kubectl get --raw .../pods/NAME`` for each
    island: calls and seconds, for comparison.
Goal: one kubectl call per poll at every size (not one per island), and a poll at 200 islands
under 2 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_env import bench_env, machine, wait_for  # noqa: E402

from island_ssh.service.islands import LaunchRequest  # noqa: E402

GOAL_POLL_SECONDS = 2.0


def calls(env) -> int:
    return sum(env.kubectl.commands.values())


def grow_to(env, n: int) -> list:
    """Launch islands until N are ready (a batch of the missing ones), return their rows."""
    have = [r for r in env.store.active()]
    missing = n - len(have)
    if missing > 0:
        env.service.launch_many([LaunchRequest(owner=f"bench{i % 7}", branch="dev") for i in range(missing)])
    wait_for(lambda: sum(r.state == "ready" for r in env.store.active()) >= n, 120 + 3 * n,
             f"{n} islands ready")
    return [r for r in env.store.active() if r.state == "ready"][:n]


def measure(env, n: int, readers: int) -> dict:
    rows = grow_to(env, n)
    usage = env.service.usage
    wait_for(lambda: sum(u["available"] for u in usage.refresh() and usage.usage_all()["islands"]) >= n, 60,
             "a sample of every island")
    before, started = calls(env), time.perf_counter()
    snapshot = usage.refresh()
    poll_seconds, poll_calls = time.perf_counter() - started, calls(env) - before
    assert snapshot.available and len(snapshot.pods) >= n, snapshot.reason

    usage.expire()  # the readers arrive together on an expired cache: they share ONE poll in flight
    before, started = calls(env), time.perf_counter()

    def page(_):
        listing = usage.usage_all()
        return len(listing["islands"]) + sum(1 for r in rows if usage.usage(r.island_id, row=r)["available"])

    with ThreadPoolExecutor(readers) as pool:
        reads = sum(pool.map(page, range(readers)))
    page_seconds, page_calls = time.perf_counter() - started, calls(env) - before

    before, started = calls(env), time.perf_counter()
    namespace = env.settings.kube.namespace
    for r in rows:
        env.kubectl.run("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{r.pod_name}",
                        namespaced=False)
    each_seconds, each_calls = time.perf_counter() - started, calls(env) - before
    return {"islands": n, "poll_calls": poll_calls, "poll_seconds": round(poll_seconds, 3),
            "page_reads": reads, "page_calls": page_calls, "page_seconds": round(page_seconds, 3),
            "per_island_calls": each_calls, "per_island_seconds": round(each_seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--readers", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="end with one JSON line (bench/run_all.py reads it)")
    args = parser.parse_args()
    biggest = max(args.sizes)
    islands = {"memory_request": "64Mi", "memory_limit": "256Mi", "usage_cache_seconds": 30.0,
               "readiness_initial_delay": 1, "readiness_period": 2, "capacity_check": False}
    results = []
    with bench_env(nodes=[("dev", "64Gi")] * 2, islands=islands) as env:
        for n in sorted(args.sizes):
            result = measure(env, n, args.readers)
            results.append(result)
            print(f"{n:>4} islands: poll {result['poll_calls']} kubectl call(s) {result['poll_seconds']:.3f} s; "
                  f"{args.readers} pages ({result['page_reads']} usage reads) {result['page_calls']} call(s) "
                  f"{result['page_seconds']:.3f} s; one call per island {result['per_island_calls']} calls "
                  f"{result['per_island_seconds']:.3f} s", flush=True)
    small, big = results[0], results[-1]
    ratio = big["poll_seconds"] / small["poll_seconds"] if small["poll_seconds"] else float("nan")
    print(f"poll seconds {big['islands']} / {small['islands']} islands: {ratio:.2f}x "
          f"(islands {big['islands'] / small['islands']:.0f}x); kubectl calls per poll at {biggest}: "
          f"{big['poll_calls']} (one per island would be {big['per_island_calls']}, "
          f"{big['per_island_seconds']:.2f} s)")
    print(f"machine: {machine()}")
    if args.json:
        print(json.dumps({"results": results, "ratio": round(ratio, 2), "goal_poll_seconds": GOAL_POLL_SECONDS}))


if __name__ == "__main__":
    main()
