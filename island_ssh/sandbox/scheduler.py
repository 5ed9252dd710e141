"""The scheduler: a pure decision function and the loop that applies it.

``schedule_pod`` mirrors kube-scheduler's default filters that matter here, run in its plugin order
(NodeAffinity -> NodePorts -> NodeResourcesFit; the first failure is a node's reason), then picks
the feasible node with the lowest memory allocation after placement (spread), ties by name. A
failure is worded exactly as FitError.Error() plus DefaultPreemption's PostFilter message: every
pod here has priority 0, so resource/port failures find "No preemption victims" and selector
mismatches are "Preemption is not helpful".
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

from ..quantity import QuantityError, parse_quantity
from .objects import json_copy

log = logging.getLogger(__name__)

REASON_SELECTOR = "node(s) didn't match Pod's node affinity/selector"
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_MEMORY = "Insufficient memory"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Decision:
    node: str | None
    message: str = ""


def memory_request(pod: dict[str, Any]) -> int:
    total = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        value = ((c.get("resources") or {}).get("requests") or {}).get("memory")
        if value is not None:
            try:
                total += parse_quantity(value)
            except QuantityError:
                pass
    return total


def host_ports(pod: dict[str, Any]) -> set[tuple[str, str, int]]:
    """(protocol, hostIP, hostPort) the pod claims on its node."""
    out = set()
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.add((p.get("protocol", "TCP"), p.get("hostIP") or "0.0.0.0", int(p["hostPort"])))
    return out


def _ports_clash(wanted: set[tuple[str, str, int]], taken: set[tuple[str, str, int]]) -> bool:
    for proto, ip, port in wanted:
        for tproto, tip, tport in taken:
            if proto == tproto and port == tport and (ip == tip or "0.0.0.0" in (ip, tip)):
                return True
    return False


def node_memory(node: dict[str, Any]) -> int:
    return parse_quantity(((node.get("status") or {}).get("allocatable") or {}).get("memory", "0"))


def occupying(pod: dict[str, Any]) -> bool:
    """Bound pods hold memory and host ports until they are terminal (or gone)."""
    return bool((pod.get("spec") or {}).get("nodeName")) and \
        (pod.get("status") or {}).get("phase") not in TERMINAL


def _fit_message(total: int, reasons: Iterable[str], prefilter: str = "") -> str:
    message = f"0/{total} nodes are available:"
    if prefilter:
        message += f" {prefilter}."
    else:
        histogram = sorted(f"{n} {reason}" for reason, n in Counter(reasons).items())
        if histogram:
            message += f" {', '.join(histogram)}."
    return message


def unschedulable_message(total: int, reasons: dict[str, str], prefilter: str = "") -> str:
    """FitError.Error() with DefaultPreemption's 'preemption: ...' appended (its own FitError)."""
    filter_part = _fit_message(total, reasons.values(), prefilter)
    if prefilter:
        post = [NO_VICTIMS] * total
    else:
        post = [NO_VICTIMS if r in (REASON_MEMORY, REASON_PORTS) else NOT_HELPFUL for r in reasons.values()]
        post += [NOT_HELPFUL] * (total - len(post))
    return f"{filter_part} preemption: {_fit_message(total, post)}."


def schedule_pod(pod: dict[str, Any], nodes: list[dict[str, Any]], pods: list[dict[str, Any]],
                 prefilter_problem: str | None = None) -> Decision:
    """Where ``pod`` goes given every node and every pod in the cluster (plain API objects)."""
    if not nodes:
        return Decision(None, "no nodes available to schedule pods")
    if prefilter_problem:
        return Decision(None, unschedulable_message(len(nodes), {}, prefilter_problem))
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    need_memory, need_ports = memory_request(pod), host_ports(pod)
    reasons: dict[str, str] = {}
    feasible: list[tuple[float, str]] = []
    for node in nodes:
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels") or {}
        residents = [p for p in pods if occupying(p) and p["spec"]["nodeName"] == name
                     and p["metadata"].get("uid") != pod["metadata"].get("uid")]
        if (node.get("spec") or {}).get("unschedulable"):
            reasons[name] = "node(s) were unschedulable"
            continue
        if any(labels.get(k) != v for k, v in selector.items()):
            reasons[name] = REASON_SELECTOR
            continue
        taken: set[tuple[str, str, int]] = set()
        for p in residents:
            taken |= host_ports(p)
        if _ports_clash(need_ports, taken):
            reasons[name] = REASON_PORTS
            continue
        allocatable = node_memory(node)
        used = sum(memory_request(p) for p in residents)
        if need_memory and used + need_memory > allocatable:
            reasons[name] = REASON_MEMORY
            continue
        feasible.append(((used + need_memory) / allocatable if allocatable else 1.0, name))
    if feasible:
        return Decision(min(feasible)[1])
    return Decision(None, unschedulable_message(len(nodes), reasons))


Binder = Callable[[dict[str, Any], Decision], Awaitable[None]]


class SchedulerLoop:
    """Re-runs scheduling whenever the cluster changes (``wake()``); pods in creation order."""

    def __init__(self, pending: Callable[[], list[dict[str, Any]]],
                 decide: Callable[[dict[str, Any]], Decision], apply: Binder) -> None:
        self._pending, self._decide, self._apply = pending, decide, apply
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler")
        self.wake()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def run_once(self) -> None:
        for pod in self._pending():
            try:
                await self._apply(json_copy(pod), self._decide(pod))
            except Exception:  # one bad pod must not stop scheduling of the others
                log.exception("scheduling %s failed", pod["metadata"].get("name"))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.run_once()
