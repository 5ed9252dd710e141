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
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable

from island_ssh.core.quantity import QuantityError, parse_quantity
from island_sandbox.objects import json_copy

log = logging.getLogger(__name__)

REASON_SELECTOR = "node(s) didn't match Pod's node affinity/selector"
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_MEMORY = "Insufficient memory"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
TERMINAL = ("Succeeded", "Failed")
ANY_IP = "0.0.0.0"


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
                out.add((p.get("protocol", "TCP"), p.get("hostIP") or ANY_IP, int(p["hostPort"])))
    return out


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


@dataclass
class NodeInfo:
    """What the scheduler knows of one node: its object, and the memory and host ports held by
    the non-terminal pods bound to it (kube-scheduler's framework.NodeInfo, cut to our filters)."""
    node: dict[str, Any]
    allocatable: int = 0
    requested: int = 0
    ports: Counter = field(default_factory=Counter)  # (protocol, hostIP, hostPort) -> pods holding it
    port_numbers: Counter = field(default_factory=Counter)  # (protocol, hostPort) -> pods holding it
    residents: dict[str, tuple[int, frozenset]] = field(default_factory=dict)  # uid -> (memory, ports)

    @property
    def name(self) -> str:
        return self.node["metadata"]["name"]

    def add(self, uid: str, memory: int, ports: frozenset) -> None:
        self.residents[uid] = (memory, ports)
        self.requested += memory
        self.ports.update(ports)
        self.port_numbers.update((proto, port) for proto, _, port in ports)

    def remove(self, uid: str) -> None:
        memory, ports = self.residents.pop(uid)
        self.requested -= memory
        self.ports.subtract(ports)
        self.port_numbers.subtract((proto, port) for proto, _, port in ports)
        for proto, ip, port in ports:
            if self.ports[(proto, ip, port)] <= 0:
                del self.ports[(proto, ip, port)]
            if self.port_numbers[(proto, port)] <= 0:
                del self.port_numbers[(proto, port)]

    def without(self, uid: str) -> "NodeInfo":
        """This node as if the pod ``uid`` were not on it."""
        other = NodeInfo(self.node, self.allocatable)
        for resident, (memory, ports) in self.residents.items():
            if resident != uid:
                other.add(resident, memory, ports)
        return other

    def ports_clash(self, wanted: set[tuple[str, str, int]]) -> bool:
        """Some wanted port is held with the same protocol and an overlapping host IP (equal, or
        either side 0.0.0.0): kube-scheduler's NodePorts filter."""
        for proto, ip, port in wanted:
            if ip == ANY_IP:
                if self.port_numbers[(proto, port)]:
                    return True
            elif self.ports[(proto, ip, port)] or self.ports[(proto, ANY_IP, port)]:
                return True
        return False


