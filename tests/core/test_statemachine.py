"""The island state machine as a table, plus duplicated, stale and out-of-order event streams."""

import dataclasses

import pytest

from island_ssh.core.podstate import PodView, classify
from island_ssh.core.statemachine import (
    ISLAND_STATES,
    IslandSnapshot,
    StateMachineError,
    Transition,
    check_timeout,
    next_transition,
    on_relist,
)

from .helpers import pod


def view(state, reason="", message="", rv=None, **kw):
    return PodView(state, reason, message, kw.pop("node", "node-dev-1"), kw.pop("host_ip", "10.0.0.1"),
                   state == "ready", resource_version=rv, name="altraserver-x-dev-1", island_id=1, **kw)


def snap(state, reason="", message="", rv=None):
    return IslandSnapshot(state, reason, message, rv, generation=7)


TABLE = [
    # current, event, view state, expected to_state (None: no transition)
    ("allocated", "ADDED", "pending", "pending"),
    ("applying", "ADDED", "pending", "pending"),
    ("applying", "ADDED", "unschedulable", "unschedulable"),
    ("pending", "MODIFIED", "unschedulable", "unschedulable"),
    ("unschedulable", "MODIFIED", "creating", "creating"),
    ("creating", "MODIFIED", "starting", "starting"),
    ("starting", "MODIFIED", "ready", "ready"),
    ("ready", "MODIFIED", "starting", "starting"),
    ("ready", "MODIFIED", "failed", "failed"),
    ("ready", "MODIFIED", "terminating", "terminating"),
    ("ready", "DELETED", "ready", "deleted"),
    ("terminating", "DELETED", "terminating", "deleted"),
    ("terminating", "MODIFIED", "ready", None),
    ("failed", "MODIFIED", "ready", None),
    ("failed", "MODIFIED", "starting", None),
    ("failed", "MODIFIED", "terminating", "terminating"),
    ("failed", "DELETED", "failed", "deleted"),
    ("timeout", "MODIFIED", "starting", None),
    ("timeout", "MODIFIED", "creating", None),
    ("timeout", "MODIFIED", "ready", "ready"),
    ("timeout", "MODIFIED", "failed", "failed"),
    ("timeout", "MODIFIED", "terminating", "terminating"),
    ("lost", "MODIFIED", "ready", "ready"),
    ("lost", "DELETED", "ready", "deleted"),
    ("deleted", "ADDED", "pending", None),
    ("deleted", "MODIFIED", "ready", None),
    ("deleted", "DELETED", "ready", None),
    ("ready", "BOOKMARK", "ready", None),
    ("pending", "ERROR", "ready", None),
]


@pytest.mark.parametrize("current, event, seen, expected", TABLE)
def test_transition_table(current, event, seen, expected):
    result = next_transition(snap(current, rv=10), event, view(seen, "R", "M", rv=11))
    if expected is None:
        assert result is None
    else:
        assert result is not None and result.to_state == expected
        assert result.resource_version == 11


def test_transition_carries_view_details():
    result = next_transition(snap("creating", rv=1), "MODIFIED", view("failed", "OOMKilled", "exit code 137", rv=2))
    assert result == Transition("failed", "OOMKilled", "exit code 137", "node-dev-1", "10.0.0.1", 2)


def test_deleted_reason_and_message():
    result = next_transition(snap("failed", "OOMKilled"), "DELETED", view("failed", "OOMKilled", rv=5))
    assert (result.to_state, result.reason) == ("deleted", "Deleted")
    assert "failed/OOMKilled" in result.message


def test_view_flagged_deleted_acts_as_deleted_event():
    result = next_transition(snap("ready", rv=1), "MODIFIED", view("ready", rv=2, deleted=True))
    assert result.to_state == "deleted"


def test_same_state_reason_message_is_no_transition():
    assert next_transition(snap("starting", "NotReady", "m", rv=3), "MODIFIED", view("starting", "NotReady", "m", rv=4)) is None


def test_same_state_new_detail_is_a_transition():
    result = next_transition(snap("failed", "ErrImagePull", "a", rv=3), "MODIFIED", view("failed", "ImagePullBackOff", "b", rv=4))
    assert (result.to_state, result.reason) == ("failed", "ImagePullBackOff")


@pytest.mark.parametrize("stale_rv", [9, 10])
def test_stale_and_duplicate_resource_versions_are_ignored(stale_rv):
    assert next_transition(snap("starting", rv=10), "MODIFIED", view("ready", rv=stale_rv)) is None


def test_deleted_with_equal_rv_still_deletes_but_older_does_not():
    assert next_transition(snap("ready", rv=10), "DELETED", view("ready", rv=10)).to_state == "deleted"
    assert next_transition(snap("ready", rv=10), "DELETED", view("ready", rv=9)) is None


def test_unknown_rv_skips_the_stale_check():
    assert next_transition(snap("starting", rv=None), "MODIFIED", view("ready", rv=3)).to_state == "ready"
    assert next_transition(snap("starting", rv=10), "MODIFIED", view("ready", rv=None)).to_state == "ready"


def run(events, start="applying"):
    """Feed (event, view) pairs through the machine as the tracker would; return the state trail."""
    current = snap(start)
    trail = [current.state]
    for event, seen in events:
        result = next_transition(current, event, seen)
        if result is not None:
            current = IslandSnapshot(result.to_state, result.reason, result.message, result.resource_version, current.generation + 1)
            trail.append(current.state)
    return current, trail


