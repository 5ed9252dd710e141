"""Classify a Kubernetes Pod object into an island state.

Pure: no I/O, no clock. Reads ``status.conditions`` and the server container's status, never
kubectl's STATUS column: with the idle side container a crashed server shows READY 1/2 and
phase Running, and an unschedulable pod only says Pending.

Precedence (first match wins):

1. ``metadata.deletionTimestamp`` set            -> terminating
2. phase Failed / Succeeded, or server terminated -> failed (reason from Kubernetes)
3. server container waiting with an error reason  -> failed (ErrImagePull, CrashLoopBackOff, ...)
4. server container running                       -> ready if its ``ready`` is true, else starting
5. bound to a node (spec.nodeName / PodScheduled) -> creating
6. PodScheduled=False, reason Unschedulable       -> unschedulable (message: the scheduler's text)
7. otherwise                                      -> pending

``reason`` and ``message`` are always strings ("" when Kubernetes gave none); ``node`` and
``host_ip`` are None until the pod is bound / the kubelet reports them. Any odd or missing
field degrades to the cautious answer; only a non-dict input raises ``PodParseError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from island_ssh.core.errors import PodParseError  # lives with the family; callers import it from here too
from island_ssh.core.names import ID_LABEL, POD_STATES  # noqa: F401  (POD_STATES re-exported: tests)

WAITING_ERRORS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "ImageInspectError",
        "RegistryUnavailable",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
        "RunContainerError",
        "ContainerCannotRun",
        "StartError",
        "PreStartHookError",
        "PostStartHookError",
    }
)


@dataclass(frozen=True)
class PodView:
    state: str
    reason: str
    message: str
    node: str | None
    host_ip: str | None
    ready: bool
    resource_version: int | None = None
    name: str = ""
    island_id: int | None = None
    deleted: bool = False
    """True when the view comes from a DELETED watch event (the pod's last known state)."""
    uid: str = ""
    """metadata.uid: tells a re-created pod of the same name from the one before."""
    started_at: str = ""
    """RFC 3339 time the server container started (running.startedAt), "" before that.

    The clock offset of an island launched with a start time is that time minus this moment."""


_EMPTY: dict = {}
"""Read-only stand-in for a missing or odd mapping (classify only ever calls .get on it)."""

_new_object = object.__new__
_set_attr = object.__setattr__


def _view(state: str, reason: str, message: str, node: str | None, host_ip: str | None, ready: bool,
          resource_version: int | None, name: str, island_id: int | None, deleted: bool, uid: str,
          started_at: str) -> PodView:
    # The same object PodView(...) builds, made in one step: the frozen dataclass's __init__
    # sets the twelve fields with one object.__setattr__ call each, a good part of classify's
    # cost. tests/core/test_podstate_reference.py checks both give equal objects (vars too).
    view = _new_object(PodView)
    _set_attr(view, "__dict__", {
        "state": state, "reason": reason, "message": message, "node": node, "host_ip": host_ip, "ready": ready,
        "resource_version": resource_version, "name": name, "island_id": island_id, "deleted": deleted,
        "uid": uid, "started_at": started_at,
    })
    return view


def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else _EMPTY


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, str):
        if value.isdigit() and value.isascii() and len(value) <= 20:
            return int(value)
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _is_waiting_error(reason: str) -> bool:
    # kubelet's error reasons all read like these; an unknown one ending so is an error too.
    return reason in WAITING_ERRORS or reason.endswith(("Error", "BackOff")) or reason.startswith("Err")


def _terminated_message(terminated: dict) -> str:
    code = terminated.get("exitCode")
    parts = []
    if isinstance(code, int) and not isinstance(code, bool):
        parts.append(f"exit code {code}")
    signal = terminated.get("signal")
    if isinstance(signal, int) and not isinstance(signal, bool) and signal:
        parts.append(f"signal {signal}")
    text = _s(terminated.get("message")).strip()
    head = ", ".join(parts)
    if head and text:
        return f"{head}: {text}"
    return head or text


