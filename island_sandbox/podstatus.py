"""The kubelet-owned part of ``pod.status``, computed from container records. Pure.

Follows the kubelet's own rules (pkg/kubelet/kubelet_pods.go getPhase, status/generate.go):
a pod with any container still waiting is Pending even if another one runs; Running once none
waits and one runs; Succeeded when all terminated with 0; Failed when all terminated and one did
not. Condition lastTransitionTime changes only when the condition's status changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

WAITING, RUNNING, TERMINATED = "waiting", "running", "terminated"


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as the API server stores times."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def exit_reason(exit_code: int, oom_killed: bool) -> str:
    if oom_killed:
        return "OOMKilled"
    return "Completed" if exit_code == 0 else "Error"


@dataclass
class ContainerRecord:
    """One container's observed state; the kubelet mutates it, ``container_status`` renders it."""

    name: str
    image: str
    image_id: str = ""
    container_id: str = ""
    state: str = WAITING
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: str = ""
    finished_at: str = ""
    exit_code: int = 0
    ready: bool = False

    def set_waiting(self, reason: str, message: str = "") -> None:
        self.state, self.reason, self.message, self.ready = WAITING, reason, message, False

    def set_running(self, container_id: str, at: str) -> None:
        self.state, self.container_id, self.started_at = RUNNING, container_id, at
        self.reason, self.message = "", ""

    def set_terminated(self, exit_code: int, reason: str, at: str, message: str = "") -> None:
        self.state, self.exit_code, self.reason, self.message = TERMINATED, exit_code, reason, message
        self.finished_at, self.ready = at, False
        if not self.started_at:
            self.started_at = at


def container_status(rec: ContainerRecord) -> dict:
    if rec.state == RUNNING:
        state: dict = {"running": {"startedAt": rec.started_at}}
    elif rec.state == TERMINATED:
        body = {"exitCode": rec.exit_code, "reason": rec.reason, "startedAt": rec.started_at,
                "finishedAt": rec.finished_at}
        if rec.message:
            body["message"] = rec.message
        if rec.container_id:
            body["containerID"] = rec.container_id
        state = {"terminated": body}
    else:
        body = {"reason": rec.reason}
        if rec.message:
            body["message"] = rec.message
        state = {"waiting": body}
    status = {
        "name": rec.name,
        "state": state,
        "lastState": {},
        "ready": rec.ready and rec.state == RUNNING,
        "restartCount": 0,
        "image": rec.image,
        "imageID": rec.image_id,
        "started": rec.state == RUNNING,
    }
    if rec.container_id:
        status["containerID"] = rec.container_id
    return status


def pod_phase(records: Iterable[ContainerRecord], restart_policy: str = "Never", evicted: bool = False) -> str:
    if evicted:
        return "Failed"
    waiting = running = stopped = succeeded = 0
    for rec in records:
        if rec.state == RUNNING:
            running += 1
        elif rec.state == TERMINATED:
            stopped += 1
            succeeded += rec.exit_code == 0
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if restart_policy == "Always":
        return "Running"
    if succeeded == stopped:
        return "Succeeded"
    if restart_policy == "OnFailure":
        return "Running"
    return "Failed"


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str = ""
    message: str = ""


def desired_conditions(records: list[ContainerRecord], phase: str, sandbox_ready: bool,
                       eviction_message: str | None) -> list[Condition]:
    unready = [r.name for r in records if not (r.ready and r.state == RUNNING)]
    if phase == "Succeeded":
        ready = Condition("Ready", False, "PodCompleted")
        containers_ready = Condition("ContainersReady", False, "PodCompleted")
    elif unready:
        message = f"containers with unready status: [{' '.join(unready)}]"
        ready = Condition("Ready", False, "ContainersNotReady", message)
        containers_ready = Condition("ContainersReady", False, "ContainersNotReady", message)
    else:
        ready, containers_ready = Condition("Ready", True), Condition("ContainersReady", True)
    conditions = [
        Condition("PodReadyToStartContainers", sandbox_ready),
        Condition("Initialized", True),
        ready,
        containers_ready,
    ]
    if eviction_message is not None:
        conditions.append(Condition("DisruptionTarget", True, "TerminationByKubelet", eviction_message))
    return conditions


def stamp_conditions(desired: list[Condition], previous: dict[str, dict], now: str) -> list[dict]:
    """Render conditions, keeping a condition's lastTransitionTime while its status holds."""
    rendered = []
    for cond in desired:
        status = "True" if cond.status else "False"
        before = previous.get(cond.type)
        since = before["lastTransitionTime"] if before and before["status"] == status else now
        item = {"type": cond.type, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
        if cond.reason:
            item["reason"] = cond.reason
        if cond.message:
            item["message"] = cond.message
        rendered.append(item)
    return rendered


@dataclass
class PodRecordView:
    """Everything ``pod_status`` needs about one pod."""

    records: list[ContainerRecord]
    host_ip: str
    start_time: str
    restart_policy: str = "Never"
    sandbox_ready: bool = False
    eviction_message: str | None = None
    previous_conditions: dict[str, dict] = field(default_factory=dict)


def pod_status(view: PodRecordView, now: str) -> dict:
    """A complete kubelet-owned status (not a diff)."""
    evicted = view.eviction_message is not None
    phase = pod_phase(view.records, view.restart_policy, evicted)
    conditions = stamp_conditions(
        desired_conditions(view.records, phase, view.sandbox_ready, view.eviction_message),
        view.previous_conditions, now)
    status = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "podIP": view.host_ip,
        "podIPs": [{"ip": view.host_ip}],
        "startTime": view.start_time,
        "containerStatuses": [container_status(r) for r in view.records],
    }
    if evicted:
        status["reason"] = "Evicted"
        status["message"] = view.eviction_message
    return status
