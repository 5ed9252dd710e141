"""The island state machine: from the stored island and a pod event to the next state.

Pure: no I/O, no clock (``now`` is passed in). The tracker feeds it what ``podstate.classify``
makes of each watch event; the result, if any, is what to store and push to the web page.

States
------
Pod states (``names.POD_STATES``): pending, unschedulable, creating, starting, ready,
failed, terminating. Island-only states: ``allocated`` (id and ports held, nothing applied),
``applying`` (``kubectl apply`` in flight), ``deleted`` (pod gone, id and ports free again),
``lost`` (we think it lives, the cluster has no pod), ``timeout`` (not ready in time).

Transition table for ``next_transition(current, event, view)`` (first matching row wins)
-----------------------------------------------------------------------------------------
=====================  ===========================  ==========================================
current state          event / view                 result
=====================  ===========================  ==========================================
deleted                anything                     None (a deleted island never comes back;
                                                    a relaunch is a new allocation)
any                    BOOKMARK, ERROR              None (no pod in them)
any                    rv <= current rv (DELETED:   None (stale, duplicated or replayed)
                       rv < current rv)
any                    DELETED (or view.deleted)    deleted, reason "Deleted" (a terminating island
                                                    whose reason is in KEPT_END_REASONS, e.g.
                                                    LeaseExpired, keeps that reason)
terminating, reason    view terminating             None (the reason why we ended it stays)
  in KEPT_END_REASONS
terminating            view terminating             terminating (only if details changed)
terminating            any other view               None (deletion is not undone)
failed                 view terminating / failed    that view (failed->failed updates details)
failed                 any other view               None (sticky: restartPolicy is Never)
timeout                view ready, failed,          that view
                       terminating
timeout                any other view               None (still not ready; stays timeout)
any                    same state+reason+message    None
allocated, applying,   any other view               the view's state (the cluster is the truth;
lost, pending, ...                                  ready may fall back to starting)
=====================  ===========================  ==========================================

Stale events and the resource version: a no-op (None) does not bump the stored resource
version, and need not. While events arrive in order, every event newer than the stored rv that
returned None matched the stored state (or was refused by a rule that depends only on the
stored state), so replaying it returns None again; anything older is caught by the rv check.
When either rv is unknown (None) the check is skipped and the other rules decide.

``on_relist`` covers the gap after a watch restart; ``check_timeout`` turns a slow start into
``timeout``. Their rules are in their docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass

from island_ssh.core.errors import StateMachineError  # lives with the family; callers import it from here too
from island_ssh.core.names import ISLAND_STATES, WAITING_STATES
from island_ssh.core.podstate import PodView

POD_EVENTS = frozenset({"ADDED", "MODIFIED", "DELETED"})
NON_POD_EVENTS = frozenset({"BOOKMARK", "ERROR"})

WAITING_FOR_READY = frozenset(WAITING_STATES) - {"allocated"}
"""States check_timeout() may turn into timeout (allocated has not been applied yet)."""
TIMEOUT_EXITS = frozenset({"ready", "failed", "terminating"})
MISSING_MEANS_DELETED = frozenset({"terminating", "failed"})
"""A pod missing from a re-list in these states went the way it was going: deleted, not lost."""
MISSING_IS_EXPECTED = frozenset({"allocated", "applying", "deleted", "lost"})
KEPT_END_REASONS = frozenset({"LeaseExpired", "IdleExpired"})
"""Why island_ssh itself ended an island (the lease and idle reapers: service/leases.py, idle.py).
A terminating island with such a reason keeps it through its pod's terminating and DELETED
events, so the deleted row still says why it ended, not just "Deleted"."""


@dataclass(frozen=True)
class IslandSnapshot:
    state: str
    reason: str = ""
    message: str = ""
    resource_version: int | None = None
    generation: int = 0
    """The store's row version for compare-and-set updates; the machine carries it, never reads it."""

    @classmethod
    def of(cls, row) -> "IslandSnapshot":
        """The machine's view of a stored island row (anything with these attributes)."""
        return cls(state=row.state, reason=row.reason, message=row.message,
                   resource_version=row.resource_version, generation=row.generation)


@dataclass(frozen=True)
class Transition:
    to_state: str
    reason: str
    message: str
    node: str | None = None
    host_ip: str | None = None
    resource_version: int | None = None


