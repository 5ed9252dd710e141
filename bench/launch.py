#!/usr/bin/env python3
"""Launch throughput: N islands applied with ONE bulk `kubectl apply` vs one apply per launch.

    .venv/bin/python bench/launch.py [--n 200] [--threads 16] [--run-pods] [--json]

On the cluster sandbox (real sshd, real kubectl, the sandbox API server) and MariaDB, with the
tracker running as in production. Three measurements, same N:
  * bulk:       service.launch_many(N requests): N allocations, then one kubectl apply;
  * grouped:    N service.launch() calls from --threads threads (as N REST POSTs would do), the
                service's group commit letting launches that arrive together share an apply;
  * one by one: the same with islands.apply_batch_max=1: each launch its own kubectl apply over
                the shared SSH connection's 4 shell channels (the product before group commit).
"Applied" = the call returned: every pod is stored by the API server, every row `applying` or
further. By default the pods name images the sandbox does not have (server and side container):
they are scheduled and bound, then wait in ErrImagePull without starting a process, so the
figures are the apply path's. A fourth row, "bulk+side", lets the side containers start (one
real process per pod, as the product's pods do) on the same 2 cores the API server, the service
and MariaDB use: on a real cluster the kubelets run on other machines. --run-pods starts the
servers too (the load test, tests/load, covers running them). Also shown: CPU seconds of this
process (service + tracker) per launch and of the sandbox server process (API server, scheduler,
kubelets) per launch.
Goal: 200 islands applied in under 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_env import bench_env, machine, stop_timing_applies, time_applies, wait_for  # noqa: E402

from island_ssh.service.islands import IslandService, LaunchRequest  # noqa: E402

GOAL_SECONDS = 10.0
GOAL_N = 200
ABSENT_IMAGE = "island-ssh/bench-absent:1"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(env, n: int, image: str | None, mode: str, threads: int, side_image: str | None = None) -> dict:
    requests = [LaunchRequest(owner=f"bench{i}", branch="dev", image=image) for i in range(n)]
    islands = {"side_image": side_image} if side_image else {}
    api_pid = env.sandbox.server.pid
    applies = time_applies(env.kubectl)
    api0, cpu0, t0 = process_cpu(api_pid), cpu_seconds(), time.perf_counter()
    if mode == "bulk":
        rows = IslandService(env.settings.replace(islands=islands), env.store, env.kubectl).launch_many(requests)
    else:
        service = IslandService(env.settings.replace(
            islands={**islands, **({} if mode == "grouped" else {"apply_batch_max": 1})}), env.store, env.kubectl)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            rows = list(pool.map(service.launch, requests))
    applied = time.perf_counter() - t0
    cpu, api_cpu = cpu_seconds() - cpu0, process_cpu(api_pid) - api0
    stop_timing_applies(env.kubectl)
    assert len({r.island_id for r in rows}) == n, "duplicate island ids"
    # the tracker's view catching up: every row past `applying`
    wait_for(lambda: all(r.state != "applying" for r in env.store.active()), 300, "the tracker to see every pod")
    seen = time.perf_counter() - t0
    return {"applied_s": applied, "kubectl_apply_s": sum(applies), "applies": len(applies), "tracked_s": seen, "per_s": n / applied, "cpu_per_launch_ms": 1000 * cpu / n,
            "api_cpu_per_launch_ms": 1000 * api_cpu / n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=GOAL_N)
    parser.add_argument("--threads", type=int, default=16, help="callers in the one-by-one run")
    parser.add_argument("--run-pods", action="store_true", help="schedule and start the pods too")
    parser.add_argument("--json", action="store_true", help="print one JSON document at the end")
    args = parser.parse_args()
    image, side = (None, None) if args.run_pods else (ABSENT_IMAGE, ABSENT_IMAGE)
    nodes = [("dev", "64Gi")] * 3
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  {machine()}")
    print(f"launching {args.n} islands ({'pods started' if args.run_pods else 'pods bound, never started'})")
    runs = [("bulk", side), ("grouped", side), ("one_by_one", side)] + ([] if args.run_pods else [("bulk+side", None)])
    results = {}
    with bench_env(nodes) as env:
        env.service.launch_many([LaunchRequest(owner="warmup", branch="dev", image=image)])  # connect, slots, caches
        env.clear()
        for label, side_image in runs:
            results[label] = measure(env, args.n, image, label.split("+")[0], args.threads, side_image)
            r = results[label]
            print(f"  {label:10s}: {args.n} applied in {r['applied_s']:6.2f} s ({r['per_s']:6.1f}/s), "
                  f"({r['applies']} kubectl applies, {r['kubectl_apply_s']:6.2f} s summed), "
                  f"tracker saw all after {r['tracked_s']:6.2f} s; CPU per launch: service {r['cpu_per_launch_ms']:.1f} ms, "
                  f"sandbox {r['api_cpu_per_launch_ms']:.1f} ms")
            env.clear()
    bulk, grouped, single = results["bulk"], results["grouped"], results["one_by_one"]
    scaled = bulk["applied_s"] * GOAL_N / args.n
    ok = scaled < GOAL_SECONDS
    print(f"  bulk vs one by one: {single['applied_s'] / bulk['applied_s']:.1f}x faster; "
          f"grouped vs one by one: {single['applied_s'] / grouped['applied_s']:.1f}x faster")
    print(f"  goal: {GOAL_N} applied in < {GOAL_SECONDS:.0f} s -> bulk {scaled:.2f} s "
          f"{'OK' if ok else 'MISSED'}")
    if "bulk+side" in results:
        print(f"  bulk with the side containers starting on the same cores: "
              f"{results['bulk+side']['applied_s'] * GOAL_N / args.n:.2f} s for {GOAL_N}")
    if args.json:
        print(json.dumps({"n": args.n, "run_pods": args.run_pods, "results": results,
                          "ratio": single["applied_s"] / bulk["applied_s"],
                          "grouped_ratio": single["applied_s"] / grouped["applied_s"], "goal_met": ok}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
