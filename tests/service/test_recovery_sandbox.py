"""Each drift case set up for real on the sandbox (MariaDB, kubectl over SSH, pods as processes)
and repaired by one recovery run. The tracker is stopped while drift is made and repaired, as
when cron runs recovery after the service died; it runs only to bring islands to ready."""

from __future__ import annotations

import copy
import secrets
import time

import pytest

from island_ssh.core.manifests import pod_name
from island_ssh.core.tokens import hash_token
from island_ssh.service.islands import IslandService, LaunchRequest

from .recovery_helpers import (clear_cluster, insert_registration, live_pods, pod_names, recover, snapshot, stray_pod,
                      wait_for)

pytestmark = pytest.mark.slow


ID_RANGE = {"id_min": 600, "id_max": 699}
"""Ids (so host ports on the shared node addresses) no other test module's sandbox hands out."""


@pytest.fixture
def env(island_env):
    """island_env with the tracker stopped, an empty cluster, and its own id range."""
    mine = copy.copy(island_env)
    mine.settings = island_env.settings.replace(islands=ID_RANGE)
    mine.service = IslandService(mine.settings, island_env.store, island_env.kubectl)
    island_env.tracker.stop()
    clear_cluster(island_env)
    try:
        yield mine
    finally:
        island_env.tracker.stop()
        clear_cluster(island_env)
        island_env.tracker.start()


def ready_islands(env, *owners, **launch):
    """Launch islands and bring them to ready with the tracker on; the tracker is off afterwards."""
    env.tracker.start()
    try:
        rows = env.service.launch_many([LaunchRequest(owner=o, branch="dev", **launch) for o in owners])
        return [env.wait_state(r.island_id, "ready", timeout=60) for r in rows]
    finally:
        env.tracker.stop()


def stuck_row(env, owner: str, state: str = "applying"):
    """A row as a service killed between allocation and apply leaves it: no pod."""
    row = env.store.allocate(owner=owner, branch="dev", pod_name_fn=lambda i: pod_name(owner, "dev", i),
                             overrides={}, token_hash=hash_token(secrets.token_urlsafe(24)),
                             settings=env.settings.islands)
    if state == "applying":
        env.store.transition(row.island_id, row.generation, "applying", "Applying", "", expected_from="allocated")
    return env.store.get(row.island_id)


def kinds(report):
    return sorted((o.action.kind, o.status) for o in report.outcomes)


def test_pod_gone_marks_the_island_lost_then_releases_it_after_the_grace(env):
    (row,) = ready_islands(env, "lost1")
    wait_for(lambda: env.store.registration(row.island_id), 10, "registration")
    env.kubectl.delete_pod(row.pod_name, grace_period=0, force=True, wait=True)
    report = recover(env, lost_grace=300)
    assert kinds(report) == [("lost", "done")]
    lost = env.store.get(row.island_id)
    assert lost.state == "lost" and lost.reason == "PodMissing" and "was ready" in lost.message
    assert kinds(recover(env, lost_grace=300)) == []  # still within the grace
    report = recover(env, lost_grace=300, now=time.time() + 301)
    assert kinds(report) == [("release", "done")]
    gone = env.store.get(row.island_id)
    assert gone.state == "deleted" and gone.reason == "LostReleased"
    assert env.store.registration(row.island_id) is None
    again = env.service.launch(LaunchRequest(owner="lost2", branch="dev"))
    assert (again.island_id, again.ports) == (row.island_id, row.ports)  # id and ports free again
    assert row.island_id == ID_RANGE["id_min"]


def test_an_allocated_row_without_pod_is_released(env):
    # allocated, never queued: the launch never answered 201
    row = stuck_row(env, "stuck1", "allocated")
    assert kinds(recover(env, stuck_after=300)) == []  # young: a launch may still be queueing it
    report = recover(env, stuck_after=300, now=time.time() + 301)
    assert kinds(report) == [("release_stuck", "done")]
    assert env.store.get(row.island_id).state == "deleted"


def test_an_applying_row_without_pod_is_applied_again_not_released(env):
    # applying, not queued (its kubectl apply was cut): accepted, so applied again past stuck_after
    row = stuck_row(env, "stuck2")
    assert kinds(recover(env, stuck_after=300)) == []  # young: its kubectl may still be running
    report = recover(env, stuck_after=300, now=time.time() + 301)
    assert kinds(report) == [("reapply", "done")], report.summary_lines()
    again = env.store.get(row.island_id)
    # same island, same generation: a new token (only its hash was stored) and its pod applied
    assert (again.generation, again.state, again.reason) == (row.generation, "applying", "Reapplied")
    assert again.token_hash != row.token_hash and again.applier is None
    pod = wait_for(lambda: env.kubectl.pod(row.pod_name), 20, "the re-applied pod")
    assert pod["metadata"]["labels"]["island-ssh/generation"] == str(again.generation)
    # with no tracker running, the next run brings the row to what its pod shows
    wait_for(lambda: env.kubectl.pod(row.pod_name)["status"].get("containerStatuses"), 30, "containers started")
    report = recover(env, stuck_after=0)
    assert kinds(report) == [("sync", "done")]
    assert env.store.get(row.island_id).state in ("creating", "starting", "ready")


def test_an_applying_row_that_can_no_longer_be_applied_is_released_with_the_reason(env):
    # accepted with an image the allow-list has since dropped: nobody can apply it any more
    row = env.store.allocate(owner="stuck3", branch="dev", pod_name_fn=lambda i: pod_name("stuck3", "dev", i),
                             overrides={"image": "registry.example/gone:1"},
                             token_hash=hash_token(secrets.token_urlsafe(24)), settings=env.settings.islands)
    env.store.transition(row.island_id, row.generation, "applying", "Applying", "", expected_from="allocated")
    report = recover(env, stuck_after=0)
    assert kinds(report) == [("reapply", "done")], report.summary_lines()
    assert "released" in report.outcomes[0].detail and "registry.example/gone:1" in report.outcomes[0].detail
    gone = env.store.get(row.island_id)
    assert (gone.state, gone.reason) == ("deleted", "ReapplyRefused")
    assert "registry.example/gone:1" in gone.message and env.kubectl.pod(row.pod_name) is None


