"""An allocation burst: several processes of many threads allocating island ids at once.

The allocator test (tests/store/test_allocator.py) and its benchmark (bench/allocator.py) both
run it: ``run_burst`` starts ``processes`` copies of this module as workers, waits until every
one has connected, releases them together and returns what each allocated. A worker connects,
prints ``ready``, waits for a line on stdin, then its ``threads`` threads (released together by a
barrier) allocate ``per_thread`` ids each; it prints one JSON line ``{"ids": [...], "errors":
[...]}`` and exits 0 (an allocation that raised is in ``errors``, not a failed exit).

    python -m island_ssh.testing.allocation CONFIG_JSON THREADS PER_THREAD

CONFIG_JSON is ``{"database": {DatabaseSettings fields}, "islands": {IslandSettings fields}}``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from island_ssh.core.settings import DatabaseSettings, IslandSettings
from island_ssh.store import Store, hash_token

_PACKAGE_PARENT = Path(__file__).resolve().parents[2]


@dataclass
class Burst:
    ids: list[int]
    """Every id handed out, over all processes."""
    errors: list[str]
    """``Type: message`` of every allocation that raised."""
    seconds: float
    """From the go signal to the last worker's result."""


def worker(config: dict, threads: int, per_thread: int, owner: str = "burst") -> None:
    """One process of the burst (see the module's docstring)."""
    store = Store(DatabaseSettings(**config["database"]), pool_size=threads)
    islands = IslandSettings(**config["islands"])
    store.schema_version()  # connect before "ready", so the burst measures allocation only
    ids: list[int] = []
    errors: list[str] = []
    def allocate_many() -> None:
        for i in range(per_thread):
            try:
                row = store.allocate(owner, "dev", lambda k: f"island-{k}", None, hash_token(f"t{i}"), islands)
                ids.append(row.island_id)  # list.append is atomic under the GIL
            except Exception as exc:  # reported to the caller, which decides what an error means
                errors.append(f"{type(exc).__name__}: {exc}")

    threads_released_together(threads, allocate_many)
    print(json.dumps({"ids": ids, "errors": errors}), flush=True)
    store.close()


def threads_released_together(threads: int, work) -> None:
    """The worker's side of a burst: ``threads`` threads ready to run ``work()``, ``ready`` printed,
    then all released at once by the line on stdin; returns when every thread has ended."""
    start = threading.Barrier(threads + 1, timeout=60)

    def run() -> None:
        start.wait()
        work()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    print("ready", flush=True)
    sys.stdin.readline()
    start.wait()
    for t in pool:
        t.join(timeout=300)


def processes_released_together(argv: list[str], processes: int, env: dict | None = None,
                                timeout: float = 600.0) -> tuple[list[dict], list[int], float]:
    """The caller's side: start ``processes`` copies of ``argv``, wait for each one's ``ready``,
    release them together, and return each one's JSON line, their pids and the seconds from the
    release to the last result. A worker that does not come up or exits non-zero is a
    RuntimeError carrying its stderr; every worker is gone on return."""
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(processes)]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                p.kill()
                raise RuntimeError(f"a worker did not start: {p.communicate(timeout=30)[1][-3000:]}")
        began = time.perf_counter()
        for p in procs:  # every burst starts together
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise RuntimeError(f"a worker exited {p.returncode}: {err[-3000:]}")
            results.append(json.loads(out))
        return results, [p.pid for p in procs], time.perf_counter() - began
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


def worker_env(*paths: Path) -> dict:
    """This environment with ``paths`` first on PYTHONPATH: the workers import what this process did."""
    path = os.pathsep.join(p for p in (*map(str, paths), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def run_burst(database: DatabaseSettings, islands: IslandSettings, processes: int, threads: int,
              per_thread: int, timeout: float = 600.0) -> Burst:
    """Start the workers, release them together, collect their ids. A worker that does not come
    up or exits non-zero is a RuntimeError carrying its stderr; every worker is gone on return."""
    config = json.dumps({"database": dataclasses.asdict(database),
                         "islands": {"id_min": islands.id_min, "id_max": islands.id_max}})
    argv = [sys.executable, "-m", __name__, config, str(threads), str(per_thread)]
    results, _, seconds = processes_released_together(argv, processes, worker_env(_PACKAGE_PARENT), timeout)
    return Burst(ids=[i for r in results for i in r["ids"]], errors=[e for r in results for e in r["errors"]],
                 seconds=seconds)


if __name__ == "__main__":
    worker(json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
