"""Quotas hold across web processes: decided in MySQL (a per-owner named lock, then a count of
the owner's rows), never in one process's memory.

Two OS processes (each with several threads, as gunicorn workers with gthread) launch for the
same owner at once through QuotaService.allocating + Store.allocate, the path launch_many takes
(tests/store/quota_race_worker.py). The owner ends with exactly the quota, never more; every
refusal carries the numbers. Without the lock the same burst overshoots (the check and the
allocation of another process interleave): ``test_without_the_lock_the_burst_overshoots`` shows
the burst is a real race.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from island_ssh.config import settings_from_dict
from island_ssh.core.errors import QuotaExceeded
from island_ssh.core.validate import validate_launch
from island_ssh.service.islands import LaunchRequest
from island_ssh.service.quotas import QuotaService
from island_ssh.testing.allocation import processes_released_together, worker_env

WORKER = Path(__file__).with_name("quota_race_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def burst(store, quotas: dict, processes: int, threads: int, attempts: int, bulk: int, owner_id: str,
          owner: str, memory: str | None = None, env_extra: dict | None = None) -> dict:
    config = json.dumps({"database": dataclasses.asdict(store.settings),
                         "islands": {"id_min": 1, "id_max": 400}, "quotas": quotas}, ensure_ascii=False)
    argv = [sys.executable, str(WORKER), config, str(threads), str(attempts), str(bulk), owner_id, owner]
    if memory:
        argv.append(memory)
    results, pids, _ = processes_released_together(argv, processes, {**worker_env(ROOT), **(env_extra or {})},
                                                   timeout=300)
    return {"ids": [i for r in results for i in r["ids"]], "refused": [m for r in results for m in r["refused"]],
            "errors": [e for r in results for e in r["errors"]], "pids": set(pids)}


def live(store, owner_id: str) -> list:
    return [r for r in store.list(owner_id=owner_id) if r.state != "deleted"]


def test_two_processes_launching_at_once_never_exceed_the_island_quota(fresh_store):
    out = burst(fresh_store, {"max_islands": 7}, processes=2, threads=4, attempts=5, bulk=1,
                owner_id="u-1001", owner="刘电波")
    assert out["errors"] == []
    assert len(out["pids"]) == 2
    assert len(out["ids"]) == 7 == len(set(out["ids"]))
    assert len(live(fresh_store, "u-1001")) == 7
    assert len(out["refused"]) == 2 * 4 * 5 - 7
    assert all(m.startswith("刘电波 has 7 of 7 islands (10500Mi, no memory limit); 1 more island would make 8")
               for m in out["refused"]), out["refused"][:3]


def test_bulk_launches_are_all_or_nothing_across_processes(fresh_store):
    # quota 5, each launch asks for 2: at most two launches fit (4 islands), never a half launch
    out = burst(fresh_store, {"max_islands": 5}, processes=2, threads=3, attempts=3, bulk=2,
                owner_id="u-2002", owner="王伟")
    assert out["errors"] == []
    assert len(out["ids"]) == 4 and len(live(fresh_store, "u-2002")) == 4
    assert all("2 more islands would make" in m and "(limit 5)" in m for m in out["refused"])


def test_memory_quota_across_processes(fresh_store):
    out = burst(fresh_store, {"max_memory": "6Gi"}, processes=2, threads=3, attempts=4, bulk=1,
                owner_id="u-3003", owner="qa-bot", memory="1536Mi")
    assert out["errors"] == []
    assert len(out["ids"]) == 4  # 4 x 1.5Gi = 6Gi exactly
    assert all(m.startswith("qa-bot has 4 islands (no limit) (6Gi of 6Gi); 1.5Gi more memory would make 7.5Gi")
               for m in out["refused"]), out["refused"][:3]


def test_a_refused_bulk_takes_no_id(fresh_store):
    settings = settings_from_dict({"islands": {"id_min": 1, "id_max": 50}, "quotas": {"max_islands": 3}})
    quotas = QuotaService(settings, fresh_store)
    checked = [validate_launch(LaunchRequest(owner="刘电波", owner_id="u9"), settings.islands)] * 4
    with pytest.raises(QuotaExceeded) as exc:
        with quotas.allocating(checked, ["u9"] * 4):
            raise AssertionError("the body must not run")
    assert exc.value.message.startswith("刘电波 has 0 of 3 islands (0, no memory limit); 4 more islands would make 4")
    assert exc.value.cli_exit == 6 and exc.value.http_status == 409
    assert fresh_store.list() == []  # no id taken
    # the view the faces show
    assert quotas.view("u9", "刘电波").line() == "刘电波 has 0 of 3 islands (0, no memory limit)"


def test_without_the_lock_the_burst_overshoots(mariadb, request):
    """The control: the same burst with the per-owner lock made a no-op (the worker's
    QUOTA_RACE_NO_LOCK) exceeds the quota, so the tests above would catch a missing lock."""
    from fixtures.db import temporary_database
    from island_ssh.store import Store

    worst = 0
    for attempt in range(3):  # a race: it shows within a few bursts (almost always the first)
        with temporary_database(mariadb, f"nolock{attempt}") as name, Store(mariadb.settings(name)) as store:
            store.migrate()
            out = burst(store, {"max_islands": 7}, processes=2, threads=4, attempts=5, bulk=1,
                        owner_id="u-1001", owner="刘电波", env_extra={"QUOTA_RACE_NO_LOCK": "1"})
            worst = max(worst, len(live(store, "u-1001")))
        if worst > 7:
            break
    assert worst > 7
