#!/usr/bin/env python3
"""The islands page at 1,000 islands and at 250 (issue 16): server time for the table, and a real
Chromium's time to the first table and to apply 100 live updates.

    .venv/bin/python bench/islands_page.py [--islands 250 1000] [--requests 30] [--rounds 3] [--per-page 100] [--json]

One throw-away MariaDB database per size, filled through the store (no cluster: a FakeKubectl that
answers the page's other polls with nothing): N islands walked allocated -> applying -> pending ->
creating -> starting -> ready with their events, a host IP, a registration (the pod's own token),
an 8 h lease, every fifth a clock setting. The real web app over each (create_app, the page,
GET /api/islands, the live feed) served by waitress on 127.0.0.1 as in production
(island_ssh_web.serving). The sizes are asked alternately, request by request, so that a busy
moment of the machine hits both alike:
  * server: GET /api/islands?limit=PER_PAGE (what the page asks), GET /api/islands unpaged (every
    island), GET / (the page's HTML), and the cells' own polls (GET /api/usage, /api/branches):
    median and p95 of --requests HTTP round trips (keep-alive, bearer token), the request thread's
    CPU time, the body's bytes and the SQL statements the request ran (counted in its thread);
  * browser (Debian's chromium + chromedriver, headless), median of --rounds fresh loads: ms from
    navigation start to the first table drawn (window.islandTable.firstTableAt); then 100
    transitions written through the store on islands of the page (ready <-> lost), which the live
    feed (SSE) carries: ms from just before the first write to the 100th applied in the page (and
    the writes' own ms), the page's script time applying them, the longest task (PerformanceObserver
    "longtask"), and the page's re-reads (0: only rows change). The same at ?per_page=N (every
    island on one page) for comparison.
Goal: the table's request < 100 ms at 1,000 islands; the ratio 1,000 / 250 near 1 for the paged
figures (a page costs the same however many islands there are).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from island_ssh.config import DEFAULT_CONFIG, load_settings  # noqa: E402
from island_ssh.core.tokens import hash_token  # noqa: E402
from sandbox_env import machine  # noqa: E402
from island_ssh.testing.browser import chromium  # noqa: E402

GOAL_MS = 100.0
USER_TOKEN = "tok-bench-page-0123456789abcdef0123"
USER = "bench"
BRANCHES = ("dev", "weekly")
_queries = threading.local()


def percentile(values, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def count_queries() -> None:
    """Count the SQL statements each thread runs (pymysql's cursor), so that a request's own
    statements can be told apart from the live feed's polling on its thread."""
    import pymysql.cursors

    execute = pymysql.cursors.Cursor.execute

    def counted(self, query, args=None):
        _queries.n = getattr(_queries, "n", 0) + 1
        return execute(self, query, args)

    pymysql.cursors.Cursor.execute = counted


def counting_app(app, counts: list):
    def wrapped(environ, start_response):
        before, cpu = getattr(_queries, "n", 0), time.thread_time()
        try:
            return app(environ, start_response)
        finally:
            if environ.get("PATH_INFO") != "/api/events":  # the stream's statements are the feed's
                counts.append((environ.get("PATH_INFO"), getattr(_queries, "n", 0) - before,
                               (time.thread_time() - cpu) * 1000))
    return wrapped


def add_islands(store, settings, have: int, upto: int) -> None:
    for n in range(have, upto):
        branch = BRANCHES[n % len(BRANCHES)]
        token = f"bench-island-token-{n:06d}-0123456789"
        row = store.allocate(USER, branch, lambda i, b=branch: f"altraserver-bench-{b}-{i}", {},
                             hash_token(token), settings.islands, owner_id=USER, lease_seconds=8 * 3600)
        ip = f"10.0.{n // 250}.{n % 250 + 1}"
        for state in ("applying", "pending", "creating", "starting"):
            store.transition(row.island_id, row.generation, state, state.capitalize(), "",
                             node=f"node-{branch}-{n % 3}", host_ip=ip)
        store.register(row.island_id, token, ip, ",".join(map(str, row.ports)), row.pod_name)
        store.transition(row.island_id, row.generation, "ready", "Ready", "")
        if n % 5 == 0:
            store.set_clock(row.island_id, row.generation, 86400.0, "+1d")


_connections: dict = {}


def http_times(port: int, path: str, n: int, warm: int = 3) -> dict:
    """GET ``path`` n times over one kept-alive connection per port; the last time and size."""
    conn = _connections.get(port) or _connections.setdefault(port, http.client.HTTPConnection("127.0.0.1", port,
                                                                                             timeout=120))
    headers = {"Authorization": f"Bearer {USER_TOKEN}", "Accept": "application/json"}
    took = size = 0
    for _ in range(warm + n):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        took = time.perf_counter() - start
        assert response.status == 200, (path, response.status, body[:300])
        size = len(body)
    return {"ms": took * 1000, "bytes": size}


def until(condition, timeout: float, what: str):
    from island_ssh.testing.waiting import wait_for
    return wait_for(condition, timeout, what)


def browser_run(driver, base: str, store, query: str, flip: list, expect_rows: int) -> dict:
    """Load the page fresh, time its first table, then 100 transitions to its rows."""
    driver.get(f"{base}/{query}")
    until(lambda: driver.execute_script("return !!(window.islandTable && window.islandTable.firstTableAt)"), 60,
          "the first table")
    first = driver.execute_script("return window.islandTable.firstTableAt")
    rows = driver.execute_script("return document.querySelectorAll('#islands tbody tr').length")
    assert rows == expect_rows, (rows, expect_rows)
    until(lambda: driver.execute_script("return document.body.dataset.live") == "live", 30, "the live stream")
    driver.execute_script("""
        window.__bench = {longest: 0, t0: performance.now(), applied0: window.islandTable.applied,
                          script0: window.islandTable.applyMs, loads0: window.islandTable.loads};
        try {
          new PerformanceObserver(function (list) {
            list.getEntries().forEach(function (e) {
              window.__bench.longest = Math.max(window.__bench.longest, e.duration); });
          }).observe({type: "longtask"});
        } catch (e) {}""")
    started = time.perf_counter()
    for island_id, generation, to_state in flip:
        assert store.transition(island_id, generation, to_state, "BenchFlip", f"flip to {to_state}")
    writes_ms = (time.perf_counter() - started) * 1000
    until(lambda: driver.execute_script("return window.islandTable.applied - window.__bench.applied0") >= len(flip),
          60, f"{len(flip)} updates applied in the page")
    got = driver.execute_script("""return {applied: window.islandTable.applied - window.__bench.applied0,
        last: window.islandTable.lastAppliedAt - window.__bench.t0,
        script: window.islandTable.applyMs - window.__bench.script0,
        longest: window.__bench.longest, reloads: window.islandTable.loads - window.__bench.loads0,
        states: Array.from(document.querySelectorAll('#islands tbody tr')).map(function (tr) {
          return [Number(tr.dataset.id), tr.dataset.state]; })}""")
    shown = dict(got["states"])
    assert all(shown.get(i) == to for i, _, to in flip), "the page does not show every transition"
    return {"first_table_ms": first, "rows": rows, "updates": got["applied"], "updates_ms": got["last"],
            "writes_ms": writes_ms, "apply_script_ms": got["script"], "longest_task_ms": got["longest"],
            "reloads": got["reloads"]}


def flips(store, per_page: int) -> list:
    rows = [r for r in store.list() if r.state in ("ready", "lost")][:min(100, per_page)]
    return [(r.island_id, r.generation, "lost" if r.state == "ready" else "ready") for r in rows]


def median_of(runs: list[dict]) -> dict:
    return {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}


@contextlib.contextmanager
def served(server, base, n: int):
    """A database of N islands and the web app over it, served by waitress on 127.0.0.1."""
    from island_ssh.service.islands import IslandService
    from island_ssh.store import Store
    from island_ssh.testing.fakes import FakeKubectl, result
    from island_ssh_web import create_app
    from island_ssh_web.serving import create_server

    db_name = f"isl_bench_page_{n}_{uuid.uuid4().hex[:8]}"
    server.create_database(db_name)
    try:
        settings = base.replace(database=server.settings(db_name), islands={"id_max": max(999, n + 10),
                                                                           "branches": list(BRANCHES)},
                                web={"users": {USER_TOKEN: USER}, "admins": [],
                                     "secret_key": "bench-secret-key-not-for-production",
                                     "streams_per_user": 64})  # a stream per page load, held a while
        with Store(settings.database) as store:
            store.migrate()
            started = time.perf_counter()
            add_islands(store, settings, 0, n)
            print(f"setup: {n} islands in MySQL ({time.perf_counter() - started:.1f} s)", flush=True)
            kubectl = FakeKubectl()
            # the page's other polls: resource use (no pod has a sample) and the branches' code versions
            kubectl.shell.on("metrics.k8s.io", result(json.dumps({"kind": "PodMetricsList", "items": []})))
            kubectl.shell.on("ISLAND_CODEV", result(""))
            service = IslandService(settings, store, kubectl)
            app = create_app(settings, service=service)
            counts: list = []
            app.wsgi_app = counting_app(app.wsgi_app, counts)
            httpd = create_server(app, settings.web, host="127.0.0.1", port=0)
            serving = threading.Thread(target=httpd.run, daemon=True)
            serving.start()
            try:
                yield store, httpd.effective_port, counts
            finally:
                app.extensions["island_ssh.service.feed"].close()  # the streams end while the server still writes
                httpd.close()
                serving.join(5)
                service.close()
    finally:
        server.drop_database(db_name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--islands", type=int, nargs="+", default=[250, 1000])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="browser runs per size (medians)")
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from island_ssh.testing.mariadb import find_or_start_mariadb

    logging.getLogger("island_ssh").setLevel(logging.ERROR)
    count_queries()
    sizes = sorted(args.islands)
    base = load_settings(DEFAULT_CONFIG, environ={})
    paths = {"api_page": f"/api/islands?limit={args.per_page}", "api_all": "/api/islands", "page_html": "/",
             "usage": "/api/usage", "branches": "/api/branches"}
    results = {n: {} for n in sizes}
    driver = None
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(find_or_start_mariadb(Path(tempfile.mkdtemp(prefix="island-ssh-bench-db-"))))
        envs = {n: stack.enter_context(served(server, base, n)) for n in sizes}
        # the sizes side by side, request by request: a busy moment of the machine hits both alike
        for name, path in paths.items():
            times = {n: [] for n in sizes}
            for n in sizes:
                http_times(envs[n][1], path, 0, warm=3)
            for n in sizes:
                envs[n][2].clear()
            for _ in range(args.requests):
                for n in sizes:
                    times[n].append(http_times(envs[n][1], path, 1, warm=0))
            for n in sizes:
                runs = times[n]
                ms = [r["ms"] for r in runs]
                mine = [(q, cpu) for p, q, cpu in envs[n][2] if p == path.split("?")[0]]
                results[n][name] = {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2),
                                    "bytes": runs[-1]["bytes"], "queries": max(q for q, _ in mine),
                                    "cpu_ms": round(statistics.median(cpu for _, cpu in mine), 2)}
        for conn in _connections.values():
            conn.close()
        if not args.no_browser:
            driver = stack.enter_context(chromium(page_load_timeout=60, script_timeout=60))
            for n in sizes:
                base_url = f"http://127.0.0.1:{envs[n][1]}"
                driver.get(f"{base_url}/login")
                driver.find_element("id", "login-token").send_keys(USER_TOKEN)
                driver.find_element("id", "login-submit").click()
                until(lambda: "/login" not in driver.current_url, 30, "the login")
            runs = {(n, k): [] for n in sizes for k in ("browser", "browser_all")}
            for _ in range(args.rounds):
                for n in sizes:
                    store, port = envs[n][0], envs[n][1]
                    paged = "" if args.per_page == 100 else f"?per_page={args.per_page}"  # 100: the page's default
                    runs[n, "browser"].append(browser_run(driver, f"http://127.0.0.1:{port}", store, paged,
                                                          flips(store, args.per_page), min(args.per_page, n)))
                    runs[n, "browser_all"].append(browser_run(driver, f"http://127.0.0.1:{port}", store,
                                                              f"?per_page={n}", flips(store, n), n))
            for (n, key), got in runs.items():
                results[n][key] = median_of(got)
        for n in sizes:
            print(f"{n:>5} islands: {json.dumps(results[n])}", flush=True)
    report(results, sizes, args)
    return 0


def report(results: dict, sizes: list, args) -> None:
    small, big = sizes[0], sizes[-1]
    print(f"\nserver, HTTP on 127.0.0.1, {args.requests} requests each, the sizes alternating: p50 / p95 ms "
          "(the request thread's CPU ms, median), bytes, SQL statements of the request")
    ratios = {}
    for name, label in (("api_page", f"GET /api/islands?limit={args.per_page}"), ("api_all", "GET /api/islands (all)"),
                        ("page_html", "GET / (the page)"), ("usage", "GET /api/usage (cells' poll)"),
                        ("branches", "GET /api/branches (cells' poll)")):
        cells = "   ".join(f"{n}: {results[n][name]['p50_ms']:6.1f} / {results[n][name]['p95_ms']:6.1f} ms "
                           f"(cpu {results[n][name]['cpu_ms']:5.1f}) {results[n][name]['bytes']:>8} B "
                           f"{results[n][name]['queries']:>2} q" for n in sizes)
        ratios[name] = results[big][name]["p50_ms"] / results[small][name]["p50_ms"]
        print(f"  {label:<32} {cells}   p50 {big}/{small}: {ratios[name]:.2f}x")
    if "browser" in results[big]:
        print(f"browser (headless Chromium, median of {args.rounds} loads each): first table; 100 transitions "
              "written through the store: ms to the 100th applied in the page (the writes' own ms), the page's "
              "script ms applying them, longest task ms, page re-reads")
        for key, label in (("browser", f"paged ({args.per_page} rows)"), ("browser_all", "everything on one page")):
            for n in sizes:
                b = results[n][key]
                print(f"  {label:<24} {n:>5} islands ({b['rows']:.0f} rows): first table {b['first_table_ms']:.0f} ms; "
                      f"{b['updates']:.0f} updates {b['updates_ms']:.0f} ms (writes {b['writes_ms']:.0f} ms; script "
                      f"{b['apply_script_ms']:.0f} ms, longest task {b['longest_task_ms']:.0f} ms, "
                      f"re-reads {b['reloads']:.0f})")
            for fig in ("first_table_ms", "updates_ms", "apply_script_ms"):
                ratios[f"{key}_{fig}"] = results[big][key][fig] / max(results[small][key][fig], 0.1)
            print(f"  {label:<24} {big}/{small}: first table {ratios[key + '_first_table_ms']:.2f}x, "
                  f"100 updates {ratios[key + '_updates_ms']:.2f}x, "
                  f"their script {ratios[key + '_apply_script_ms']:.2f}x")
    page_ms = results[big]["api_page"]["p50_ms"]
    print(f"goal: the table's request < {GOAL_MS:g} ms at {big} islands: p50 {page_ms:.1f} ms, p95 "
          f"{results[big]['api_page']['p95_ms']:.1f} ms, its CPU {results[big]['api_page']['cpu_ms']:.1f} ms "
          f"({'met' if page_ms < GOAL_MS else 'missed'})")
    print(f"machine: {machine()}")
    if args.json:
        print(json.dumps({"sizes": {str(n): results[n] for n in sizes}, "small": small, "big": big,
                          "per_page": args.per_page, "ratios": {k: round(v, 2) for k, v in ratios.items()},
                          "goal_ms": GOAL_MS}))


if __name__ == "__main__":
    sys.exit(main())
