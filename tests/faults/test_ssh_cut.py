"""The SSH connection cut in the middle of an apply, an exec and the watch.

A cut is SIGKILL to the master's per-connection sshd processes: the TCP connection dies at once,
as when the master reboots or a firewall drops state. Afterwards the issue's invariants hold
(helpers.assert_consistent); an apply whose fate is unknown is settled by `recover`.
"""

from __future__ import annotations

import time

import pytest

from faults.helpers import assert_consistent, in_thread, kill_sessions, kubectl_running, master_processes
from fixtures.island import wait_until
from island_ssh.core.errors import ConnectionLost, IslandError, KubectlError
from island_ssh.service.recovery import run_recovery
from island_ssh.service.islands import LaunchRequest

pytestmark = pytest.mark.slow


def recover_now(env):
    """`island-ssh recover` with stuck_after 0: rows whose apply was cut and left no pod are
    applied again (accepted launches are never released for it)."""
    settings = env.settings.replace(recover={"stuck_after": 0.0})
    report = run_recovery(settings, env.store, env.kubectl, env.service)
    assert not report.failed, report.summary_lines()
    return report


def test_cut_in_the_middle_of_an_apply(clean_fault_env):
    env = clean_fault_env
    sandbox = env.sandbox
    requests = [LaunchRequest(owner=f"applycut{i}", branch="dev" if i % 2 else "weekly") for i in range(30)]
    thread, box = in_thread(env.service.launch_many, requests)
    # cut once the API server has stored some of the batch while kubectl is still applying the rest
    wait_until(lambda: kubectl_running(sandbox, "apply") and any(
        r.state not in ("allocated", "applying") for r in env.store.active()), 60, "an apply half done")
    mid_apply = bool(kubectl_running(sandbox, "apply"))
    kill_sessions(sandbox)
    thread.join(60)
    assert mid_apply, "the cut did not land while kubectl apply ran"
    assert isinstance(box.get("error"), ConnectionLost), box
    assert "not re-run" in box["error"].message
    # the remote kubectl outlives the cut only until it writes to the dead channel
    wait_until(lambda: not kubectl_running(sandbox, "apply"), 60, "the orphaned kubectl apply to end")
    wait_until(lambda: env.tracker.acting.is_set() and env.shell.connected, 30, "the tracker to reconnect")
    stored = [r for r in env.store.active() if r.state not in ("allocated", "applying")]
    report = recover_now(env)
    counts = assert_consistent(env)
    assert counts["islands"] >= len(stored) >= 1
    assert counts["islands"] + report.counts()["release_stuck"] == 30


def test_cut_in_the_middle_of_an_exec(clean_fault_env):
    env = clean_fault_env
    row = env.service.launch(LaunchRequest(owner="execcut", branch="dev"))
    row = env.wait_state(row.island_id, "ready")
    thread, box = in_thread(env.kubectl.exec, row.pod_name, "altraserver", ["sh", "-c", "echo begun; exec sleep 20"],
                            timeout=60, island_id=row.island_id)
    wait_until(lambda: kubectl_running(env.sandbox, "exec"), 30, "kubectl exec running on the master")
    cut = time.monotonic()
    kill_sessions(env.sandbox)
    thread.join(30)
    assert isinstance(box.get("error"), ConnectionLost), box
    assert time.monotonic() - cut < 5, "the caller waited for the dead connection"
    # the next exec reconnects; the island never noticed
    env.service.set_clock(row.island_id, "+1d")
    assert env.store.get(row.island_id).clock_setting == "+1d"
    assert_consistent(env)


def test_the_watch_after_a_cut_sees_the_next_change(clean_fault_env):
    """The deletion after the cut reaches the tracker's new watch within the grace period and some.

    It used to fail now and then (more often under load): the sandbox kubelet's readiness probe
    could swallow its cancel (Python 3.11 asyncio.wait_for), which held the pod's stop and so its
    DELETED event for 30 s more; tests/sandbox/test_cancellation.py pins that race down."""
    env = clean_fault_env
    row = env.service.launch(LaunchRequest(owner="nextchange", branch="dev"))
    row = env.wait_state(row.island_id, "ready")
    thread, box = in_thread(env.kubectl.exec, row.pod_name, "altraserver", ["sh", "-c", "exec sleep 20"],
                            timeout=60, island_id=row.island_id)
    wait_until(lambda: kubectl_running(env.sandbox, "exec"), 30, "kubectl exec running on the master")
    watches = env.tracker.watches
    kill_sessions(env.sandbox)
    thread.join(30)
    wait_until(lambda: env.tracker.watches > watches, 30, "the tracker to start a new watch")
    env.service.delete(row.island_id)
    env.wait_state(row.island_id, "deleted", timeout=20)


def test_cut_in_the_middle_of_the_watch(clean_fault_env):
    env = clean_fault_env
    watches = env.tracker.watches
    rows = env.service.launch_many([LaunchRequest(owner=f"watchcut{i}", branch="dev") for i in range(10)])
    # the apply is done; the pods now walk pending -> creating -> starting -> ready while the
    # watch is down
    wait_until(lambda: any(env.store.get(r.island_id).state != "applying" for r in rows), 30, "the watch reporting")
    kill_sessions(env.sandbox)
    wait_until(lambda: env.tracker.watches > watches, 30, "the tracker to start a new watch")
    assert isinstance(env.tracker.last_error, IslandError)
    counts = assert_consistent(env)
    assert counts["islands"] == 10


def test_kubectl_killed_on_the_master_in_the_middle_of_an_apply(clean_fault_env):
    env = clean_fault_env
    requests = [LaunchRequest(owner=f"applykill{i}", branch="dev") for i in range(30)]
    thread, box = in_thread(env.service.launch_many, requests)
    wait_until(lambda: kubectl_running(env.sandbox, "apply") and any(
        r.state not in ("allocated", "applying") for r in env.store.active()), 60, "an apply half done")
    victims = kubectl_running(env.sandbox, "apply")
    kill_sessions(env.sandbox, pids=victims)
    thread.join(60)
    assert victims and isinstance(box.get("error"), KubectlError), box
    # no recover needed: ids whose pods exist stay with the tracker, the others are free again
    counts = assert_consistent(env)
    assert counts["islands"] >= 1
    freed = [r for r in env.store.list(states=["deleted"]) if r.owner.startswith("applykill")]
    assert counts["islands"] + len(freed) == 30
    assert all(r.reason == "ApplyFailed" for r in freed)


def test_kubectl_watch_killed_on_the_master(clean_fault_env):
    env = clean_fault_env
    watches = env.tracker.watches
    rows = env.service.launch_many([LaunchRequest(owner=f"watchkill{i}", branch="weekly") for i in range(6)])
    victims = [pid for pid, argv in master_processes(env.sandbox).items() if "-w" in argv]
    assert len(victims) == 1, victims
    kill_sessions(env.sandbox, pids=victims)
    wait_until(lambda: env.tracker.watches > watches, 30, "the tracker to start a new watch")
    counts = assert_consistent(env)
    assert counts["islands"] == len(rows)