def classify(pod: dict, server_container: str, *, deleted: bool = False) -> PodView:
    """The island state a Pod object shows; see the module docstring for the rules.

    Runs once per watch event, so it reads each field once, straight from the dicts, and builds
    nothing but the PodView (the tracker's throughput goal: bench/classify.py)."""
    if not isinstance(pod, dict):
        raise PodParseError(f"pod: expected a JSON object (dict), got {type(pod).__name__}")
    meta = pod.get("metadata")
    if not isinstance(meta, dict):
        meta = _EMPTY
    status = pod.get("status")
    if not isinstance(status, dict):
        status = _EMPTY
    spec = pod.get("spec")
    node = spec.get("nodeName") if isinstance(spec, dict) else None
    if not node or not isinstance(node, str):
        node = None
    host_ip = status.get("hostIP")
    if not host_ip or not isinstance(host_ip, str):
        host_ip = None
    labels = meta.get("labels")
    island_id = _int_or_none(labels.get(ID_LABEL)) if isinstance(labels, dict) else None
    resource_version = _int_or_none(meta.get("resourceVersion"))
    name = meta.get("name")
    if not isinstance(name, str):
        name = ""
    uid = meta.get("uid")
    if not isinstance(uid, str):
        uid = ""

    ready = False
    running = waiting = terminated = None
    statuses = status.get("containerStatuses")
    if isinstance(statuses, list):
        for server in statuses:
            if isinstance(server, dict) and server.get("name") == server_container:
                ready = server.get("ready") is True
                state = server.get("state")
                if isinstance(state, dict):
                    for key, value in state.items():  # one key, as the kubelet writes it
                        if key == "running":
                            running = value if isinstance(value, dict) else _EMPTY
                        elif key == "waiting":
                            waiting = value if isinstance(value, dict) else _EMPTY
                        elif key == "terminated":
                            terminated = value if isinstance(value, dict) else _EMPTY
                break
    started = running or terminated
    started_at = started.get("startedAt") if started else None
    if not isinstance(started_at, str):
        started_at = ""

    deletion = meta.get("deletionTimestamp")
    if deletion:
        grace = meta.get("deletionGracePeriodSeconds")
        text = "deletion requested"
        if isinstance(deletion, str):
            text += f"; containers stop by {deletion}"
        if isinstance(grace, int) and not isinstance(grace, bool):
            text += f" (grace {grace} s)"
        return _view("terminating", "Terminating", text, node, host_ip, ready,
                     resource_version, name, island_id, deleted, uid, started_at)

    phase = status.get("phase")
    if terminated is not None or phase == "Failed" or phase == "Succeeded":
        pod_reason = _s(status.get("reason"))
        pod_message = _s(status.get("message")).strip()
        if terminated is not None:
            exit_code = terminated.get("exitCode")
            default = "Completed" if exit_code == 0 and not isinstance(exit_code, bool) else "Error"
            reason = pod_reason or _s(terminated.get("reason")) or default
            detail = _terminated_message(terminated)
            message = f"{pod_message} ({detail})" if pod_message and detail else pod_message or detail
        else:
            reason = pod_reason or phase
            message = pod_message or f"pod phase {phase}"
        return _view("failed", reason, message, node, host_ip, False,
                     resource_version, name, island_id, deleted, uid, started_at)

    if waiting is not None:
        reason = waiting.get("reason")
        if reason and isinstance(reason, str) and _is_waiting_error(reason):
            return _view("failed", reason, _s(waiting.get("message")), node, host_ip, False,
                         resource_version, name, island_id, deleted, uid, started_at)
    inits = status.get("initContainerStatuses")
    if inits and isinstance(inits, list):
        for init in inits:
            init_waiting = _d(_d(_d(init).get("state")).get("waiting"))
            init_reason = _s(init_waiting.get("reason"))
            if init_reason and _is_waiting_error(init_reason):
                return _view("failed", init_reason, _s(init_waiting.get("message")), node, host_ip, False,
                             resource_version, name, island_id, deleted, uid, started_at)

    if running is not None:
        if ready:
            return _view("ready", "", "", node, host_ip, True,
                         resource_version, name, island_id, deleted, uid, started_at)
        return _view("starting", "NotReady", "server container running, readiness probe not yet passed", node,
                     host_ip, False, resource_version, name, island_id, deleted, uid, started_at)

    scheduled = _EMPTY
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        for entry in conditions:
            if isinstance(entry, dict) and entry.get("type") == "PodScheduled":
                scheduled = entry
                break
    scheduled_status = scheduled.get("status")
    if node or scheduled_status == "True":
        waiting = waiting or _EMPTY
        reason = _s(waiting.get("reason")) or "ContainerCreating"
        return _view("creating", reason, _s(waiting.get("message")), node, host_ip, False,
                     resource_version, name, island_id, deleted, uid, started_at)
    if scheduled_status == "False":
        reason = _s(scheduled.get("reason"))
        kind = "unschedulable" if reason == "Unschedulable" else "pending"
        return _view(kind, reason, _s(scheduled.get("message")), node, host_ip, False,
                     resource_version, name, island_id, deleted, uid, started_at)
    return _view("pending", _s(status.get("reason")), _s(status.get("message")), node, host_ip, False,
                 resource_version, name, island_id, deleted, uid, started_at)
