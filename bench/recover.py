#!/usr/bin/env python3
"""Recovery at scale: one `recover` run over 5,000 pods in the namespace (islands and other pods
mixed) in under 5 s of OUR time, and at a second size for the ratio, side by side in one run.

    .venv/bin/python bench/recover.py [--sizes 1000 5000] [--other 0.2] [--runs 5] [--json]
                                      [--synthetic-only] [--profile]

SIZE is every pod in the namespace; a fraction --other of them are not islands (another team's
pods, no island_ssh label: the API server's label selector leaves them out of our list, but it
reads them). For each size, in a fresh cluster sandbox (real kubectl over a real sshd) and a
throw-away MariaDB database:

* setup: SIZE x (1 - other) island rows allocated and moved to `applying` as launches do, each
  island's token Secret and Pod (the real templates) applied with the real kubectl, the other pods
  applied beside them. Every pod is bound to a node that has no kubelet (a node name no sandbox
  node has): as on a real cluster nothing runs it and it stays Pending. Each island pod's status
  is then written as a kubelet writes it, a PATCH of its /status subresource straight to the API
  server (Running, both containers running and ready, the conditions, host and pod IPs: the
  shape of tests/core/pods/ready.json, a real cluster's), so the list recover reads is the size
  and shape of one for running islands, without thousands of processes on two cores.
* drift run: the first real run finds every row `applying` and its pod ready: every island is one
  `sync` (the worst drift: a tracker down through the whole launch); the bench then checks that
  every row is `ready` with the pod's node and host IP and one Ready event more.
* steady runs: --runs dry runs and --runs real runs over the consistent cluster, median (the cron
  case). A steady run that finds anything to do is an error (exit 1).

Time split, per run: "kubectl" is the wall time while at least one of the SSH shell's run()s was
in flight (the remote kubectl, the API server, the SSH transport: not ours; recover lists the pods
and the Secrets at once); "ours, wall" is the run's wall time minus that (our parse, planning,
MySQL reads and writes, the executor); "ours, CPU" is this process's
CPU time through the whole run (all threads, including the SSH transport's decryption of the
list while kubectl runs). Goal: ours (wall and CPU) under 5 s at 5,000 pods, growth linear or
better (ratio of ours at the two sizes against the ratio of sizes). The idle check, which a
recover run also starts when no service ran it lately, is turned off here (it probes the pods'
ports through kubectl exec, one batch per 50 islands; see service/idle.py): this measures the
reconciliation. --profile adds one real run under cProfile at the larger size and prints its top
functions.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import json
import pstats
import secrets
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from island_ssh.config import DEFAULT_CONFIG, IslandSettings, RecoverSettings, load_settings  # noqa: E402
from island_ssh.core.recovery_plan import plan_recovery  # noqa: E402
from island_ssh.store import IslandRow  # noqa: E402
from sandbox_env import machine  # noqa: E402

GOAL_SECONDS = 5.0
BRANCH = "bench"
NO_KUBELET_NODE = "bench-node-without-kubelet"
HOST_IP = "127.0.0.99"
READY_STATUS = ROOT / "tests" / "core" / "pods" / "ready.json"


# -- 1. planning alone, synthetic ------------------------------------------------------------
def synthetic(n: int, now: datetime):
    rows, pods = [], []
    for i in range(1, n + 1):
        since = now - timedelta(seconds=600)
        state = "applying" if i % 100 == 0 else "ready"
        rows.append(IslandRow(island_id=i, generation=1, state=state, reason="", message="",
                              pod_name=f"altraserver-bench-dev-{i}", owner="bench", branch="dev", node="node-dev-1",
                              host_ip="127.0.0.11", port_base=30000 + 3 * i, clock_offset_seconds=None,
                              clock_setting=None, resource_version=i, created_at=since, updated_at=since,
                              state_since=since))
        if i % 20 == 0 or state == "applying":
            continue  # lost pod / stuck row
        ended = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ") if i % 50 == 1 else None
        pods.append(_pod(i, ended))
    for i in range(n + 1, n + 1 + n // 50):
        pods.append(_pod(i, None))  # orphans naming free ids
    return rows, pods


def _pod(i: int, ended: str | None) -> dict:
    server = {"name": "altraserver", "ready": ended is None,
              "state": {"terminated": {"exitCode": 1, "finishedAt": ended}} if ended else
              {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
    return {"metadata": {"name": f"altraserver-bench-dev-{i}", "resourceVersion": str(i),
                         "labels": {"island-ssh/id": str(i), "island-ssh/generation": "1", "branch": "dev",
                                    "app.kubernetes.io/managed-by": "island-ssh"},
                         "annotations": {"island-ssh/owner": "bench"}},
            "spec": {"nodeName": "node-dev-1", "containers": [{"name": "altraserver", "env": []}]},
            "status": {"phase": "Running", "hostIP": "127.0.0.11", "containerStatuses": [server]}}


def bench_planning(sizes: list[int]) -> list[dict]:
    """Planning alone, both sizes in alternate turns (7 each), CPU time: on a shared machine the
    wall clock mostly measures the neighbours."""
    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    settings = RecoverSettings(retention=86400, lost_grace=300, stuck_after=300)
    data = {n: synthetic(n, now) for n in sizes}
    times: dict[int, list[float]] = {n: [] for n in sizes}
    actions: dict[int, list] = {}
    for _ in range(7):
        for n, (rows, pods) in data.items():
            start = time.process_time()
            actions[n] = plan_recovery(rows, pods, [], now=now.timestamp(), settings=settings,
                                       islands=IslandSettings(id_min=1, id_max=max(999, 2 * n)), list_rv=10 ** 9)
            times[n].append(time.process_time() - start)
    out = []
    for n in sizes:
        kinds: dict[str, int] = {}
        for a in actions[n]:
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
        median = statistics.median(times[n])
        print(f"planning, synthetic: {n} islands, {len(data[n][1])} pods -> {len(actions[n])} actions {kinds}: "
              f"median {median * 1000:.1f} ms CPU", flush=True)
        out.append({"islands": n, "pods": len(data[n][1]), "actions": len(actions[n]), "median_ms": median * 1000})
    return out


# -- 2. the real thing -----------------------------------------------------------------------
class TimedShell:
    """The runtime's RemoteShell, timing its run()s: ``seconds`` is the wall time during which at
    least one remote command was in flight (recover lists pods and Secrets at once)."""

    def __init__(self, shell) -> None:
        self.shell, self.seconds, self.calls = shell, 0.0, 0
        self._lock, self._busy, self._since = threading.Lock(), 0, 0.0

    def run(self, *args, **kwargs):
        with self._lock:
            if self._busy == 0:
                self._since = time.perf_counter()
            self._busy += 1
            self.calls += 1
        try:
            return self.shell.run(*args, **kwargs)
        finally:
            with self._lock:
                self._busy -= 1
                if self._busy == 0:
                    self.seconds += time.perf_counter() - self._since

    def __getattr__(self, name):
        return getattr(self.shell, name)


def timed_run(rt, settings, timed: TimedShell, profile: cProfile.Profile | None = None, **kw) -> dict:
    from island_ssh.service.recovery import run_recovery
    kube_before, calls_before = timed.seconds, timed.calls
    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    report = run_recovery(settings, rt.store, rt.kubectl, rt.service, **kw)
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    kube = timed.seconds - kube_before
    return {"report": report, "wall_s": wall, "kubectl_s": kube, "ours_wall_s": wall - kube, "ours_cpu_s": cpu,
            "kubectl_calls": timed.calls - calls_before, "plan_s": report.plan_seconds}


def ready_status(template: dict, i: int) -> bytes:
    status = copy.deepcopy(template["status"])
    status["hostIP"], status["hostIPs"] = HOST_IP, [{"ip": HOST_IP}]
    pod_ip = f"10.244.{i // 250}.{i % 250 + 1}"
    status["podIP"], status["podIPs"] = pod_ip, [{"ip": pod_ip}]
    return json.dumps({"status": status}).encode()


def other_pod(i: int, namespace: str) -> dict:
    """Another team's pod in the same namespace: no island_ssh label."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"other-web-{i}", "namespace": namespace,
                         "labels": {"app": "other-web", "team": "tools", "app.kubernetes.io/managed-by": "helm"}},
            "spec": {"nodeName": NO_KUBELET_NODE,
                     "containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"memory": "64Mi"}}}]}}


def setup(rt, settings, info, islands: int, others: int) -> None:
    from island_ssh.core.manifests import IslandSpec, pod_name, render_pod
    from island_ssh.core.names import GENERATION_LABEL, OWNER_ID_ANNOTATION
    from island_ssh.core.token_secret import render_secret
    from island_ssh.core.tokens import hash_token
    from island_ssh.resources import load_template

    ns = settings.kube.namespace
    pod_t, secret_t = load_template("pod"), load_template("secret")
    start = time.perf_counter()
    docs, rows = [], []
    for _ in range(islands):
        token = secrets.token_urlsafe(24)
        row = rt.store.allocate("bench", BRANCH, lambda i: pod_name("bench", BRANCH, i), {}, hash_token(token),
                                settings.islands)
        pod = render_pod(IslandSpec(island_id=row.island_id, owner="bench", branch=BRANCH, memory_request="64Mi",
                                    memory_limit="128Mi", token=token), settings.islands, ns, pod_t)
        pod["metadata"]["labels"][GENERATION_LABEL] = str(row.generation)
        pod["metadata"]["annotations"][OWNER_ID_ANNOTATION] = row.owner_id or "bench"  # as a launch does
        pod["spec"]["nodeName"] = NO_KUBELET_NODE
        docs += [render_secret(row.island_id, row.generation, token, ns, secret_t), pod]
        rows.append(row)
    for i in range(0, len(rows), 500):
        rt.store.transition_many([(r.island_id, r.generation) for r in rows[i:i + 500]], "applying", "Applying",
                                 "manifest queued for kubectl apply")
    print(f"  setup: {islands} rows allocated, applying, in {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    docs += [other_pod(i, ns) for i in range(others)]
    for i in range(0, len(docs), 500):
        rt.kubectl.apply(docs[i:i + 500], timeout=600)
    print(f"  setup: {islands} Secrets + {islands} island pods + {others} other pods applied in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    template = json.loads(READY_STATUS.read_text())
    api = f"http://127.0.0.1:{info.api_port}/api/v1/namespaces/{ns}/pods"

    def patch(row) -> None:
        req = urllib.request.Request(f"{api}/{row.pod_name}/status", data=ready_status(template, row.island_id),
                                     method="PATCH", headers={"Content-Type": "application/merge-patch+json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(patch, rows))
    print(f"  setup: {islands} pod statuses written (Running, ready) in {time.perf_counter() - start:.1f} s",
          flush=True)


def check_synced(rt, islands: int) -> str | None:
    """Every row ready on the pod's node and host IP, with its Ready event; None when so."""
    rows = rt.store.active()
    bad = [r.island_id for r in rows if r.state != "ready" or r.host_ip != HOST_IP or r.node != NO_KUBELET_NODE]
    if len(rows) != islands or bad:
        return f"{len(rows)} rows (expected {islands}); not ready on {NO_KUBELET_NODE}: {bad[:10]}"
    for r in rows[:: max(1, islands // 20)]:  # a sample's history: applying -> ready, once
        states = [e.to_state for e in rt.store.events(r.island_id)]
        if states[-2:] != ["applying", "ready"] or states.count("ready") != 1:
            return f"island {r.island_id}: history {states}"
    return None


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _line(label: str, runs: list[dict]) -> str:
    rep = runs[0]["report"]
    return (f"  {label}: {rep.islands} islands, {rep.pods} island pods: wall {_median(runs, 'wall_s'):.2f} s = "
            f"kubectl {_median(runs, 'kubectl_s'):.2f} s ({runs[0]['kubectl_calls']} calls) + ours "
            f"{_median(runs, 'ours_wall_s'):.2f} s (plan {_median(runs, 'plan_s') * 1000:.0f} ms); "
            f"ours CPU {_median(runs, 'ours_cpu_s'):.2f} s")


def _summary(runs: list[dict]) -> dict:
    return {k: round(_median(runs, k), 3) for k in ("wall_s", "kubectl_s", "ours_wall_s", "ours_cpu_s", "plan_s")}


def bench_size(size: int, other_fraction: float, n_runs: int, profile: bool) -> dict:
    from island_sandbox.manager import Sandbox
    from island_ssh.service.wiring import build_runtime
    from island_ssh.testing.mariadb import find_or_start_mariadb

    others = int(round(size * other_fraction))
    islands = size - others
    print(f"size {size}: {islands} islands + {others} other pods in the namespace", flush=True)
    base = load_settings(DEFAULT_CONFIG, environ={})
    state = Path(tempfile.mkdtemp(prefix="island-ssh-bench-", dir="/var/tmp"))
    state.chmod(0o755)
    db_name = f"isl_bench_recover_{uuid.uuid4().hex[:8]}"
    with find_or_start_mariadb(Path(tempfile.mkdtemp(prefix="island-ssh-bench-db-"))) as server, \
            Sandbox(base.sandbox, state_dir=state) as info:
        server.create_database(db_name)
        try:
            settings = base.replace(
                ssh={**info.ssh_section(), "command_timeout": 300},
                database={"host": server.host, "port": server.port, "user": server.user,
                          "password": server.password, "name": db_name},
                islands={"id_max": max(999, islands), "branches": ["dev", "weekly", BRANCH], "memory_request": "64Mi",
                         "memory_limit": "128Mi", "capacity_check": False, "idle_after": "off"},
                kube={"request_timeout": "300s"})
            rt = build_runtime(settings, check_schema=False)
            rt.store.migrate()
            timed = TimedShell(rt.kubectl.shell)
            rt.kubectl.shell = timed
            setup(rt, settings, info, islands, others)
            drift = timed_run(rt, settings, timed)
            synced = sum(1 for o in drift["report"].outcomes if o.action.kind == "sync" and o.status == "done")
            print(_line(f"drift run ({synced} syncs applying -> ready)", [drift]), flush=True)
            problem = check_synced(rt, islands) or (None if synced == islands else f"{synced} syncs, not {islands}")
            result = {"size": size, "islands": islands, "others": others, "synced": synced, "problem": problem,
                      "drift": _summary([drift])}
            for dry in (True, False):
                runs = [timed_run(rt, settings, timed, dry_run=dry) for _ in range(n_runs)]
                leftover = sum(len(r["report"].outcomes) for r in runs)
                print(_line("dry run" if dry else "real run", runs) + f"; {leftover} actions", flush=True)
                result["dry" if dry else "real"] = {**_summary(runs), "actions": leftover}
                result["problem"] = result["problem"] or (f"{leftover} actions on a consistent cluster"
                                                          if leftover else None)
            if profile:  # one more real run, under cProfile (not one of the timed ones: it slows them)
                prof = cProfile.Profile()
                timed_run(rt, settings, timed, prof)
                for order in ("tottime", "cumulative"):
                    out = io.StringIO()
                    pstats.Stats(prof, stream=out).sort_stats(order).print_stats(25)
                    print(out.getvalue())
            rt.close()
            return result
        finally:
            server.drop_database(db_name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 5000], help="pods in the namespace, two sizes")
    parser.add_argument("--other", type=float, default=0.2, help="fraction of those pods that are not islands")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--synthetic-only", action="store_true")
    parser.add_argument("--profile", action="store_true", help="one more real run under cProfile at the larger size")
    parser.add_argument("--json", action="store_true", help="end with one JSON document of the figures")
    args = parser.parse_args()
    small, big = sorted(args.sizes)
    doc: dict = {"machine": machine(), "goal_s": GOAL_SECONDS,
                 "planning": bench_planning([small, big])}
    if not args.synthetic_only:
        doc["sizes"] = [bench_size(small, args.other, args.runs, False),
                        bench_size(big, args.other, args.runs, args.profile)]
        a, b = doc["sizes"]
        doc["size_ratio"] = b["size"] / a["size"]
        for kind in ("drift", "real"):
            for what in ("ours_wall_s", "ours_cpu_s"):
                doc[f"{kind}_{what[:-2]}_ratio"] = b[kind][what] / max(a[kind][what], 1e-9)
        doc["real_ours_ratio"] = doc["real_ours_wall_ratio"]  # the name bench/run_all.py reads
        worst = max(b["real"]["ours_wall_s"], b["real"]["ours_cpu_s"])
        doc["meets_goal"] = worst < GOAL_SECONDS
        linear = max(doc["real_ours_wall_ratio"], doc["real_ours_cpu_ratio"]) <= doc["size_ratio"] * 1.1
        print(f"ratio {b['size']} / {a['size']} pods = {doc['size_ratio']:.1f}x: ours in a real run "
              f"{doc['real_ours_wall_ratio']:.2f}x wall, {doc['real_ours_cpu_ratio']:.2f}x CPU; in the drift run "
              f"{doc['drift_ours_wall_ratio']:.2f}x wall, {doc['drift_ours_cpu_ratio']:.2f}x CPU "
              f"({'linear or better' if linear else 'WORSE than linear'})")
        print(f"goal: ours < {GOAL_SECONDS:g} s at {b['size']} pods (real run, wall and CPU): "
              f"{'meets' if doc['meets_goal'] else 'MISSES'} ({worst:.2f} s); machine: {machine()}")
    if args.json:
        print(json.dumps(doc, default=str))
    return 1 if any(s.get("problem") for s in doc.get("sizes", [])) else 0


if __name__ == "__main__":
    sys.exit(main())
