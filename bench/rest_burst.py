#!/usr/bin/env python3
"""REST burst: N islands launched through `POST /api/islands` at once on the sandbox -> all ready.

    .venv/bin/python bench/rest_burst.py [--sizes 500 1000] [--json]
        [--server-side-apply true|false|auto] [--apply-parallel N]   (default: conf/island.yaml's)

Each size on a fresh cluster sandbox (three 64Gi nodes, real sshd + kubectl 1.35 as the master,
every pod's two containers real processes: the stand-in game server under libfaketime, its entry
script registering with curl, the side container) and a fresh MariaDB database, with the product
running as in production (waitress web app, service, tracker). The N POSTs come from 64 client
threads; the clock starts at the first POST. Figures per size:

  * POSTs answered / applied (every pod stored by the API server, seen by a watch opened straight
    on it) / all ready (every row `ready` in MySQL);
  * per island (median and max), where its time went: POST -> pod in the API server (ours:
    allocation, group-committed `kubectl apply` over SSH), -> running (the sandbox: scheduler,
    kubelet starting two containers), -> ready in the API server (the containers: entry script,
    registration with our web app, the game server's start, the readiness probe's period), ->
    ready row (the tracker);
  * CPU seconds of each part while the burst ran: the sandbox's one process (API server, scheduler,
    kubelets), the containers' processes, this process (web app, service, tracker; the HTTP
    clients subtracted), the master (sshd, bash, kubectl), MariaDB (shared with whatever else uses
    it), and the rest of the machine (other work on the shared cores).

Every island is then checked, not only counted: its row `ready`, its history in order (allocated,
applying, pending, ... ready, each transition starting where the previous ended), one pod of its
generation in the cluster, its registration (the pod's name and node). The largest size takes the
whole default id range (islands.id_min..id_max): one more POST must be refused (409, no free id).
Goal (issue 16): 500 ready in < 30 s; the ratio between the two sizes shows how it scales.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_env import machine, percentile, stop_timing_applies, time_applies, wait_for  # noqa: E402

from island_ssh.config import SandboxNode  # noqa: E402
from island_ssh.core.podstate import classify  # noqa: E402
from island_ssh.testing import free_port  # noqa: E402

GOAL_N, GOAL_S = 500, 30.0
TOKEN = "rest-burst-token-0123456789abcdef"
ORDER = ["allocated", "applying", "pending", "creating", "starting", "ready"]
NODES = [("node-dev-1", "dev"), ("node-dev-2", "dev"), ("node-weekly-1", "weekly")]
ISLANDS = {"ready_timeout": 1800.0, "readiness_failure_threshold": 1800}
CLK = os.sysconf("SC_CLK_TCK")


# -- CPU accounting from /proc ---------------------------------------------------------------------
def _procs() -> dict[int, tuple[int, str, float]]:
    """{pid: (ppid, comm, cpu seconds of it and of its reaped children)}"""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                raw = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            f = raw[raw.rindex(")") + 2:].split()
            out[int(name)] = (int(f[1]), comm, sum(int(x) for x in f[11:15]) / CLK)
    return out


def _tree(procs, root: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += kids.get(pid, [])
    return found


def machine_busy() -> tuple[float, float, float]:
    """CPU seconds the machine's cores ran work (user, nice, system, irq, softirq), of that the
    interrupts' (irq, softirq: the loopback network's packets, counted in no process), and the
    seconds the hypervisor gave its cores to others (steal: lost, not ours)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (f[0] + f[1] + f[2] + f[5] + f[6]) / CLK, (f[5] + f[6]) / CLK, f[7] / CLK


