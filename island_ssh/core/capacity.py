"""Will an island fit right now? The seed's closing wish: fail at once, in words, instead of
leaving a Pending pod. Pure: takes the node and pod lists kubectl returned."""

from __future__ import annotations

from dataclasses import dataclass

from island_ssh.core.quantity import QuantityError, format_memory, parse_quantity

TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True)
class NodeFree:
    name: str
    free_bytes: int


def pod_memory_request(pod: dict) -> int:
    total = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        req = ((c.get("resources") or {}).get("requests") or {}).get("memory")
        if req is not None:
            try:
                total += parse_quantity(req)
            except QuantityError:
                continue
    return total


def free_memory(nodes: list[dict], pods: list[dict], selector: dict[str, str]) -> list[NodeFree]:
    """Free allocatable memory of each node whose labels match selector, most free first."""
    used: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
            continue
        used[node] = used.get(node, 0) + pod_memory_request(pod)
    out = []
    for node in nodes:
        meta = node.get("metadata") or {}
        labels = meta.get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        alloc = ((node.get("status") or {}).get("allocatable") or {}).get("memory")
        if alloc is None:
            continue
        out.append(NodeFree(meta.get("name", "?"), parse_quantity(alloc) - used.get(meta.get("name"), 0)))
    return sorted(out, key=lambda n: (-n.free_bytes, n.name))


def capacity_problem(nodes: list[dict], pods: list[dict], branch: str, request: str) -> str | None:
    """None when some node of the branch fits the request now, else the reason in words."""
    need = parse_quantity(request)
    candidates = free_memory(nodes, pods, {"branch": branch})
    if not candidates:
        return f"no node has the label branch={branch}: ask an admin to label one, or choose another branch"
    best = candidates[0]
    if best.free_bytes >= need:
        return None
    return (f"no {branch} node has {request} free: largest free is "
            f"{format_memory(max(best.free_bytes, 0))} (on {best.name}); "
            f"ask for less memory, delete an island of yours, or try later")
