"""The lifecycle keeps its truth when the SSH connection is cut or the tracker restarts mid-burst."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from fixtures.island import wait_until
from island_ssh.core.errors import ConnectionLost
from island_ssh.service.islands import LaunchRequest
from island_ssh.kube.tracker import Tracker

pytestmark = pytest.mark.slow


def assert_history_continuous(env, island_id):
    """Every event starts where the previous one ended; no state is entered twice in a row."""
    generation = env.store.get(island_id).generation
    events = [e for e in env.store.events(island_id, generation=generation) if e.from_state != e.to_state]
    assert events[0].to_state == "allocated"
    for before, after in zip(events, events[1:]):
        assert after.from_state == before.to_state, [(e.from_state, e.to_state) for e in events]
    tos = [e.to_state for e in events]
    assert len(tos) == len(set(tos)), tos


def launch_burst(env, n, owner):
    rows, errors = [], []

    def one(i):
        try:
            rows.append(env.service.launch(LaunchRequest(owner=f"{owner}{i}", branch="dev")))
        except ConnectionLost as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, rows, errors


def test_ssh_cut_during_a_launch_burst_every_island_reaches_its_true_state(island_env, sandbox):
    env = island_env
    before = env.tracker.watches
    threads, rows, errors = launch_burst(env, 12, "cut")
    wait_until(lambda: len(env.store.active()) >= 4, 30, "a few launches under way")
    for pid in sandbox.sshd.session_pids():
        os.kill(pid, signal.SIGKILL)
    for t in threads:
        t.join(120)
    wait_until(lambda: env.tracker.watches > before, 30, "the tracker to restart its watch")
    for row in env.store.active():
        pod = env.kubectl.pod(row.pod_name)
        if pod is None:
            # the apply died with the connection: the caller was told, the row waits for recover
            assert row.state in ("allocated", "applying"), row
        else:
            env.wait_state(row.island_id, "ready", timeout=60)
            assert_history_continuous(env, row.island_id)
    assert len(rows) + len(errors) == 12
    assert len(rows) >= 1
    env.cleanup_all_rows()


def test_tracker_restarted_mid_burst_leaves_no_missing_or_duplicate_transitions(island_env):
    env = island_env
    threads, rows, errors = launch_burst(env, 10, "trk")
    for t in threads:
        t.join(120)
    assert errors == [] and len(rows) == 10
    wait_until(lambda: any(env.store.get(r.island_id).state not in ("applying", "pending") for r in rows),
               30, "some islands past pending")
    env.tracker.stop()
    second = Tracker(env.kubectl, env.store, env.settings.islands, env.settings.tracker).start()
    try:
        for r in rows:
            env.wait_state(r.island_id, "ready", timeout=60)
        for r in rows:
            assert_history_continuous(env, r.island_id)
    finally:
        second.stop()
        env.tracker.start()
        wait_until(env.tracker.acting.is_set, 30, "the fixture's tracker to act again")
    env.cleanup()


def test_restart_keeps_id_and_ports_with_a_new_pod(island_env):
    env = island_env
    row = env.service.launch(LaunchRequest(owner="restarter", branch="weekly"))
    row = env.wait_state(row.island_id, "ready")
    uid = env.kubectl.pod(row.pod_name)["metadata"]["uid"]
    new = env.service.restart(row.island_id)
    assert (new.island_id, new.ports, new.generation) == (row.island_id, row.ports, row.generation + 1)
    ready = env.wait_state(row.island_id, "ready")
    assert ready.generation == row.generation + 1
    assert env.kubectl.pod(row.pod_name)["metadata"]["uid"] != uid
    wait_until(lambda: env.store.registration(row.island_id), 10, "re-registration with the new token")
    env.cleanup()
