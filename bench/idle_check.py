#!/usr/bin/env python3
"""What one idle check costs at N ready islands: every island probed (as before) vs only the due ones.

    .venv/bin/python bench/idle_check.py [--sizes 50 200] [--json]

On the cluster sandbox (real sshd as the master, real kubectl, the sandbox's API server and
kubelets) and MariaDB: N real islands launched through the service and ready, the product's own
idle thread stopped (this script runs the checks). Settings are the defaults: idle_after 2h,
idle_check_interval 1m, idle_probe_every auto (= 10 min). Per size, one run of each kind:
  * after_launch: an unforced run right after the islands became ready (none is due yet: a launch
    burst costs the idle check nothing);
  * all: a forced run (`island-ssh idle --check`), which probes every ready island: what EVERY
    run cost before islands.idle_probe_every;
  * steady: an unforced run with the islands' last probes spread evenly over one probe period (what
    a service that has been running a while sees): ~N x interval / period islands due;
  * backlog: an unforced run with every island overdue (a burst launched together a period ago):
    the run's cap, 2 x N x interval / period, at least one batch (idle_batch_max).
Per run: islands probed (= kubectl execs on the master), remote commands, wall seconds, and CPU
seconds: master (the private sshd's process tree: sshd, the login bash, every kubectl it ran),
sandbox (its process tree: API server, kubelets, pods), ours (this process: the service and its
threads). A run comes every minute, so a run's CPU seconds are also its share of a core per minute.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_env import bench_env, machine, wait_for  # noqa: E402

from island_ssh.core import idle as core_idle  # noqa: E402
from island_ssh.service.islands import LaunchRequest  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds of a process tree: each live process's own time plus what it reaped (a kubectl
    that exited is in its bash's cutime; nothing is counted twice)."""
    parent, spent = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry.name)] = int(fields[1])
        spent[int(entry.name)] = sum(int(x) for x in fields[11:15]) / TICK
    total, stack, seen = 0.0, [root], set()
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += spent.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


def grow_to(env, n: int) -> list:
    """Launch islands until N are ready, return their rows."""
    missing = n - len(env.store.active())
    if missing > 0:
        env.service.launch_many([LaunchRequest(owner=f"bench{i % 7}", branch="dev") for i in range(missing)])
    wait_for(lambda: sum(r.state == "ready" for r in env.store.active()) >= n, 120 + 3 * n, f"{n} islands ready")
    return [r for r in env.store.active() if r.state == "ready"][:n]


def set_ages(env, ages: dict[int, float]) -> None:
    """Each island's last known probe this many seconds ago (quiet since then, not idle)."""
    def body(cur):
        for island_id, age in ages.items():
            cur.execute("UPDATE islands SET idle_generation = generation, idle_since = NULL, idle_warned_at = NULL, "
                        "activity_checked_at = UTC_TIMESTAMP(6) - INTERVAL %s MICROSECOND, "
                        "quiet_since = UTC_TIMESTAMP(6) - INTERVAL %s MICROSECOND WHERE island_id = %s",
                        (int(age * 1e6), int(age * 1e6), island_id))
    env.store.db.transaction(body)


def one_run(env, force: bool) -> dict:
    idle = env.service.idle
    env.store.db.transaction(lambda cur: cur.execute("DELETE FROM island_idle_runs"))
    master, sandbox = env.sandbox.sshd, env.sandbox.server.pid
    master_pid = master._proc.pid  # the private sshd (run in the foreground): its sessions are its children
    m0, s0, o0, t0 = tree_cpu(master_pid), tree_cpu(sandbox), time.process_time(), time.perf_counter()
    report = idle.check_all(force=force)
    wall = time.perf_counter() - t0
    m1, s1, o1 = tree_cpu(master_pid), tree_cpu(sandbox), time.process_time()
    assert report.ran, report.lines()
    return {"probed": report.checked, "ready": report.ready, "remote_commands": report.remote_commands,
            "seconds": round(wall, 3), "cpu_master": round(m1 - m0, 3), "cpu_sandbox": round(s1 - s0, 3),
            "cpu_ours": round(o1 - o0, 3), "unknown": len(report.unknown)}


def measure(env, n: int) -> dict:
    rows = grow_to(env, n)
    idle = env.service.idle
    ids = [r.island_id for r in rows]
    out = {"islands": n, "period_seconds": idle.period, "interval_seconds": idle.interval,
           "cap": core_idle.run_cap(n, batch_max=idle.batch_max, interval=idle.interval, period=idle.period)}
    set_ages(env, {i: 30.0 for i in ids})  # as right after a launch burst: all probed or ready < a period ago
    out["after_launch"] = one_run(env, force=False)
    out["all"] = one_run(env, force=True)
    span = 0.95 * idle.period + idle.interval  # a steady state: last probes evenly over one cycle
    set_ages(env, {i: k * span / n for k, i in enumerate(ids)})
    out["steady"] = one_run(env, force=False)
    set_ages(env, {i: 2 * idle.period + k for k, i in enumerate(ids)})
    out["backlog"] = one_run(env, force=False)
    return out


def cpu(run: dict) -> float:
    return run["cpu_master"] + run["cpu_sandbox"] + run["cpu_ours"]


def show(r: dict) -> None:
    for kind in ("after_launch", "all", "steady", "backlog"):
        x = r[kind]
        print(f"{r['islands']:>4} islands {kind:>12}: {x['probed']:>4} probed in {x['remote_commands']} command(s), "
              f"{x['seconds']:7.2f} s wall; CPU s master {x['cpu_master']:6.2f} sandbox {x['cpu_sandbox']:6.2f} "
              f"ours {x['cpu_ours']:5.2f}", flush=True)
    before, after = cpu(r["all"]), cpu(r["steady"])
    print(f"{r['islands']:>4} islands: CPU per run (= per minute) before {before:.2f} s, steady {after:.2f} s "
          f"({before / after if after else float('inf'):.1f}x less); cap per run {r['cap']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--json", action="store_true", help="end with one JSON line (bench/run_all.py reads it)")
    args = parser.parse_args()
    islands = {"memory_request": "64Mi", "memory_limit": "256Mi", "readiness_initial_delay": 1,
               "readiness_period": 2, "capacity_check": False}
    results = []
    with bench_env(nodes=[("dev", "64Gi")] * 2, islands=islands) as env:
        env.service.idle.stop()  # the product's own thread would claim runs in between
        for n in sorted(args.sizes):
            results.append(measure(env, n))
            show(results[-1])
    small, big = results[0], results[-1]
    ratio = cpu(big["all"]) / cpu(small["all"]) if cpu(small["all"]) else float("nan")
    print(f"before: CPU of a run {big['islands']} / {small['islands']} islands: {ratio:.2f}x "
          f"(islands {big['islands'] / small['islands']:.0f}x)")
    print(f"machine: {machine()}")
    if args.json:
        print(json.dumps({"results": results, "ratio": round(ratio, 2)}))


if __name__ == "__main__":
    main()