class SchedulerCache:
    """Node infos kept current from pod and node events, so one decision costs O(nodes), not
    O(nodes x pods) (kube-scheduler's internal cache). Pure: callers feed it the objects."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self._placed: dict[str, str] = {}  # pod uid -> node name, for the pods counted somewhere
        self._orphans: dict[str, tuple[str, int, frozenset]] = {}  # bound to a node not (yet) known

    @classmethod
    def of(cls, nodes: Iterable[dict[str, Any]], pods: Iterable[dict[str, Any]]) -> "SchedulerCache":
        cache = cls()
        for node in nodes:
            cache.set_node(node)
        for pod in pods:
            cache.set_pod(pod)
        return cache

    def set_node(self, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(node)
            for uid, (where, memory, ports) in list(self._orphans.items()):
                if where == name:
                    del self._orphans[uid]
                    info.add(uid, memory, ports)
                    self._placed[uid] = name
        info.node = node
        info.allocatable = node_memory(node)

    def remove_node(self, name: str) -> None:
        info = self.nodes.pop(name, None)
        if info is None:
            return
        for uid, (memory, ports) in info.residents.items():
            del self._placed[uid]
            self._orphans[uid] = (name, memory, ports)

    def set_pod(self, pod: dict[str, Any]) -> bool:
        """Count the pod where it is bound while it occupies its node; forget it otherwise. True
        when that released what it held (it finished), so pending pods may now fit."""
        uid = pod["metadata"].get("uid") or ""
        if not occupying(pod):
            return self.remove_pod(uid)
        node, memory, ports = pod["spec"]["nodeName"], memory_request(pod), frozenset(host_ports(pod))
        held = self._placed.get(uid)
        if held == node and self.nodes[node].residents[uid] == (memory, ports):
            return False  # a status change: nothing to recount
        released = self.remove_pod(uid)
        info = self.nodes.get(node)
        if info is None:
            self._orphans[uid] = (node, memory, ports)
            return released
        info.add(uid, memory, ports)
        self._placed[uid] = node
        return released

    def remove_pod(self, uid: str) -> bool:
        """Forget a pod; True when it held resources somewhere (so pending pods may now fit)."""
        self._orphans.pop(uid, None)
        node = self._placed.pop(uid, None)
        if node is None:
            return False
        self.nodes[node].remove(uid)
        return True

    def infos(self) -> list[NodeInfo]:
        return list(self.nodes.values())


def schedule_on(pod: dict[str, Any], infos: list[NodeInfo], prefilter_problem: str | None = None) -> Decision:
    """Where ``pod`` goes given the node infos (see ``SchedulerCache``)."""
    if not infos:
        return Decision(None, "no nodes available to schedule pods")
    if prefilter_problem:
        return Decision(None, unschedulable_message(len(infos), {}, prefilter_problem))
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    uid = pod["metadata"].get("uid")
    need_memory, need_ports = memory_request(pod), host_ports(pod)
    reasons: dict[str, str] = {}
    feasible: list[tuple[float, str]] = []
    for info in sorted(infos, key=lambda i: i.name):
        node, name = info.node, info.name
        labels = node["metadata"].get("labels") or {}
        if (node.get("spec") or {}).get("unschedulable"):
            reasons[name] = "node(s) were unschedulable"
            continue
        if any(labels.get(k) != v for k, v in selector.items()):
            reasons[name] = REASON_SELECTOR
            continue
        if uid in info.residents:  # the pod itself (already counted) does not compete with itself
            info = info.without(uid)
        used = info.requested
        if info.ports_clash(need_ports):
            reasons[name] = REASON_PORTS
            continue
        allocatable = info.allocatable
        if need_memory and used + need_memory > allocatable:
            reasons[name] = REASON_MEMORY
            continue
        feasible.append(((used + need_memory) / allocatable if allocatable else 1.0, name))
    if feasible:
        return Decision(min(feasible)[1])
    return Decision(None, unschedulable_message(len(infos), reasons))


def schedule_pod(pod: dict[str, Any], nodes: list[dict[str, Any]], pods: list[dict[str, Any]],
                 prefilter_problem: str | None = None) -> Decision:
    """Where ``pod`` goes given every node and every pod in the cluster (plain API objects)."""
    return schedule_on(pod, SchedulerCache.of(nodes, pods).infos(), prefilter_problem)


Binder = Callable[[dict[str, Any], Decision], Awaitable[None]]
Key = tuple[str, str]  # (namespace, name)
FLUSH_SECONDS = 60.0
"""Parked pods go back to the active queue at least this often, whatever happened (kube-scheduler
flushes its unschedulable pods after podMaxInUnschedulablePodsDuration, 5 minutes)."""


class SchedulingQueue:
    """kube-scheduler's queue, cut down: the active pods to try, oldest first, and the pods found
    unschedulable, parked until a cluster event may let them fit (``move_all_to_active``). Pure."""

    def __init__(self) -> None:
        self._active: dict[Key, int] = {}  # key -> order (the resourceVersion it was created at)
        self._parked: dict[Key, int] = {}

    def add(self, key: Key, order: int) -> None:
        self._parked.pop(key, None)
        self._active.setdefault(key, order)

    def park(self, key: Key, order: int) -> None:
        self._active.pop(key, None)
        self._parked[key] = order

    def forget(self, key: Key) -> None:
        self._active.pop(key, None)
        self._parked.pop(key, None)

    def move_all_to_active(self) -> None:
        self._active.update(self._parked)
        self._parked.clear()

    def pop_active(self) -> list[tuple[Key, int]]:
        """Every active pod, oldest first; the active queue is left empty."""
        batch = sorted(self._active.items(), key=lambda item: item[1])
        self._active.clear()
        return batch

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def parked(self) -> int:
        return len(self._parked)


class SchedulerLoop:
    """Schedules the active pods whenever some arrive (``wake()``), oldest first; a pod that does
    not fit is parked until ``queue.move_all_to_active()`` (a pod released its node, a node or a
    claim changed) or the periodic flush."""

    def __init__(self, lookup: Callable[[Key], dict[str, Any] | None],
                 decide: Callable[[dict[str, Any]], Decision], apply: Binder,
                 flush_seconds: float = FLUSH_SECONDS) -> None:
        self._lookup, self._decide, self._apply = lookup, decide, apply
        self.queue = SchedulingQueue()
        self.flush_seconds = flush_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        if self.queue.active:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler")
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def run_once(self) -> None:
        for key, order in self.queue.pop_active():
            pod = self._lookup(key)
            if pod is None or not awaiting_node(pod):
                continue
            try:
                decision = self._decide(pod)
                if decision.node is None:
                    self.queue.park(key, order)  # before the await: a release meanwhile re-activates it
                await self._apply(json_copy(pod), decision)
            except Exception:  # one bad pod must not stop scheduling of the others
                log.exception("scheduling %s failed", pod["metadata"].get("name"))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_flush = loop.time() + self.flush_seconds
        while True:
            try:
                async with asyncio.timeout(max(0.0, next_flush - loop.time())):
                    await self._wake.wait()
            except TimeoutError:
                pass
            if loop.time() >= next_flush:  # due even while other pods keep the loop busy
                self.queue.move_all_to_active()
                next_flush = loop.time() + self.flush_seconds
            self._wake.clear()
            await self.run_once()


def awaiting_node(pod: dict[str, Any]) -> bool:
    """Pending, not bound to a node, not being deleted: what the scheduler places."""
    return not pod["spec"].get("nodeName") and not pod["metadata"].get("deletionTimestamp") \
        and (pod.get("status") or {}).get("phase", "Pending") == "Pending"