def _check_state(current: IslandSnapshot) -> None:
    if current.state not in ISLAND_STATES:
        raise StateMachineError(f"unknown island state {current.state!r}; known: {', '.join(ISLAND_STATES)}")


def _from_view(view: PodView) -> Transition:
    return Transition(view.state, view.reason, view.message, view.node, view.host_ip, view.resource_version)


def _is_stale(current: IslandSnapshot, view: PodView, deleting: bool) -> bool:
    if current.resource_version is None or view.resource_version is None:
        return False
    if deleting:
        return view.resource_version < current.resource_version
    return view.resource_version <= current.resource_version


def _unchanged(current: IslandSnapshot, target: Transition) -> bool:
    # A store may hand back NULL for an empty reason/message; it means the same as "".
    return (current.state, current.reason or "", current.message or "") == (
        target.to_state, target.reason, target.message)


def _deleted_message(view: PodView) -> str:
    last = view.state + (f"/{view.reason}" if view.reason else "")
    return f"pod {view.name or '?'} deleted (last state {last})"


def next_transition(current: IslandSnapshot, event_type: str, view: PodView) -> Transition | None:
    """What ``current`` becomes after a watch event carrying ``view``; None when nothing changes."""
    _check_state(current)
    if event_type not in POD_EVENTS and event_type not in NON_POD_EVENTS:
        raise StateMachineError(f"unknown watch event type {event_type!r}")
    if current.state == "deleted" or event_type in NON_POD_EVENTS:
        return None
    deleting = event_type == "DELETED" or view.deleted
    if _is_stale(current, view, deleting):
        return None
    kept = current.state == "terminating" and current.reason in KEPT_END_REASONS
    if deleting:
        return Transition("deleted", current.reason if kept else "Deleted", _deleted_message(view), view.node,
                          view.host_ip, view.resource_version)
    target = _from_view(view)
    if kept and target.to_state == "terminating":
        return None
    if current.state == "terminating" and target.to_state != "terminating":
        return None
    if current.state == "failed" and target.to_state not in ("failed", "terminating"):
        return None
    if current.state == "timeout" and target.to_state not in TIMEOUT_EXITS:
        return None
    if _unchanged(current, target):
        return None
    return target


def on_relist(
    current: IslandSnapshot, view: PodView | None, *, delete_requested: bool = False
) -> Transition | None:
    """Reconcile ``current`` with a fresh list after the watch restarted (events may be missed).

    Pod present: exactly like a MODIFIED event. Pod missing: ``deleted`` if the island was
    terminating or failed, or we asked for the delete (``delete_requested``); None for allocated,
    applying, lost and deleted (no pod is what we expect or already know); ``lost`` otherwise.
    """
    _check_state(current)
    if view is not None:
        return next_transition(current, "MODIFIED", view)
    if current.state == "deleted":
        return None
    if delete_requested or current.state in MISSING_MEANS_DELETED:
        kept = current.state == "terminating" and current.reason in KEPT_END_REASONS
        return Transition(
            "deleted", current.reason if kept else "Deleted", f"pod gone while the watch was down (was {current.state})",
            resource_version=current.resource_version,
        )
    if current.state in MISSING_IS_EXPECTED:
        return None
    return Transition(
        "lost", "PodMissing",
        f"the cluster has no pod for this island (was {current.state}"
        + (f"/{current.reason}" if current.reason else "") + ")",
        resource_version=current.resource_version,
    )


def check_timeout(
    current: IslandSnapshot, applied_at: float, now: float, ready_timeout: float
) -> Transition | None:
    """``timeout`` when the island is still on its way to ready ``ready_timeout`` s after apply.

    Only applying/pending/unschedulable/creating/starting time out; ``ready_timeout <= 0``
    disables the check. The transition keeps the last reason and quotes the last message, so an
    unschedulable island says why it never started.
    """
    _check_state(current)
    if ready_timeout <= 0 or current.state not in WAITING_FOR_READY:
        return None
    waited = now - applied_at
    if waited < ready_timeout:
        return None
    last = current.state + (f": {current.message}" if current.message else "")
    return Transition(
        "timeout",
        current.reason or "NotReady",
        f"not ready {waited:.0f} s after apply (limit {ready_timeout:g} s); last {last}",
        resource_version=current.resource_version,
    )
