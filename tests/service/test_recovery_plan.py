"""The recovery planner on plain data: each drift case becomes the right action, nothing else."""

from __future__ import annotations

from dataclasses import replace

import pytest

from island_ssh.core.settings import IslandSettings, RecoverSettings
from island_ssh.core.recovery_plan import count_by_kind, plan_recovery
from island_ssh.store import RegistrationRow

from .recovery_helpers import NOW, pod, row

SETTINGS = RecoverSettings(lost_grace=300, stuck_after=300, stuck_action="release", orphan_action="adopt",
                           retention=3600)
ISLANDS = IslandSettings(id_min=1, id_max=999)


def plan(rows, pods, regs=(), settings=SETTINGS, list_rv=None):
    return plan_recovery(rows, pods, list(regs), now=NOW.timestamp(), settings=settings, islands=ISLANDS,
                         list_rv=list_rv)


def kinds(actions):
    return [(a.kind, a.island_id) for a in actions]


def test_agreeing_rows_and_pods_need_nothing():
    assert plan([row(1, "ready"), row(2, "creating")], [pod(1, "ready"), pod(2, "creating")]) == []


@pytest.mark.parametrize("state, kind, to_state", [
    ("ready", "lost", "lost"), ("starting", "lost", "lost"), ("pending", "lost", "lost"),
    ("timeout", "lost", "lost"), ("failed", "release_gone", "deleted"), ("terminating", "release_gone", "deleted"),
])
def test_a_row_whose_pod_is_gone(state, kind, to_state):
    (a,) = plan([row(5, state, reason="Error" if state == "failed" else "")], [])
    assert (a.kind, a.island_id, a.to_state, a.from_state, a.generation) == (kind, 5, to_state, state, 1)


def test_lost_is_released_after_the_grace_period_only():
    assert plan([row(5, "lost", age=299)], []) == []
    (a,) = plan([row(5, "lost", age=301)], [])
    assert (a.kind, a.to_state, a.reason) == ("release", "deleted", "LostReleased")
    assert "lost for 301 s" in a.message


def test_an_allocated_row_is_released_or_applied_again_after_the_limit():
    # allocated: the launch never answered 201 (the process died before queueing its apply)
    assert plan([row(3, "allocated", age=100)], []) == []
    (a,) = plan([row(3, "allocated", age=400)], [])
    assert (a.kind, a.to_state, a.reason) == ("release_stuck", "deleted", "Stuck")
    (a,) = plan([row(3, "allocated", age=400)], [], settings=replace(SETTINGS, stuck_action="reapply"))
    assert a.kind == "reapply"


def test_an_applying_row_is_applied_again_never_released():
    # accepted (201): an apply cut while kubectl ran is applied again once stuck_after has passed
    assert plan([row(3, "applying", age=100)], []) == []
    (a,) = plan([row(3, "applying", age=400)], [])
    assert (a.kind, a.to_state, a.reason) == ("reapply", "applying", "Reapplied")


def test_a_queued_row_waits_for_its_live_process_and_is_resumed_once_it_is_gone():
    queued = replace(row(3, "applying", age=4000), applier="db/island_ssh.applier.0123")
    assert plan([queued], []) == []  # its process lives: its worker applies it, however long
    (a,) = plan_recovery([queued], [], [], now=NOW.timestamp(), settings=SETTINGS, islands=ISLANDS,
                         resumable={3})
    assert (a.kind, a.island_id, a.to_state) == ("reapply", 3, "applying")
    (a,) = plan_recovery([replace(queued, state_since=NOW)], [], [], now=NOW.timestamp(), settings=SETTINGS,
                         islands=ISLANDS, resumable={3})
    assert a.kind == "reapply"  # no stuck_after wait: nobody is applying it


def test_a_stuck_row_with_its_pod_follows_the_pod():
    (a,) = plan([row(3, "applying", age=400)], [pod(3, "ready")])
    assert (a.kind, a.from_state, a.to_state, a.node, a.host_ip) == ("sync", "applying", "ready", "node-dev-1",
                                                                      "127.0.0.11")


def test_a_lost_row_whose_pod_is_back_follows_it_even_after_the_grace():
    (a,) = plan([row(3, "lost", age=4000)], [pod(3, "starting")])
    assert (a.kind, a.to_state) == ("sync", "starting")


def test_a_pod_whose_server_ended_past_the_retention_is_expired():
    assert kinds(plan([row(4, "failed", reason="Error", message="exit code 3")], [pod(4, ended_ago=3601)])) == [
        ("expire", 4)]
    (a,) = plan([row(4, "ready")], [pod(4, ended_ago=10)])
    assert (a.kind, a.to_state, a.reason) == ("sync", "failed", "Error")


def test_a_terminating_pod_is_left_to_finish():
    assert plan([row(4, "terminating")], [pod(4, terminating=True)]) == []
    assert plan([], [pod(9, terminating=True)]) == []