def cpu_snapshot(box, clients_cpu: float) -> dict[str, float]:
    procs = _procs()
    server = box.server.pid
    sandbox_tree, master_tree = _tree(procs, server), _tree(procs, box.sshd.pid)
    own = resource.getrusage(resource.RUSAGE_SELF)
    busy, interrupts, steal = machine_busy()
    return {"sandbox process (API server, scheduler, kubelets)": procs[server][2],
            "containers (entry.sh, curl, game servers, side containers)":
                sum(procs[p][2] for p in sandbox_tree if p != server and p in procs),
            "ours (web app, service, tracker)": own.ru_utime + own.ru_stime - clients_cpu,
            # the testers' browsers and this bench's own watch: elsewhere on a real floor, here on
            # the same 2 cores
            "load generator (HTTP clients, the timing watch)": clients_cpu,
            "master (sshd, bash, kubectl)": sum(procs[p][2] for p in master_tree if p in procs),
            "MariaDB (shared)": sum(c for _, comm, c in procs.values() if comm in ("mariadbd", "mysqld")),
            # kworkers and the like: namespace, mount and cgroup teardown runs here, not in the
            # process that asked for it
            "kernel threads": sum(c for pid, (ppid, _, c) in procs.items() if ppid == 2 or pid == 2),
            "machine": busy, "interrupts (irq, softirq: the loopback network)": interrupts,
            "machine, stolen by the hypervisor (not in 'machine')": steal}


# -- the burst -----------------------------------------------------------------------------------------
class ApiWatch:
    """A watch on the API server itself: when each island's pod first showed each state."""

    def __init__(self, api_url: str) -> None:
        rv = json.load(urllib.request.urlopen(f"{api_url}/api/v1/namespaces/default/pods?limit=1", timeout=10))
        self.url = f"{api_url}/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv['metadata']['resourceVersion']}"
        self.seen: dict[tuple[int, str], float] = {}
        self.cpu = 0.0  # this thread's CPU seconds: not the product's, subtracted from ours
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        with urllib.request.urlopen(self.url, timeout=3600) as resp:
            for line in resp:
                at = time.time()
                view = classify(json.loads(line)["object"], "altraserver")
                if view.island_id is not None:
                    self.seen.setdefault((view.island_id, "created"), at)
                    self.seen.setdefault((view.island_id, view.state), at)
                self.cpu = time.thread_time()


_client = threading.local()


