"""Load: N islands launched through the REST API at once on the sandbox -> all ready.

Measured for each N: seconds until every POST /api/islands returned (allocated, apply queued),
until every pod is stored by the API server (applied: the service applies in the background,
launches that arrive together in one kubectl apply), until every island is ready, the service's CPU seconds per launch (this process: web app, service,
tracker; the HTTP clients' own CPU is subtracted), and the tracker's latency from a status
change in the API server to the row updated and the live event announced (p50, p99). The API
server's side is timed by an independent watch opened straight on it (not through SSH): the
moment it sends a pod's change is compared with the moment the tracker stored and announced the
state that change means.

Every island is checked one by one afterwards (assert_consistent, and its history in order:
allocated, applying, pending, ... ready), not only counted.

N = 10 runs in CI. 100, 200 and 500 only with ISLAND_SSH_LOAD=1 (minutes each, GBs of RAM). The
figures with a breakdown of where the time goes, at two sizes side by side: bench/rest_burst.py.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from faults.helpers import assert_consistent, running_env
from fixtures.island import wait_until
from island_ssh.core.podstate import classify

LOAD = os.environ.get("ISLAND_SSH_LOAD") == "1"
TOKEN = "load-test-token-0123456789abcdef"
SIZES = [10] + [pytest.param(n, marks=[pytest.mark.skipif(not LOAD, reason="ISLAND_SSH_LOAD=1 runs it"),
                                       pytest.mark.timeout(300 + 6 * n)])
                for n in (100, 200, 500)]

pytestmark = [pytest.mark.load, pytest.mark.slow]


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


class ApiWatcher:
    """A watch on the sandbox API server itself: when each pod first showed each state."""

    def __init__(self, sandbox) -> None:
        config = yaml.safe_load(sandbox.info.kubeconfig.read_text())
        url = config["clusters"][0]["cluster"]["server"]
        rv = json.load(urllib.request.urlopen(f"{url}/api/v1/namespaces/default/pods?limit=1", timeout=10))
        self.url = f"{url}/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv['metadata']['resourceVersion']}"
        self.first_seen: dict[tuple[int, str], float] = {}
        self.created: dict[int, float] = {}  # when the API server first sent each island's pod
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with urllib.request.urlopen(self.url, timeout=3600) as resp:
            for line in resp:
                at = time.time()
                if self._stop.is_set():
                    return
                view = classify(json.loads(line)["object"], "altraserver")
                if view.island_id is not None:
                    self.first_seen.setdefault((view.island_id, view.state), at)
                    self.created.setdefault(view.island_id, at)

    def stop(self) -> None:
        self._stop.set()


ORDER = ["allocated", "applying", "pending", "creating", "starting", "ready"]


def assert_every_history_in_order(env, ids) -> None:
    """Each island, one by one: its row ready, its registration the pod's, and its history
    allocated -> applying -> pending -> (creating, starting) -> ready, each transition starting where
    the previous one ended, no state twice, nothing else (no failed, timeout or lost on the way)."""
    for island_id in ids:
        row = env.store.get(island_id)
        assert row is not None and row.state == "ready", (island_id, row)
        chain = [(e.from_state, e.to_state) for e in env.store.events(island_id, generation=row.generation, limit=100)
                 if e.from_state != e.to_state]
        states = [to for _, to in chain]
        assert all(a[1] == b[0] for a, b in zip(chain, chain[1:])), (island_id, chain)
        assert set(states) <= set(ORDER) and states == sorted(set(states), key=ORDER.index), (island_id, chain)
        assert states[:3] == ORDER[:3] and states[-1] == "ready", (island_id, chain)
        reg = env.store.registration(island_id)
        assert reg is not None and (reg.pod_name, reg.node_ip) == (row.pod_name, row.host_ip), (island_id, reg)


def post_launch(port: int, owner: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/islands", method="POST",
                                 data=json.dumps({"owner": owner, "branch": "dev" if hash(owner) % 3 else "weekly"}).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        assert resp.status == 201
        return json.load(resp)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def load_env(big_sandbox, db_settings):
    with running_env(big_sandbox, db_settings, web={"users": {TOKEN: "loader"}, "admins": ["loader"]},
                     ready_timeout=1800.0, readiness_failure_threshold=1800,
                     tracker={"restart_backoff": 0.2, "restart_backoff_max": 1.0}) as env:
        yield env


@pytest.mark.parametrize("n", SIZES)
def test_islands_launched_through_the_rest_api_at_once_all_become_ready(load_env, n):
    env = load_env
    watcher = ApiWatcher(env.sandbox)
    announced: dict[tuple[int, str], float] = {}
    committed: dict[tuple[int, str], float] = {}
    queue = env.tracker.subscribe()
    store_batch = env.tracker.store.transition_batch  # what the tracker stores its transitions with

    def timed_batch(moves):
        outcomes = store_batch(moves)
        at = time.time()
        for move, ok in zip(moves, outcomes):
            if ok:
                committed.setdefault((move.island_id, move.to_state), at)
        return outcomes

    env.tracker.store.transition_batch = timed_batch
    client_cpu = []

    def client(i):
        started = time.thread_time()
        try:
            return post_launch(env.web_port, f"load{n}x{i}")
        finally:
            client_cpu.append(time.thread_time() - started)

    try:
        cpu0, t0, wall0 = cpu_seconds(), time.monotonic(), time.time()
        with ThreadPoolExecutor(max_workers=min(n, 64)) as pool:
            islands = list(pool.map(client, range(n)))
        accepted = time.monotonic() - t0  # every POST answered: allocated, apply queued
        ids = [i["id"] for i in islands]
        assert len(set(ids)) == n
        # applied: every pod stored by the API server (the applies run behind the POSTs)
        wait_until(lambda: all(i in watcher.created for i in ids), 120 + n, f"{n} pods in the API server")
        applied = max(watcher.created[i] for i in ids) - wall0
        wait_until(lambda: all(env.store.get(i).state == "ready" for i in ids), 120 + 2.0 * n, f"{n} islands ready")
        ready = time.monotonic() - t0
        cpu = cpu_seconds() - cpu0 - sum(client_cpu)
        counts = assert_consistent(env, settle_timeout=60)
        assert counts["islands"] == n
        assert_every_history_in_order(env, ids)
        while not queue.empty():
            a = queue.get_nowait()
            announced.setdefault((a.island_id, a.to_state), a.at)
    finally:
        env.tracker.store.transition_batch = store_batch
        env.tracker.unsubscribe(queue)
        watcher.stop()
    to_row = [committed[k] - watcher.first_seen[k] for k in committed if k in watcher.first_seen]
    to_event = [announced[k] - watcher.first_seen[k] for k in announced if k in watcher.first_seen]
    assert len(to_event) >= n and len(to_row) >= n  # at least the `ready` change of every island was timed
    row = (f"LOAD n={n}: POSTs answered {accepted:.1f} s, applied {applied:.1f} s, ready {ready:.1f} s, service CPU {1000 * cpu / n:.0f} ms/launch, "
           f"tracker latency row p50 {1000 * percentile(to_row, 50):.0f} ms p99 {1000 * percentile(to_row, 99):.0f} ms, "
           f"event p50 {1000 * percentile(to_event, 50):.0f} ms p99 {1000 * percentile(to_event, 99):.0f} ms "
           f"({len(to_event)} changes)")
    print("\n" + row)
    report = os.environ.get("ISLAND_SSH_LOAD_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as out:
            out.write(row + "\n")
    env.cleanup()
