"""Tracker latency during a launch burst (bench/tracker_latency.py --bursts N M).

N islands launched at once in bulk (service.launch_many: one `kubectl apply`), pods scheduled and
started for real (a server and a side container each, on the 2 cores everything else uses), until
every row is `ready`. Each pod's state changes (pending, creating, starting, ready) are timed:
  sent       an independent watch on the API server, in ANOTHER process (this one's GIL is the
             tracker's, so a watcher thread here would be delayed with it), first saw the pod in
             that state (``python bench/tracker_burst.py --watch URL`` prints when);
  taken      the tracker took the batch holding that line from the SSH stream (Tracker.timing);
  stored     the transaction storing the transition committed;
  announced  the live event went to the tracker's subscribers (what the web page's stream reads).
"""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from sandbox_env import percentile, wait_for  # noqa: E402

from island_ssh.core.names import WAITING_STATES  # noqa: E402
from island_ssh.core.podstate import classify  # noqa: E402


def watch_main(url: str) -> int:
    """The independent watcher (its own process): one line `time island state` per pod state first seen."""
    seen = set()
    with urllib.request.urlopen(url, timeout=3600) as resp:
        print("watching", flush=True)
        for line in resp:
            at = time.time()
            view = classify(json.loads(line)["object"], "altraserver")
            if view.island_id is not None and (view.island_id, view.state) not in seen:
                seen.add((view.island_id, view.state))
                print(f"{at:.6f} {view.island_id} {view.state}", flush=True)
    return 0