def test_orphan_pod_naming_a_free_id_is_adopted_and_followed(env):
    (row,) = ready_islands(env, "adopt1")
    env.store.release(row.island_id, row.generation, "TestForgot", "the row was lost, the pod lives")
    assert env.store.registration(row.island_id) is None
    report = recover(env)
    assert kinds(report) == [("adopt", "done")]
    adopted = env.store.get(row.island_id)
    assert (adopted.state, adopted.reason, adopted.owner, adopted.pod_name) == ("ready", "Adopted", "adopt1",
                                                                                  row.pod_name)
    assert adopted.generation == row.generation + 1 and adopted.ports == row.ports
    pod = env.kubectl.pod(row.pod_name)
    assert pod["metadata"]["labels"]["island-ssh/generation"] == str(adopted.generation)
    assert env.store.registration(row.island_id).pod_name == row.pod_name
    # the adopted island is an island like any other: the tracker follows it to its deletion
    env.tracker.start()
    env.service.delete(row.island_id)
    env.wait_state(row.island_id, "deleted", timeout=30)
    env.tracker.stop()


@pytest.mark.parametrize("action, survives", [("delete", False), ("report", True)])
def test_orphan_pod_deleted_or_only_reported_by_config(env, action, survives):
    (row,) = ready_islands(env, f"orphan-{action}")
    env.store.release(row.island_id, row.generation, "TestForgot")
    report = recover(env, orphan_action=action)
    # the released island's token Secret is swept too (its id is held by no row)
    assert kinds(report) == sorted([(f"{action}_orphan", "done" if action == "delete" else "reported"),
                                    ("remove_secret", "done")])
    assert (row.pod_name in pod_names(env)) is survives
    assert env.store.get(row.island_id).state == "deleted"


def test_pods_with_our_label_and_no_usable_id_are_deleted(env):
    (row,) = ready_islands(env, "holder")
    env.kubectl.apply([stray_pod(row.island_id, "stray-held"), stray_pod(None, "stray-noid"),
                       stray_pod(ID_RANGE["id_max"] + 1, "stray-outside")])
    report = recover(env)
    assert kinds(report) == [("delete_orphan", "done")] * 3
    assert pod_names(env) == {row.pod_name}
    assert env.store.get(row.island_id).state == "ready"


def test_pod_whose_server_ended_past_the_retention_is_deleted_and_released(env):
    env.tracker.start()
    row = env.service.launch(LaunchRequest(owner="expire1", branch="dev",
                                           env={"ISLAND_SERVER_FAIL": "crash:3", "ISLAND_SERVER_FAIL_AFTER": "0"}))
    row = env.wait_state(row.island_id, "failed", timeout=60)
    env.tracker.stop()
    assert kinds(recover(env, retention=3600)) == []  # kept for a look at the remains
    report = recover(env, retention=0)
    assert kinds(report) == [("expire", "done")]
    assert row.pod_name not in pod_names(env)
    gone = env.store.get(row.island_id)
    assert gone.state == "deleted" and gone.reason == "Expired"


def test_registration_rows_of_absent_islands_are_removed(env):
    (row,) = ready_islands(env, "reg1")
    wait_for(lambda: env.store.registration(row.island_id), 10, "registration")
    insert_registration(env, 777)
    report = recover(env)
    assert kinds(report) == [("remove_registration", "done")]
    assert env.store.registration(777) is None
    assert env.store.registration(row.island_id) is not None


def test_dry_run_changes_nothing_then_a_real_run_repairs_everything(env):
    ready, lost = ready_islands(env, "dry1", "dry2")
    env.kubectl.delete_pod(lost.pod_name, grace_period=0, force=True, wait=True)
    stuck = stuck_row(env, "dry3", "allocated")
    env.kubectl.apply([stray_pod(None, "stray-dry")])
    insert_registration(env, 778)
    before = snapshot(env)
    report = recover(env, dry_run=True, stuck_after=0)
    assert snapshot(env) == before
    planned = kinds(report)
    assert planned == sorted([("lost", "planned"), ("release_stuck", "planned"), ("delete_orphan", "planned"),
                              ("remove_registration", "planned")])
    assert report.dry_run and "dry run" in report.summary_lines()[0]
    report = recover(env, stuck_after=0)
    assert kinds(report) == [(kind, "done") for kind, _ in planned]
    assert env.store.get(lost.island_id).state == "lost" and env.store.get(stuck.island_id).state == "deleted"
    assert pod_names(env) == {ready.pod_name} and env.store.registration(778) is None
    assert kinds(recover(env, stuck_after=0)) == []  # a second run finds nothing left


def test_a_run_while_another_holds_the_lock_does_nothing(env):
    stuck_row(env, "locked1", "allocated")
    with env.store.named_lock(env.settings.recover.lock_name) as acquired:
        assert acquired
        report = recover(env, stuck_after=0)
    assert report.another_running and report.outcomes == []
    assert report.summary_lines() == ["another recover run is active; this one did nothing"]
    assert kinds(recover(env, stuck_after=0)) == [("release_stuck", "done")]


def test_agreement_after_a_clean_run(env):
    ready_islands(env, "fine1", "fine2")
    report = recover(env)
    assert kinds(report) == [] and report.islands == 2 and report.pods == 2
    assert len(live_pods(env)) == 2
