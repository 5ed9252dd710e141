"""Allocate island ids from many threads of one process; run by test_allocator as a subprocess.

    python alloc_worker.py SETTINGS_JSON THREADS PER_THREAD

Prints "ready" once connected, waits for a line on stdin ("go"), allocates, then prints one
JSON line: {"ids": [...], "errors": [...]}. Started twice, it shows what several processes do.
"""

from __future__ import annotations

import json
import sys
import threading

from island_ssh.config import DatabaseSettings, IslandSettings
from island_ssh.store import Store, hash_token


def main() -> None:
    config, threads, per_thread = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    store = Store(DatabaseSettings(**config["database"]), pool_size=threads)
    islands = IslandSettings(**config["islands"])
    store.schema_version()  # connect before the start line, so the burst measures allocation only
    ids: list[int] = []
    errors: list[str] = []
    start = threading.Barrier(threads + 1, timeout=60)

    def allocate_many(n: int) -> None:
        start.wait()
        for i in range(n):
            try:
                row = store.allocate(f"worker-{n}-{i}", "dev", lambda k: f"island-{k}", None,
                                     hash_token(f"t{i}"), islands)
                ids.append(row.island_id)  # list.append is atomic under the GIL
            except Exception as exc:  # reported to the test, which fails on any
                errors.append(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=allocate_many, args=(per_thread,)) for _ in range(threads)]
    for w in workers:
        w.start()
    print("ready", flush=True)
    sys.stdin.readline()
    start.wait()
    for w in workers:
        w.join(timeout=120)
    print(json.dumps({"ids": ids, "errors": errors}), flush=True)
    store.close()


if __name__ == "__main__":
    main()
