"""Server-side Table rendering (``Accept: ...;as=Table``): kubectl's default columns. Pure.

Cells follow the real printers in pkg/printers/internalversion/printers.go (pods' STATUS logic
included: Terminating, ContainerCreating, Error, OOMKilled, Completed, ...). Ages are relative to
``now`` (seconds since the epoch), passed in so the functions stay pure.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable

NAME_DOC = "Name must be unique within a namespace."
AGE_DOC = "CreationTimestamp is a timestamp representing the server time when this object was created."


def _col(name: str, priority: int = 0, fmt: str = "", description: str = "") -> dict[str, Any]:
    return {"name": name, "type": "string", "format": fmt, "description": description or name,
            "priority": priority}


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    if seconds < -1:
        return "<invalid>"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        return f"{hours // 24 // 365}y{(hours // 24) % 365}d"
    return f"{hours // 24 // 365}y"


def age(obj: dict[str, Any], now: float) -> str:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration(now - created)


# -- pods -------------------------------------------------------------------------------------
POD_COLUMNS = [
    _col("Name", fmt="name", description=NAME_DOC),
    _col("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", description="The aggregate status of the containers in this pod."),
    _col("Restarts", description="The number of times the containers in this pod have been restarted "
                                 "and when the last container in this pod has restarted."),
    _col("Age", description=AGE_DOC),
    _col("IP", 1, description="IP address allocated to the pod. Routable at least within the cluster. "
                              "Empty if not yet allocated."),
    _col("Node", 1, description="NodeName is a request to schedule this pod onto a specific node."),
    _col("Nominated Node", 1, description="nominatedNodeName is set when this pod preempts other pods "
                                          "on the node."),
    _col("Readiness Gates", 1, description="If specified, all readiness gates will be evaluated for pod "
                                           "readiness."),
]


def pod_status_text(pod: dict[str, Any]) -> tuple[str, int, int, int]:
    """(STATUS, ready containers, total containers, restarts) as printPod computes them."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    restarts = ready = 0
    has_running = False
    for cs in reversed(status.get("containerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting is not None and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated is not None and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated is not None:
            signal = terminated.get("signal") or 0
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif cs.get("ready") and state.get("running") is not None:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        ready_cond = any(c.get("type") == "Ready" and c.get("status") == "True"
                         for c in status.get("conditions") or [])
        reason = "Running" if ready_cond else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, len(spec.get("containers") or []), restarts


def pod_row(pod: dict[str, Any], now: float) -> list[Any]:
    reason, ready, total, restarts = pod_status_text(pod)
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    return [pod["metadata"]["name"], f"{ready}/{total}", reason, str(restarts), age(pod, now),
            ips[0]["ip"] if ips else "<none>", (pod.get("spec") or {}).get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", "<none>"]


# -- nodes ------------------------------------------------------------------------------------
NODE_COLUMNS = [
    _col("Name", fmt="name", description=NAME_DOC),
    _col("Status", description="The status of the node"),
    _col("Roles", description="The roles of the node"),
    _col("Age", description=AGE_DOC),
    _col("Version", description="Kubelet Version reported by the node."),
    _col("Internal-IP", 1, description="List of addresses reachable to the node."),
    _col("External-IP", 1, description="List of addresses reachable to the node."),
    _col("OS-Image", 1, description="OS Image reported by the node from /etc/os-release."),
    _col("Kernel-Version", 1, description="Kernel Version reported by the node."),
    _col("Container-Runtime", 1, description="Container Runtime Version reported by the node."),
]


def node_row(node: dict[str, Any], now: float) -> list[Any]:
    status = node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    text = "Ready" if ready and ready.get("status") == "True" else "NotReady" if ready else "Unknown"
    if (node.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (node["metadata"].get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    addresses = {a["type"]: a["address"] for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [node["metadata"]["name"], text, ",".join(roles) or "<none>", age(node, now),
            info.get("kubeletVersion", ""), addresses.get("InternalIP", "<none>"),
            addresses.get("ExternalIP", "<none>"), info.get("osImage", "<unknown>"),
            info.get("kernelVersion", "<unknown>"), info.get("containerRuntimeVersion", "<unknown>")]


# -- volumes ----------------------------------------------------------------------------------
_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}


def _modes(modes: list[str] | None) -> str:
    return ",".join(_MODES.get(m, m) for m in modes or [])


PV_COLUMNS = [_col("Name", fmt="name", description=NAME_DOC), _col("Capacity"), _col("Access Modes"),
              _col("Reclaim Policy"), _col("Status"), _col("Claim"), _col("StorageClass"),
              _col("VolumeAttributesClass"), _col("Reason"), _col("Age", description=AGE_DOC),
              _col("VolumeMode", 1)]


def pv_row(pv: dict[str, Any], now: float) -> list[Any]:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    ref = spec.get("claimRef")
    claim = f"{ref.get('namespace')}/{ref.get('name')}" if ref else ""
    return [pv["metadata"]["name"], (spec.get("capacity") or {}).get("storage", ""),
            _modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy", ""),
            status.get("phase", ""), claim, spec.get("storageClassName", ""),
            spec.get("volumeAttributesClassName") or "<unset>", status.get("reason", ""), age(pv, now),
            spec.get("volumeMode", "Filesystem")]


PVC_COLUMNS = [_col("Name", fmt="name", description=NAME_DOC), _col("Status"), _col("Volume"),
               _col("Capacity"), _col("Access Modes"), _col("StorageClass"),
               _col("VolumeAttributesClass"), _col("Age", description=AGE_DOC), _col("VolumeMode", 1)]


def pvc_row(pvc: dict[str, Any], now: float) -> list[Any]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    bound = status.get("phase") == "Bound"
    return [pvc["metadata"]["name"], status.get("phase", ""), spec.get("volumeName", ""),
            (status.get("capacity") or {}).get("storage", "") if bound else "",
            _modes(status.get("accessModes")) if bound else "", spec.get("storageClassName", ""),
            spec.get("volumeAttributesClassName") or "<unset>", age(pvc, now),
            spec.get("volumeMode", "Filesystem")]


NAMESPACE_COLUMNS = [_col("Name", fmt="name", description=NAME_DOC), _col("Status"),
                     _col("Age", description=AGE_DOC)]


def namespace_row(ns: dict[str, Any], now: float) -> list[Any]:
    return [ns["metadata"]["name"], (ns.get("status") or {}).get("phase", "Active"), age(ns, now)]


EVENT_COLUMNS = [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Subobject", 1),
                 _col("Source", 1), _col("Message"), _col("First Seen", 1), _col("Count", 1),
                 _col("Name", 1, fmt="name", description=NAME_DOC)]


def event_row(event: dict[str, Any], now: float) -> list[Any]:
    def since(field: str) -> str:
        t = parse_time(event.get(field))
        return "<unknown>" if t is None else human_duration(now - t)
    obj = event.get("involvedObject") or {}
    return [since("lastTimestamp"), event.get("type", ""), event.get("reason", ""),
            f"{obj.get('kind', '').lower()}/{obj.get('name', '')}", obj.get("fieldPath", ""),
            (event.get("source") or {}).get("component", ""), event.get("message", ""),
            since("firstTimestamp"), event.get("count", 1), event["metadata"]["name"]]


SECRET_COLUMNS = [_col("Name", fmt="name", description=NAME_DOC),
                  _col("Type", description="Used to facilitate programmatic handling of secret data."),
                  _col("Data", description="Data contains the secret data."), _col("Age", description=AGE_DOC)]


def secret_row(secret: dict[str, Any], now: float) -> list[Any]:
    # printers.go printSecret: the number of keys, never a value
    return [secret["metadata"]["name"], secret.get("type", "Opaque"), len(secret.get("data") or {}), age(secret, now)]


DEFAULT_COLUMNS = [_col("Name", fmt="name", description=NAME_DOC), _col("Age", description=AGE_DOC)]


def default_row(obj: dict[str, Any], now: float) -> list[Any]:
    return [obj["metadata"]["name"], age(obj, now)]


PRINTERS: dict[str, tuple[list[dict[str, Any]], Callable[[dict[str, Any], float], list[Any]]]] = {
    "pods": (POD_COLUMNS, pod_row),
    "nodes": (NODE_COLUMNS, node_row),
    "persistentvolumes": (PV_COLUMNS, pv_row),
    "persistentvolumeclaims": (PVC_COLUMNS, pvc_row),
    "namespaces": (NAMESPACE_COLUMNS, namespace_row),
    "events": (EVENT_COLUMNS, event_row),
    "secrets": (SECRET_COLUMNS, secret_row),
}


def _row_conditions(resource: str, obj: dict[str, Any]) -> list[dict[str, Any]] | None:
    if resource != "pods":
        return None
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]
    return None


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def render_table(resource: str, objects: list[dict[str, Any]], now: float, resource_version: str,
                 include_object: str = "Metadata", with_headers: bool = True) -> dict[str, Any]:
    columns, row_of = PRINTERS.get(resource, (DEFAULT_COLUMNS, default_row))
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": row_of(obj, now), "object": _row_object(obj, include_object)}
        conditions = _row_conditions(resource, obj)
        if conditions:
            row["conditions"] = conditions
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns if with_headers else [], "rows": rows}
