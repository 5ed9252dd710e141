"""One OS process of tests/store/test_quota_race.py: a web worker launching islands.

It does what IslandService.launch_many does up to the apply: validate each request
(core.validate), then, inside ``QuotaService.allocating`` (the per-owner MySQL lock and the
decision), allocate each island with ``Store.allocate``. It connects, prints ``ready``, waits for
a line on stdin (so every process starts together), runs ``threads`` threads of ``attempts``
launches of ``bulk`` islands each, and prints one JSON line: ids allocated, refusals' messages,
other errors.

    python quota_race_worker.py CONFIG_JSON THREADS ATTEMPTS BULK OWNER_ID OWNER_NAME [MEMORY]
"""

from __future__ import annotations

import json
import os
import sys

from island_ssh.config import settings_from_dict
from island_ssh.core.errors import QuotaExceeded
from island_ssh.core.validate import validate_launch
from island_ssh.service.islands import LaunchRequest
from island_ssh.service.quotas import QuotaService
from island_ssh.store import Store, hash_token
from island_ssh.testing.allocation import threads_released_together


class _NoLock:
    def acquire(self, timeout: float = 0) -> bool:
        return True

    def release(self) -> None:
        pass


def main(config: dict, threads: int, attempts: int, bulk: int, owner_id: str, owner: str, memory: str | None) -> None:
    settings = settings_from_dict(config)
    store = Store(settings.database, pool_size=threads * 2)
    quotas = QuotaService(settings, store)
    if os.environ.get("QUOTA_RACE_NO_LOCK") == "1":  # the control: what the race does without the lock
        store.lock = lambda name: _NoLock()
    store.schema_version()  # connected before "ready"
    ids: list[int] = []
    refused: list[str] = []
    errors: list[str] = []

    def launch_many() -> None:
        for i in range(attempts):
            requests = [LaunchRequest(owner=owner, owner_id=owner_id, branch="dev", memory=memory)] * bulk
            checked = [validate_launch(r, settings.islands) for r in requests]
            try:
                with quotas.allocating(checked, [owner_id] * bulk):
                    for req in checked:
                        row = store.allocate(owner=req.owner, owner_id=owner_id, branch=req.branch,
                                             pod_name_fn=lambda k: f"island-{k}", overrides=req.overrides(),
                                             token_hash=hash_token(f"t{i}"), settings=settings.islands)
                        ids.append(row.island_id)
            except QuotaExceeded as exc:
                refused.append(exc.message)
            except Exception as exc:  # noqa: BLE001 -- reported to the test, which fails on any
                errors.append(f"{type(exc).__name__}: {exc}")

    threads_released_together(threads, launch_many)
    print(json.dumps({"ids": ids, "refused": refused, "errors": errors}, ensure_ascii=False), flush=True)
    store.close()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6],
         sys.argv[7] if len(sys.argv) > 7 else None)