def post(port: int, owner: str, branch: str) -> tuple[int, dict]:
    """POST /api/islands on this thread's kept-alive connection, as a browser keeps its own
    (urllib would open a connection and build an opener for every request, on the shared cores)."""
    conn = getattr(_client, "conn", None)
    if conn is None or conn.port != port:
        conn = _client.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = json.dumps({"owner": owner, "branch": branch}).encode()
    try:
        conn.request("POST", "/api/islands", body=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    except (http.client.HTTPException, OSError):
        conn.close()
        _client.conn = None
        raise


def check_islands(env, ids: list[int]) -> list[str]:
    """Every island's final state, history and registration; the problems found (none: all good)."""
    problems = []
    pods: dict[int, list[str]] = {}
    for pod in env.managed_pods():
        view = classify(pod, "altraserver")
        pods.setdefault(view.island_id, []).append(pod["metadata"]["name"])
    for island_id in ids:
        row = env.store.get(island_id)
        if row is None or row.state != "ready":
            problems.append(f"{island_id}: row {row and row.state}")
            continue
        chain = [(e.from_state, e.to_state) for e in env.store.events(island_id, generation=row.generation, limit=100)
                 if e.from_state != e.to_state]
        states = [chain[0][1]] + [to for _, to in chain[1:]] if chain else []
        continuous = all(a[1] == b[0] for a, b in zip(chain, chain[1:]))
        ordered = all(s in ORDER for s in states) and [ORDER.index(s) for s in states] == sorted(
            {ORDER.index(s) for s in states})
        if not (continuous and ordered and states[:3] == ORDER[:3] and states[-1] == "ready"):
            problems.append(f"{island_id}: history {chain}")
        if pods.get(island_id) != [row.pod_name]:
            problems.append(f"{island_id}: pods {pods.get(island_id)} for {row.pod_name}")
        reg = env.store.registration(island_id)
        if reg is None or reg.pod_name != row.pod_name or reg.node_ip != row.host_ip:
            problems.append(f"{island_id}: registration {reg}")
    return problems


def burst(n: int, show=None, kube: dict | None = None, islands: dict | None = None) -> dict:
    """One size on its own sandbox and database, measured and checked; ``show(result)`` runs
    before the teardown."""
    from island_ssh.testing.mariadb import find_or_start_mariadb
    from island_sandbox.product import ProductEnv, running_product, running_sandbox, sandbox_settings
    import tempfile
    import uuid

    nodes = [SandboxNode(name=name, labels={"branch": b}, memory="64Gi") for name, b in NODES]
    db_name = f"isl_burst_{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="island-ssh-burst-db-") as db_state, \
            find_or_start_mariadb(db_state) as db, running_sandbox("island-ssh-burst-", up_timeout=60, nodes=nodes) as box:
        db.create_database(db_name)
        try:
            web_port = free_port()
            settings = sandbox_settings(box.info, db.settings(db_name), web_port, islands={**ISLANDS, **(islands or {})},
                                        web={"users": {TOKEN: "loader"}, "admins": ["loader"]},
                                        tracker={"restart_backoff": 0.2, "restart_backoff_max": 1.0}, kube=kube)
            with running_product(settings, web_port) as runtime:
                # no pod deleted afterwards: each size has its own sandbox, whose kubelets stop
                # every container when it stops (kubectl deletes 5 pods a second: its client-side
                # rate limit, minutes for a burst's pods)
                result = _measure(ProductEnv(settings, runtime, web_port), box, n)
                if show:
                    show(result)
                return result
        finally:
            db.drop_database(db_name)


def _measure(env, box, n: int) -> dict:
    import yaml

    api_url = yaml.safe_load(Path(box.info.kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
    watch = ApiWatch(api_url)
    committed: dict[int, float] = {}
    store_batch = env.tracker.store.transition_batch

    def timed_batch(moves):
        outcomes = store_batch(moves)
        at = time.time()
        for move, ok in zip(moves, outcomes):
            if ok and move.to_state == "ready":
                committed.setdefault(move.island_id, at)
        return outcomes

    env.tracker.store.transition_batch = timed_batch
    applies = time_applies(env.kubectl)
    clients_cpu: list[float] = []
    answered: dict[int, float] = {}

    def client(i: int):
        started = time.thread_time()
        try:
            code, body = post(env.web_port, f"burst{n}x{i}", "weekly" if i % 3 == 2 else "dev")
            assert code == 201, (code, body)
            answered[body["id"]] = time.time()
            return body["id"]
        finally:
            clients_cpu.append(time.thread_time() - started)

    id_range = env.settings.islands.id_max - env.settings.islands.id_min + 1
    cpu0, wall0 = cpu_snapshot(box, 0.0), time.time()
    with ThreadPoolExecutor(max_workers=min(n, 64)) as pool:
        ids = list(pool.map(client, range(n)))
    posts = time.time() - wall0
    wait_for(lambda: all((i, "created") in watch.seen for i in ids), 120 + n, f"{n} pods in the API server")
    applied = max(watch.seen[(i, "created")] for i in ids) - wall0
    wait_for(lambda: all(i in committed for i in ids), 300 + 2 * n, f"{n} islands ready")
    ready = max(committed[i] for i in ids) - wall0
    cpu1 = cpu_snapshot(box, sum(clients_cpu) + watch.cpu)
    env.tracker.store.transition_batch = store_batch
    stop_timing_applies(env.kubectl)
    assert len(set(ids)) == n
    problems: list[str] = []

    def checked() -> bool:
        problems[:] = check_islands(env, ids)
        return not problems

    try:
        wait_for(checked, 60, "every island checked")  # the tracker may still be storing a last move
    except Exception:
        raise AssertionError(f"{len(problems)} problems, the first: {problems[:10]}") from None
    refused = None
    if n >= id_range:  # the whole id range is taken: one more launch must be refused, not queued
        refused, _ = post(env.web_port, "burst-one-too-many", "dev")
        assert refused == 409, refused

    def phase(a, b):
        spans = [watch.seen[(i, b)] - (watch.seen[(i, a)] if a else wall0) for i in ids
                 if (i, b) in watch.seen and (a is None or (i, a) in watch.seen)]
        return {"p50_s": percentile(spans, 50), "max_s": max(spans) if spans else float("nan")}

    ready_api = {i: watch.seen.get((i, "ready")) for i in ids}
    tracker = [committed[i] - ready_api[i] for i in ids if ready_api[i]]
    cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
    cpu["rest of the machine (other work)"] = cpu["machine"] - sum(v for k, v in cpu.items() if not k.startswith(
        "machine") and k != "MariaDB (shared)")
    mode = (f"{'server-side' if env.kubectl.server_side_apply() else 'client-side'} apply, "
            f"batches of <= {env.settings.islands.apply_batch_max} in <= {env.settings.islands.apply_parallel} "
            f"parts at once")
    return {"n": n, "apply_mode": mode, "posts_s": posts, "applied_s": applied, "ready_s": ready, "checked": len(ids),
            "applies": len(applies), "kubectl_apply_s": sum(applies), "id_range": id_range, "refused_status": refused,
            "phases": {"POST -> pod in the API server": phase(None, "created"),
                       "pod in the API server -> running": phase("created", "starting"),
                       "running -> ready in the API server": phase("starting", "ready"),
                       "ready in the API server -> ready row": {"p50_s": percentile(tracker, 50),
                                                                "max_s": max(tracker) if tracker else float("nan")}},
            "cpu_s": cpu, "wall_s": ready}


def show(r: dict) -> None:
    n = r["n"]
    print(f"\n{n} islands: POSTs answered {r['posts_s']:.1f} s, applied {r['applied_s']:.1f} s "
          f"({r['applies']} kubectl applies, {r['kubectl_apply_s']:.1f} s summed), all ready {r['ready_s']:.1f} s; "
          f"{r['checked']} checked (state, history, pod, registration); {r['apply_mode']}"
          + (f"; id range of {r['id_range']} full, one more POST -> {r['refused_status']}" if r["refused_status"] else ""))
    for name, p in r["phases"].items():
        print(f"  {name:40s} p50 {p['p50_s']:6.2f} s  max {p['max_s']:6.2f} s")
    for name, sec in r["cpu_s"].items():
        print(f"  CPU {name:60s} {sec:7.1f} s  ({1000 * sec / n:5.0f} ms/island)")
    print(f"  load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[GOAL_N, 1000])
    parser.add_argument("--json", action="store_true", help="print one JSON document at the end")
    parser.add_argument("--server-side-apply", choices=["true", "false", "auto"],
                        help="kube.server_side_apply for the product (default: conf/island.yaml's)")
    parser.add_argument("--apply-parallel", type=int,
                        help="islands.apply_parallel for the product (default: conf/island.yaml's)")
    args = parser.parse_args()
    kube = {"server_side_apply": args.server_side_apply} if args.server_side_apply else None
    islands = {"apply_parallel": args.apply_parallel} if args.apply_parallel else None
    import logging
    import signal
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth is N": the burst itself
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still take the sandbox and database down
    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}  {machine()}", flush=True)
    results = []
    for n in args.sizes:
        results.append(burst(n, show, kube, islands))
    small, big = results
    ratio = big["ready_s"] / small["ready_s"]
    goal = next((r for r in results if r["n"] == GOAL_N), None)
    print(f"\nall ready: {small['n']} in {small['ready_s']:.1f} s, {big['n']} in {big['ready_s']:.1f} s; "
          f"ratio {ratio:.2f} for {big['n'] / small['n']:.1f}x the islands")
    if goal:
        print(f"goal: {GOAL_N} ready in < {GOAL_S:.0f} s -> {goal['ready_s']:.1f} s "
              f"{'OK' if goal['ready_s'] < GOAL_S else 'MISSED'}")
    if args.json:
        print(json.dumps({"results": results, "ratio": ratio, "goal_n": GOAL_N, "goal_s": GOAL_S}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
