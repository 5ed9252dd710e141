"""The recovery planner's ``lease_expired`` kind on plain data: ``now`` and the rows' lease end in,
the deletion out; nothing for leases still running, rows without one, or applies in flight."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from island_ssh.core.recovery_plan import plan_recovery
from island_ssh.core.settings import IslandSettings, RecoverSettings

from .recovery_helpers import NOW, pod, row

SETTINGS = RecoverSettings(lost_grace=300, stuck_after=300, stuck_action="release", orphan_action="adopt",
                           retention=3600)
ISLANDS = IslandSettings(id_min=1, id_max=999)


def plan(rows, pods):
    return plan_recovery(rows, pods, [], now=NOW.timestamp(), settings=SETTINGS, islands=ISLANDS)


def leased(island_id, state, ends_in: float, **kw):
    return replace(row(island_id, state, **kw), lease_expires_at=NOW + timedelta(seconds=ends_in))


def test_a_running_island_whose_lease_ended_is_deleted_with_reason_lease_expired():
    (a,) = plan([leased(4, "ready", -30)], [pod(4, "ready")])
    assert (a.kind, a.island_id, a.reason, a.to_state, a.generation) == ("lease_expired", 4, "LeaseExpired", "deleted", 1)
    assert a.pod == "altraserver-alice-dev-4" and "lease ended 30 s ago" in a.message


def test_leases_still_running_or_absent_need_nothing():
    assert plan([leased(4, "ready", 30), row(5, "ready")], [pod(4, "ready"), pod(5, "ready")]) == []


def test_an_apply_in_flight_is_left_and_a_terminating_pod_is_let_go():
    assert plan([leased(4, "applying", -30)], []) == []
    assert plan([leased(4, "ready", -30)], [pod(4, "ready", terminating=True)]) == []


def test_a_row_without_its_pod_is_released_at_once_rather_than_lost_first():
    (a,) = plan([leased(4, "ready", -1)], [])
    assert (a.kind, a.to_state) == ("lease_expired", "deleted")
    # the reaper claimed it (terminating) and its delete went through: the pod is gone, as planned before
    (b,) = plan([leased(4, "terminating", -1, reason="LeaseExpired")], [])
    assert (b.kind, b.to_state) == ("release_gone", "deleted")


def test_a_reaper_claim_whose_delete_failed_is_finished_by_recover():
    (a,) = plan([leased(4, "terminating", -60, reason="LeaseExpired")], [pod(4, "ready")])
    assert a.kind == "lease_expired"


def test_the_tracker_keeps_lease_expired_through_the_pods_own_end():
    from island_ssh.core.podstate import classify
    from island_ssh.core.statemachine import IslandSnapshot, next_transition
    ending = classify(pod(4, "ready", terminating=True, rv=200), "altraserver")
    current = IslandSnapshot("terminating", "LeaseExpired", "lease ended", resource_version=150)
    assert next_transition(current, "MODIFIED", ending) is None  # not overwritten by the pod's terminating
    gone = next_transition(current, "DELETED", ending)
    assert (gone.to_state, gone.reason) == ("deleted", "LeaseExpired")
    # a delete someone asked for ends as before
    asked = IslandSnapshot("terminating", "DeleteRequested", "", resource_version=150)
    assert next_transition(asked, "DELETED", ending).reason == "Deleted"