def life():
    return [
        ("ADDED", view("pending", rv=1)),
        ("MODIFIED", view("creating", "ContainerCreating", rv=2)),
        ("MODIFIED", view("starting", "NotReady", "probe", rv=3)),
        ("MODIFIED", view("starting", "NotReady", "probe", rv=4)),
        ("MODIFIED", view("ready", rv=5)),
        ("MODIFIED", view("terminating", "Terminating", "bye", rv=6)),
        ("DELETED", view("terminating", "Terminating", "bye", rv=7)),
    ]


def test_a_normal_life():
    current, trail = run(life())
    assert trail == ["applying", "pending", "creating", "starting", "ready", "terminating", "deleted"]
    assert current.resource_version == 7


def test_every_event_twice_gives_the_same_trail():
    doubled = [e for e in life() for _ in range(2)]
    assert run(doubled)[1] == run(life())[1]


def test_replaying_the_whole_stream_after_the_end_changes_nothing():
    events = life()
    assert run(events + events)[1] == run(events)[1]


def test_out_of_order_old_event_is_ignored():
    events = life()[:5]  # up to ready (rv 5)
    late = [("MODIFIED", view("creating", "ContainerCreating", rv=2)), ("MODIFIED", view("starting", "NotReady", "probe", rv=4))]
    current, trail = run(events + late)
    assert current.state == "ready" and trail[-1] == "ready"


def test_replay_of_noop_event_newer_than_stored_rv_is_still_noop():
    # rv 4 returned None (same as rv 3) so the stored rv stays 3; replaying rv 4 must stay a no-op
    current, _ = run(life()[:4])
    assert current.resource_version == 3
    assert next_transition(current, "MODIFIED", view("starting", "NotReady", "probe", rv=4)) is None


def test_real_fixtures_through_the_machine():
    names = ["pending", "container_creating", "starting_side_ready", "ready", "terminating"]
    events = [("MODIFIED", classify(pod(n), "altraserver")) for n in names]
    assert run(events)[1] == ["applying", "pending", "creating", "starting", "ready", "terminating"]


def test_failure_is_sticky_in_a_stream():
    events = [("MODIFIED", view("failed", "OOMKilled", rv=1)), ("MODIFIED", view("ready", rv=2)), ("MODIFIED", view("starting", rv=3))]
    assert run(events)[0].state == "failed"


def test_unknown_state_or_event_raises():
    with pytest.raises(StateMachineError):
        next_transition(snap("bogus"), "MODIFIED", view("ready"))
    with pytest.raises(StateMachineError):
        next_transition(snap("ready"), "UPDATED", view("ready"))


# on_relist ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "state, delete_requested, expected",
    [
        ("terminating", False, "deleted"),
        ("failed", False, "deleted"),
        ("ready", True, "deleted"),
        ("ready", False, "lost"),
        ("starting", False, "lost"),
        ("unschedulable", False, "lost"),
        ("timeout", False, "lost"),
        ("allocated", False, None),
        ("applying", False, None),
        ("lost", False, None),
        ("lost", True, "deleted"),
        ("deleted", False, None),
        ("deleted", True, None),
    ],
)
def test_relist_pod_missing(state, delete_requested, expected):
    result = on_relist(snap(state, "R", rv=4), None, delete_requested=delete_requested)
    assert (result.to_state if result else None) == expected


def test_relist_lost_message_says_what_it_was():
    result = on_relist(snap("ready", "", rv=4), None)
    assert result.reason == "PodMissing" and "was ready" in result.message


def test_relist_pod_present_acts_like_modified():
    assert on_relist(snap("starting", rv=4), view("ready", rv=9)).to_state == "ready"
    assert on_relist(snap("lost", rv=4), view("ready", rv=9)).to_state == "ready"
    assert on_relist(snap("ready", rv=9), view("ready", rv=9)) is None


# check_timeout -----------------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["applying", "pending", "unschedulable", "creating", "starting"])
def test_timeout_after_the_limit(state):
    current = snap(state, "Unschedulable", "0/3 nodes are available", rv=4)
    assert check_timeout(current, applied_at=1000.0, now=1179.9, ready_timeout=180) is None
    result = check_timeout(current, applied_at=1000.0, now=1180.0, ready_timeout=180)
    assert result.to_state == "timeout" and result.reason == "Unschedulable"
    assert "0/3 nodes are available" in result.message and "180" in result.message
    assert result.resource_version == 4


@pytest.mark.parametrize("state", ["allocated", "ready", "failed", "terminating", "deleted", "lost", "timeout"])
def test_no_timeout_outside_the_way_to_ready(state):
    assert check_timeout(snap(state), 0.0, 10_000.0, 180) is None


def test_timeout_disabled_by_zero():
    assert check_timeout(snap("pending"), 0.0, 10_000.0, 0) is None


def test_timeout_then_late_ready_recovers():
    current = snap("starting", rv=4)
    result = check_timeout(current, 0.0, 500.0, 180)
    timed_out = IslandSnapshot(result.to_state, result.reason, result.message, result.resource_version)
    assert next_transition(timed_out, "MODIFIED", view("starting", "NotReady", "x", rv=5)) is None
    assert next_transition(timed_out, "MODIFIED", view("ready", rv=6)).to_state == "ready"


def test_states_list_is_complete():
    assert set(ISLAND_STATES) == {
        "allocated", "applying", "pending", "unschedulable", "creating", "starting", "ready",
        "failed", "terminating", "deleted", "lost", "timeout",
    }
    assert dataclasses.is_dataclass(IslandSnapshot)


def test_null_reason_from_the_store_equals_empty():
    stored = IslandSnapshot("ready", None, None, 3)
    assert next_transition(stored, "MODIFIED", view("ready", rv=4)) is None
