"""PersistentVolume <-> PersistentVolumeClaim binding and a pod's volumes as host paths. Pure.

Binding follows the PV controller's rules that matter here: same storageClassName, the PV offers
every access mode the claim asks for, and its capacity covers the request; the smallest fitting
Available volume wins (then by name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from island_ssh.core.quantity import QuantityError, parse_quantity


def _storage(obj: dict[str, Any], *path: str) -> int:
    node: Any = obj
    for part in path:
        node = (node or {}).get(part)
    try:
        return parse_quantity(node) if node is not None else 0
    except QuantityError:
        return 0


def pv_fits(pv: dict[str, Any], pvc: dict[str, Any]) -> bool:
    pv_spec, pvc_spec = pv.get("spec") or {}, pvc.get("spec") or {}
    if (pv.get("status") or {}).get("phase") not in ("Available", "Pending"):
        return False
    if pv_spec.get("claimRef"):
        ref = pv_spec["claimRef"]
        if (ref.get("namespace"), ref.get("name")) != (pvc["metadata"].get("namespace"), pvc["metadata"]["name"]):
            return False
    if pvc_spec.get("volumeName") and pvc_spec["volumeName"] != pv["metadata"]["name"]:
        return False
    if (pv_spec.get("storageClassName") or "") != (pvc_spec.get("storageClassName") or ""):
        return False
    if not set(pvc_spec.get("accessModes") or []) <= set(pv_spec.get("accessModes") or []):
        return False
    return _storage(pv_spec, "capacity", "storage") >= _storage(pvc_spec, "resources", "requests", "storage")


def choose_volume(pvc: dict[str, Any], pvs: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    fitting = [pv for pv in pvs if pv_fits(pv, pvc)]
    fitting.sort(key=lambda pv: (_storage(pv.get("spec") or {}, "capacity", "storage"), pv["metadata"]["name"]))
    return fitting[0] if fitting else None


def bind(pv: dict[str, Any], pvc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """New versions of both objects, bound to each other (callers pass copies)."""
    pv["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": pvc["metadata"].get("namespace"),
                              "name": pvc["metadata"]["name"], "uid": pvc["metadata"].get("uid"),
                              "apiVersion": "v1", "resourceVersion": pvc["metadata"].get("resourceVersion")}
    pv["status"] = {"phase": "Bound"}
    pvc["spec"]["volumeName"] = pv["metadata"]["name"]
    annotations = pvc["metadata"].setdefault("annotations", {})
    annotations["pv.kubernetes.io/bind-completed"] = "yes"
    annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
    pvc["status"] = {"phase": "Bound", "accessModes": list(pv["spec"].get("accessModes") or []),
                     "capacity": dict(pv["spec"].get("capacity") or {})}
    return pv, pvc


def claim_problem(pod: dict[str, Any], claims: dict[str, dict[str, Any]]) -> str | None:
    """The volume-binding PreFilter message, or None when every claim is bound."""
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        ref = volume.get("persistentVolumeClaim")
        if not ref:
            continue
        pvc = claims.get(ref.get("claimName", ""))
        if pvc is None:
            return f'persistentvolumeclaim "{ref.get("claimName", "")}" not found'
        if (pvc.get("status") or {}).get("phase") != "Bound":
            return "pod has unbound immediate PersistentVolumeClaims"
    return None


def host_paths(pod: dict[str, Any], claims: dict[str, dict[str, Any]],
               pvs: dict[str, dict[str, Any]]) -> dict[str, Path | None]:
    """volume name -> host directory for the kubelet (None: make a fresh one, as emptyDir)."""
    out: dict[str, Path | None] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume.get("name", "")
        if "hostPath" in volume:
            out[name] = Path(volume["hostPath"]["path"])
        elif "persistentVolumeClaim" in volume:
            pvc = claims.get(volume["persistentVolumeClaim"].get("claimName", "")) or {}
            pv = pvs.get((pvc.get("spec") or {}).get("volumeName", "")) or {}
            path = ((pv.get("spec") or {}).get("hostPath") or {}).get("path")
            out[name] = Path(path) if path else None
        else:
            out[name] = None
    return out
