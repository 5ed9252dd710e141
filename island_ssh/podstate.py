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

from .errors import InvalidInput

ID_LABEL = "island-ssh/id"

POD_STATES = ("pending", "unschedulable", "creating", "starting", "ready", "failed", "terminating")

CREATING_REASONS = frozenset({"ContainerCreating", "PodInitializing"})
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


class PodParseError(InvalidInput):
    """The object handed to classify() is not a Pod mapping at all."""


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


def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list:
    return value if isinstance(value, list) else []


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
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


def _find_status(statuses: list, name: str) -> dict | None:
    for entry in statuses:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def _condition(conditions: list, kind: str) -> dict | None:
    for entry in conditions:
        if isinstance(entry, dict) and entry.get("type") == kind:
            return entry
    return None


def classify(pod: dict, server_container: str, *, deleted: bool = False) -> PodView:
    """The island state a Pod object shows; see the module docstring for the rules."""
    if not isinstance(pod, dict):
        raise PodParseError(f"pod: expected a JSON object (dict), got {type(pod).__name__}")
    meta = _d(pod.get("metadata"))
    spec = _d(pod.get("spec"))
    status = _d(pod.get("status"))
    node = _s(spec.get("nodeName")) or None
    host_ip = _s(status.get("hostIP")) or None
    labels = _d(meta.get("labels"))
    common = dict(
        node=node,
        host_ip=host_ip,
        resource_version=_int_or_none(meta.get("resourceVersion")),
        name=_s(meta.get("name")),
        island_id=_int_or_none(labels.get(ID_LABEL)),
        deleted=deleted,
        uid=_s(meta.get("uid")),
    )
    server = _find_status(_l(status.get("containerStatuses")), server_container) or {}
    ready = server.get("ready") is True
    state = _d(server.get("state"))
    running, waiting, terminated = (_d(state.get(k)) if k in state else None for k in ("running", "waiting", "terminated"))

    common["started_at"] = _s((running or terminated or {}).get("startedAt"))

    def view(kind: str, reason: str = "", message: str = "", is_ready: bool = False) -> PodView:
        return PodView(kind, reason, message, ready=is_ready, **common)

    if meta.get("deletionTimestamp"):
        grace = meta.get("deletionGracePeriodSeconds")
        when = _s(meta.get("deletionTimestamp"))
        text = f"deletion requested; containers stop by {when}" if when else "deletion requested"
        if isinstance(grace, int) and not isinstance(grace, bool):
            text += f" (grace {grace} s)"
        return view("terminating", "Terminating", text, ready)

    phase = _s(status.get("phase"))
    if phase in ("Failed", "Succeeded") or terminated is not None:
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
        return view("failed", reason, message)

    if waiting is not None:
        reason = _s(waiting.get("reason"))
        if _is_waiting_error(reason):
            return view("failed", reason, _s(waiting.get("message")))
    for init in _l(status.get("initContainerStatuses")):
        init_waiting = _d(_d(_d(init).get("state")).get("waiting"))
        init_reason = _s(init_waiting.get("reason"))
        if init_reason and _is_waiting_error(init_reason):
            return view("failed", init_reason, _s(init_waiting.get("message")))

    if running is not None:
        if ready:
            return view("ready", "", "", True)
        return view("starting", "NotReady", "server container running, readiness probe not yet passed")

    conditions = _l(status.get("conditions"))
    scheduled = _d(_condition(conditions, "PodScheduled"))
    if node or scheduled.get("status") == "True":
        reason = _s((waiting or {}).get("reason")) or "ContainerCreating"
        return view("creating", reason, _s((waiting or {}).get("message")))
    if scheduled.get("status") == "False":
        reason = _s(scheduled.get("reason"))
        kind = "unschedulable" if reason == "Unschedulable" else "pending"
        return view(kind, reason, _s(scheduled.get("message")))
    return view("pending", _s(status.get("reason")), _s(status.get("message")))
