"""The service killed with SIGKILL in the middle of a launch burst, then one recovery run: MySQL
and the cluster agree, no id or port is leaked, no pod is orphaned. And two runs at once: one acts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from island_ssh.core.recovery_plan import GENERATION_LABEL

from .recovery_helpers import island_ssh_argv, island_ssh_cmd, live_pods, recover, wait_for, write_config
from .test_recovery_sandbox import env, stuck_row  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

BURST = """
import sys
from island_ssh.config import load_settings
from island_ssh.service.wiring import build_runtime
from island_ssh.service.islands import LaunchRequest
rt = build_runtime(load_settings(sys.argv[1]), with_tracker=True)
for i in range(0, int(sys.argv[2]), 4):
    rt.service.launch_many([LaunchRequest(owner=f"burst{i + k}", branch="dev") for k in range(4)])
"""


def kubectl_applies_running(kubeconfig: Path) -> bool:
    """Whether a `kubectl apply` still runs on this sandbox's master (it may create a pod after we
    list); another sandbox's (a parallel test worker's) is not ours to wait for."""
    ours = b"KUBECONFIG=" + bytes(kubeconfig)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmdline and cmdline[0].endswith(b"kubectl") and b"apply" in cmdline \
                    and ours in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return True
        except OSError:
            continue
    return False


def test_sigkill_mid_burst_then_one_recover_leaves_mysql_and_cluster_agreeing(env, tmp_path):
    config = write_config(env.settings, tmp_path / "island.yaml")
    child = subprocess.Popen([sys.executable, "-c", BURST, config, "40"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        def mid_burst():
            if child.poll() is not None:
                return True
            states = [r.state for r in env.store.active()]
            return len(states) > 4 and any(s in ("allocated", "applying") for s in states)
        wait_for(mid_burst, 60, "a launch of the burst between allocation and its pod")
        assert child.poll() is None, child.stderr.read().decode()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    wait_for(lambda: not kubectl_applies_running(env.info.kubeconfig), 30, "the dead service's kubectl apply to end")
    before = {r.island_id: r.state for r in env.store.active()}
    assert before, "the burst allocated nothing"

    report = recover(env, stuck_after=0)
    assert not report.failed, report.summary_lines()

    rows = {r.island_id: r for r in env.store.active()}
    pods = live_pods(env)
    by_name = {p["metadata"]["name"]: p for p in pods}
    assert len(pods) == len(rows), (report.summary_lines(), sorted(by_name), rows)
    for row in rows.values():
        assert row.state not in ("allocated", "applying", "lost"), row
        pod = by_name[row.pod_name]
        assert pod["metadata"]["labels"][GENERATION_LABEL] == str(row.generation)
        assert pod["metadata"]["labels"]["island-ssh/id"] == str(row.island_id)
    assert len({r.port_base for r in rows.values()}) == len(rows)
    # every id the burst took is either an island with its pod or free again
    for island_id in before:
        row = env.store.get(island_id)
        assert row.state == "deleted" or island_id in rows
    assert not [o for o in recover(env, stuck_after=0).outcomes if o.action.kind != "sync"]


def test_two_runs_at_once_exactly_one_acts(env, tmp_path):
    config = write_config(env.settings, tmp_path / "island.yaml", recover={"stuck_after": 0})
    row = stuck_row(env, "twice", "allocated")
    db = env.settings.database
    blocker = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password, database=db.name,
                              autocommit=False, connect_timeout=5, read_timeout=30)
    lock = env.store.lock_name(env.settings.recover.lock_name)
    argv, clean_env = island_ssh_argv(config, "recover", "--json")
    first = None
    try:
        with blocker.cursor() as cur:
            # hold the row the first run will change, so it is still running when the second starts
            cur.execute("SELECT * FROM islands WHERE island_id = %s FOR UPDATE", (row.island_id,))
            first = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=clean_env)

            def lock_taken():
                cur.execute("SELECT IS_USED_LOCK(%s)", (lock,))
                return cur.fetchone()[0] is not None
            wait_for(lock_taken, 30, "the first run to take the recover lock")
            second = island_ssh_cmd(config, "recover", "--json", timeout=60)
        blocker.rollback()
        out, err = first.communicate(timeout=60)
    finally:
        blocker.close()
        if first is not None and first.poll() is None:
            first.kill()
            first.wait(10)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["another_running"] is True
    assert first.returncode == 0, err
    acted = json.loads(out)
    assert acted["another_running"] is False and acted["counts"]["release_stuck"] == 1
    stuck_events = [e for e in env.store.events(row.island_id) if e.reason == "Stuck"]
    assert len(stuck_events) == 1 and env.store.get(row.island_id).state == "deleted"