class ApiWatch:
    def __init__(self, api_url: str) -> None:
        rv = json.load(urllib.request.urlopen(f"{api_url}/api/v1/namespaces/default/pods?limit=1", timeout=10))
        url = f"{api_url}/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv['metadata']['resourceVersion']}"
        self.sent: dict[tuple[int, str], float] = {}
        self.proc = subprocess.Popen([sys.executable, __file__, "--watch", url], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "watching"
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            at, island, state = line.split()
            self.sent.setdefault((int(island), state), float(at))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._thread.join(10)


def busy_intervals(timing) -> list[tuple[float, float]]:
    """When the tracker's thread was busy (a batch, a re-list, a timeout check), merged, in order."""
    spans = sorted([(b.taken, b.announced) for b in timing.batches] + [(p.started, p.ended) for p in timing.pauses])
    merged: list[list[float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def overlap(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of ``spans`` within [start, end]: how long a line sent at ``start`` and taken at
    ``end`` waited for the tracker to finish something else (the rest: on its way to the tracker)."""
    i = max(0, bisect.bisect_left(spans, (start,)) - 1)
    total = 0.0
    while i < len(spans) and spans[i][0] < end:
        total += max(0.0, min(end, spans[i][1]) - max(start, spans[i][0]))
        i += 1
    return total


def spread(values: list[float]) -> dict:
    ms = [1000 * v for v in values] or [float("nan")]
    return {"n": len(values), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "max_ms": max(ms)}


def measure_burst(env, n: int, timings, switch_interval: float | None = None) -> dict:
    """One burst of ``n``; ``switch_interval``: Python's for this burst (the tracker set its own at start)."""
    from island_ssh.kube.tracker_timing import TrackerTiming
    from island_ssh.service.islands import LaunchRequest

    tracker = env.tracker
    tracker.timing = TrackerTiming()
    watch = ApiWatch(env.api_url)
    kept = sys.getswitchinterval()
    if switch_interval:
        sys.setswitchinterval(switch_interval)
    try:
        t0 = time.monotonic()
        rows = env.service.launch_many([LaunchRequest(owner=f"burst{n}x{i}", branch="dev") for i in range(n)])
        applied = time.monotonic() - t0
        ids = [r.island_id for r in rows]
        # settled: ready, or an end the tracker decided (on a crowded machine some pods fail to
        # start: the sandbox's container setup times out); each such island is counted
        wait_for(lambda: not any(r.state in WAITING_STATES for r in env.store.get_many(ids)), 120 + 2.0 * n,
                 f"{n} islands ready or ended")
        ready = time.monotonic() - t0
        final = {i: r.state for i, r in zip(ids, env.store.get_many(ids))}
        wait_for(lambda: all((i, s) in timings.announced for i, s in final.items()), 30, "every end announced")
    finally:
        sys.setswitchinterval(kept)
        watch.stop()
        timing, tracker.timing = tracker.timing, None
    wanted = set(ids)
    batch_of = {}
    for b in timing.batches:
        for key in b.keys:
            batch_of.setdefault(key, b)
    keys = [k for k in watch.sent if k[0] in wanted and k in timings.announced and k in batch_of]
    parts = {name: [] for name in ("to_row", "to_event", "to_tracker", "busy_wait", "in_tracker", "store")}
    busy = busy_intervals(timing)
    for k in keys:
        sent, b = watch.sent[k], batch_of[k]
        parts["to_row"].append(timings.committed[k] - sent)
        parts["to_event"].append(timings.announced[k] - sent)
        parts["to_tracker"].append(b.taken - sent)
        parts["busy_wait"].append(overlap(busy, sent, b.taken))
        parts["in_tracker"].append(b.announced - b.taken)
        parts["store"].append(b.stored - b.read)
    batches = [b for b in timing.batches if b.keys]
    pauses = {}
    for p in timing.pauses:
        count, total, longest = pauses.get(p.kind, (0, 0.0, 0.0))
        pauses[p.kind] = (count + 1, total + p.ended - p.started, max(longest, p.ended - p.started))
    result = {"n": n, "switch_interval_ms": 1000 * (switch_interval or kept), "applied_s": applied, "ready_s": ready, "changes": len(keys),
              "not_ready": sorted({s for s in final.values() if s != "ready"}),
              "ready": sum(s == "ready" for s in final.values()),
              **{name: spread(values) for name, values in parts.items()},
              "batches": len(batches), "lines_max": max((b.lines for b in batches), default=0),
              "batch_ms_max": 1000 * max((b.announced - b.taken for b in batches), default=0.0),
              "pauses": {k: {"count": c, "total_ms": 1000 * t, "max_ms": 1000 * m} for k, (c, t, m) in pauses.items()}}
    env.clear()
    return result


def print_burst(r: dict) -> None:
    def pp(name):
        return f"p50 {r[name]['p50_ms']:6.1f} ms p99 {r[name]['p99_ms']:7.1f} ms"
    ended = f" ({r['n'] - r['ready']} ended {'/'.join(r['not_ready'])})" if r["ready"] < r["n"] else ""
    print(f"  launch burst n={r['n']} (switch interval {r['switch_interval_ms']:g} ms): applied {r['applied_s']:.1f} s, all settled {r['ready_s']:.1f} s, "
          f"{r['ready']} ready{ended}, {r['changes']} changes timed")
    print(f"    API -> row stored    {pp('to_row')}")
    print(f"    API -> live event    {pp('to_event')} (max {r['to_event']['max_ms']:.0f} ms)")
    print(f"    of which API -> taken by the tracker {pp('to_tracker')} (waiting for the tracker's thread "
          f"{pp('busy_wait')}); taken -> announced {pp('in_tracker')}; store {pp('store')}")
    pauses = ", ".join(f"{k} {v['count']}x max {v['max_ms']:.0f} ms" for k, v in r["pauses"].items())
    print(f"    {r['batches']} batches, largest {r['lines_max']} lines, longest {r['batch_ms_max']:.0f} ms; pauses: {pauses}")


def store_comparison(store, n: int) -> dict:
    """``n`` transitions in one transaction: one islands.transition per move (3 statements each,
    the store before issue 16) against store/moves.py (a few statements for the batch), side by
    side, on rows allocated for it (no pod: the tracker leaves them alone), released after."""
    from island_ssh.core.settings import IslandSettings
    from island_ssh.store import Move, hash_token, islands

    settings = IslandSettings(id_min=1, id_max=2000)
    rows = [store.allocate(f"cmp{i}", "bench", lambda i: f"cmp-{i}", None, hash_token("t"), settings) for i in range(n)]

    def per_move(moves):
        return store.db.transaction(lambda cur: [islands.transition(cur, store._registrations, *m) for m in moves])

    best = {}
    for round_ in range(3):
        for label, run in (("per_move", per_move), ("batched", store.transition_batch)):
            moves = [Move(r.island_id, r.generation, "allocated", "Compare", f"{label} {round_}") for r in rows]
            started = time.perf_counter()
            assert all(run(moves))
            best[label] = min(best.get(label, 1e9), time.perf_counter() - started)
    for r in rows:
        store.release(r.island_id, r.generation, "BenchCleanup")
    return {"n": n, "per_move_ms": 1000 * best["per_move"], "batched_ms": 1000 * best["batched"]}


if __name__ == "__main__" and sys.argv[1:2] == ["--watch"]:
    raise SystemExit(watch_main(sys.argv[2]))