def test_an_orphan_pod_naming_a_free_id_is_adopted_with_what_it_carries():
    (a,) = plan([], [pod(9, "ready", generation=4, owner="刘电波", memory="128Mi", image="my/image:1")])
    assert (a.kind, a.island_id, a.to_state, a.pod) == ("adopt", 9, "ready", "altraserver-刘电波-dev-9")
    assert a.adopt["owner"] == "刘电波" and a.adopt["branch"] == "dev" and a.adopt["pod_generation"] == "4"
    assert a.adopt["token"] == "tok-" + "x" * 20
    assert a.adopt["overrides"] == {"adopted_from": a.pod, "memory": "128Mi", "image": "my/image:1"}
    assert "tok-" not in repr(a) and "tok-" not in str(a.as_dict())
    assert a.adopt["owner_id"] is None  # a pod made before ids: the store takes the name as the id


@pytest.mark.parametrize("annotated, kept", [("u-1001", "u-1001"), ("bad\nid", None), ("", None)])
def test_an_adopted_pod_keeps_its_owners_id(annotated, kept):
    orphan = pod(9, "ready", owner="王伟")
    orphan["metadata"]["annotations"]["island-ssh/owner-id"] = annotated
    (a,) = plan([], [orphan])
    assert (a.kind, a.adopt["owner"], a.adopt["owner_id"]) == ("adopt", "王伟", kept)


@pytest.mark.parametrize("action, kind", [("delete", "delete_orphan"), ("report", "report_orphan")])
def test_orphan_action_delete_or_report(action, kind):
    (a,) = plan([], [pod(9)], settings=replace(SETTINGS, orphan_action=action))
    assert (a.kind, a.island_id) == (kind, 9)


def test_an_orphan_whose_id_belongs_to_another_island_is_deleted():
    actions = plan([row(9, "ready", generation=2)], [pod(9, generation=2), pod(9, generation=1, name="old-9")])
    assert kinds(actions) == [("delete_orphan", 9)] and actions[0].pod == "old-9"
    assert "belongs to another pod" in actions[0].message


@pytest.mark.parametrize("island_id", [None, 0, 1000])
def test_an_orphan_without_a_usable_id_is_deleted(island_id):
    (a,) = plan([], [pod(island_id, name="stray")])
    assert (a.kind, a.pod) == ("delete_orphan", "stray")


def test_two_orphans_for_one_free_id_adopt_the_newest_live_one():
    pods = [pod(9, name="older", created_ago=500), pod(9, name="newer", created_ago=50),
            pod(9, name="dead", created_ago=10, ended_ago=4000)]
    actions = plan([], pods)
    assert [(a.kind, a.pod) for a in actions] == [("adopt", "newer"), ("delete_orphan", "older"),
                                                  ("delete_orphan", "dead")]


def test_an_orphan_whose_server_ended_long_ago_is_deleted_not_adopted():
    (a,) = plan([], [pod(9, ended_ago=4000)])
    assert a.kind == "delete_orphan" and "ended 4000 s ago" in a.message


def test_a_row_newer_than_the_pod_list_is_left_for_the_next_run():
    assert plan([row(5, "ready", rv=120)], [], list_rv=110) == []
    assert kinds(plan([row(5, "ready", rv=100)], [], list_rv=110)) == [("lost", 5)]


def test_a_row_ahead_of_the_cluster_for_long_is_judged_after_an_etcd_restore():
    # versions from the old cluster run ahead of the restored one's; a row written an hour ago
    # was not written between our list and our read, so it is judged, not skipped for ever
    assert kinds(plan([row(5, "ready", rv=9_000_000, age=3600)], [], list_rv=110)) == [("lost", 5)]


def test_a_pod_of_another_name_or_generation_is_not_the_rows_pod():
    actions = plan([row(5, "ready", generation=3)], [pod(5, generation=2)])
    assert sorted(kinds(actions)) == [("delete_orphan", 5), ("lost", 5)]
    actions = plan([row(5, "ready", pod_name="altraserver-bob-dev-5")], [pod(5)])
    assert sorted(kinds(actions)) == [("delete_orphan", 5), ("lost", 5)]


def test_a_pod_without_generation_label_matches_by_name():
    assert plan([row(5, "ready", generation=7)], [pod(5, generation=None)]) == []


def test_orphan_registrations_are_removed():
    reg = RegistrationRow(island_id=8, node_ip="127.0.0.11", ports=(30024, 30025, 30026), pod_name="p8",
                          registered_at=NOW, updated_at=NOW)
    (a,) = plan([], [], regs=[reg])
    assert (a.kind, a.island_id, a.pod) == ("remove_registration", 8, "p8")


def test_counts_cover_every_kind():
    counts = count_by_kind(plan([row(1, "ready"), row(2, "lost", age=1000)], [pod(3)]))
    assert counts["lost"] == 1 and counts["release"] == 1 and counts["adopt"] == 1 and sum(counts.values()) == 3


def test_token_secrets_of_islands_no_row_holds_are_swept_by_id_and_generation():
    secrets = [{"name": "island-ssh-token-5", "island_id": "5", "generation": "3"},   # island 5 is live
               {"name": "island-ssh-token-6", "island_id": "6", "generation": "2"},   # island 6 is gone
               {"name": "island-ssh-token-x", "island_id": "x", "generation": "1"}]   # not an id: left alone
    actions = plan_recovery([row(5, "ready", generation=3)], [pod(5, generation="3")], [], now=NOW.timestamp(),
                            settings=SETTINGS, islands=ISLANDS, token_secrets=secrets)
    assert [(a.kind, a.island_id, a.generation) for a in actions] == [("remove_secret", 6, 2)]
    assert count_by_kind(actions)["remove_secret"] == 1
