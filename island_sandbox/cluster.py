"""The control plane behind the API: pod deletion with grace, eviction, kubelet status merging,
volume binding and the glue between store, scheduler and kubelets (one per node).

Kubelets are anything with the interface in /tmp/sandbox_interface.md (``KubeletLike``); the
server wires the real ``island_sandbox.kubelet.Kubelet``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from island_sandbox import volumes
from island_sandbox.apierrors import bad_request, not_found
from island_sandbox.objects import Event, ObjectStore, json_copy, now_rfc3339
from island_sandbox.openapi import KUBELET_VERSION
from island_ssh.core.quantity import format_kibibytes
from island_sandbox.scheduler import Decision, SchedulerCache, SchedulerLoop, awaiting_node, schedule_on

log = logging.getLogger(__name__)
TERMINAL = ("Succeeded", "Failed")
MAX_EVENTS = 500
STOP_SLACK = 30.0  # seconds past the grace period we wait for a kubelet to report the pod stopped
# What a kubelet gives the containers of a force-deleted pod (DeleteOptions gracePeriodSeconds=0):
# since v1.31 the pod worker turns 0 into 1 (pod_workers.go calculateEffectiveGracePeriod, "we
# always supply a grace period of 1") and killContainer raises that to minimumGracePeriodInSeconds
# = 2 (kuberuntime_container.go): SIGTERM, then SIGKILL 2 s later, after the object is gone.
FORCED_STOP_GRACE = 2.0


class KubeletLike(Protocol):
    async def start_pod(self, pod: dict, volumes: dict[str, Path | None]) -> None: ...
    # ``uid`` names the incarnation: a pod re-created under the same name may start while the
    # old one still stops, and the two must never touch each other's processes or reports.
    async def stop_pod(self, namespace: str, name: str, grace_seconds: float, uid: str | None = None) -> None: ...
    async def evict_pod(self, namespace: str, name: str, message: str, uid: str | None = None) -> None: ...
    async def exec(self, namespace: str, name: str, container: str, argv: list[str],
                   stdin: bytes | None, timeout: float = 60.0, uid: str | None = None) -> tuple[int, bytes, bytes]: ...
    def logs(self, namespace: str, name: str, container: str, tail_lines: int | None = None,
             uid: str | None = None) -> bytes: ...
    async def shutdown(self) -> None: ...


class PodOnKubelet:
    """One pod incarnation on its kubelet, for exec and logs: the uid the API object named when
    the request came, so a request never reaches an old incarnation still stopping under that name."""

    def __init__(self, kubelet: KubeletLike, uid: str) -> None:
        self.kubelet, self.uid = kubelet, uid

    async def exec(self, namespace: str, name: str, container: str, argv: list[str],
                   stdin: bytes | None, timeout: float = 60.0) -> tuple[int, bytes, bytes]:
        return await self.kubelet.exec(namespace, name, container, argv, stdin, timeout, uid=self.uid)

    def logs(self, namespace: str, name: str, container: str, tail_lines: int | None = None) -> bytes:
        return self.kubelet.logs(namespace, name, container, tail_lines, uid=self.uid)


def node_object(name: str, ip: str, labels: dict[str, str], memory_bytes: int) -> dict[str, Any]:
    now = now_rfc3339()
    resources = {"cpu": "2", "memory": format_kibibytes(memory_bytes), "pods": "110",
                 "ephemeral-storage": "20Gi"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                              "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                                              "beta.kubernetes.io/arch": "amd64", **labels}},
        "spec": {},
        "status": {
            "capacity": dict(resources), "allocatable": dict(resources),
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                            "lastTransitionTime": now}],
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "osImage": "island sandbox",
                         "kernelVersion": "", "containerRuntimeVersion": "sandbox://1.0",
                         "operatingSystem": "linux", "architecture": "amd64", "machineID": name,
                         "systemUUID": name, "bootID": name},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    }


def _condition(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    cond: dict[str, Any] = {"type": kind, "status": status, "lastProbeTime": None,
                            "lastTransitionTime": now_rfc3339()}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _same_condition(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    return a is not None and all(a.get(k) == b.get(k) for k in ("status", "reason", "message"))


class Cluster:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.kubelets: dict[str, KubeletLike] = {}
        self.scheduler = SchedulerLoop(self._lookup_pod, self._decide, self._apply_decision)
        self.scheduler_cache = SchedulerCache()
        self._event_keys: deque[tuple[str, str]] = deque()  # the scheduler's Events, oldest first
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stops: set[asyncio.Task[Any]] = set()  # forced deletes' kubelet stops: awaited, never cancelled
        store.listeners.append(self._on_event)

    # -- set-up -------------------------------------------------------------------------------
    def add_namespace(self, name: str) -> None:
        if self.store.get("namespaces", "", name) is None:
            self.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": name,
                                                          "labels": {"kubernetes.io/metadata.name": name}},
                                             "spec": {"finalizers": ["kubernetes"]},
                                             "status": {"phase": "Active"}})

    def add_node(self, name: str, ip: str, labels: dict[str, str], memory_bytes: int,
                 kubelet: KubeletLike | None = None) -> None:
        self.store.create("nodes", node_object(name, ip, labels, memory_bytes))
        if kubelet is not None:
            self.kubelets[name] = kubelet

    def report_for(self, node: str):
        """The StatusReport callback handed to the kubelet of ``node``."""
        def report(namespace: str, name: str, status: dict[str, Any], uid: str | None = None) -> None:
            self.merge_kubelet_status(node, namespace, name, status, uid)
        return report

    def start(self) -> None:
        self.scheduler.start()

    async def shutdown(self, timeout: float = 20.0) -> None:
        await self.scheduler.stop()
        for task in list(self._tasks - self._stops):
            task.cancel()
        results = await asyncio.gather(*(asyncio.wait_for(k.shutdown(), timeout) for k in self.kubelets.values()),
                                       return_exceptions=True)
        for node, result in zip(self.kubelets, results):
            if isinstance(result, BaseException):
                log.error("kubelet %s did not shut down cleanly: %r", node, result)
        # the kubelets' shutdown killed what forced deletes were still stopping; see those stops end
        stops = list(self._stops)
        if stops:
            _, late = await asyncio.wait(stops, timeout=timeout)
            for task in late:
                log.error("stopping a force-deleted pod outlived the shutdown: %s", task.get_name())

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- reacting to changes ------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if event.resource in ("persistentvolumes", "persistentvolumeclaims") and event.type != "DELETED":
            asyncio.get_running_loop().call_soon(self.bind_volumes)
        if event.resource == "pods":
            self._track_pod(event)
        elif event.resource == "nodes":
            if event.type == "DELETED":
                self.scheduler_cache.remove_node(event.obj["metadata"]["name"])
            else:
                self.scheduler_cache.set_node(event.obj)
            self.scheduler.queue.move_all_to_active()
        elif event.resource == "persistentvolumeclaims":
            self.scheduler.queue.move_all_to_active()
        self.scheduler.wake()
        if event.resource == "pods" and event.type == "ADDED" and event.obj["spec"].get("nodeName"):
            self._spawn(self._start_on_kubelet(event.obj), f"start {event.obj['metadata']['name']}")

    def bind_volumes(self) -> None:
        pvs = list(self.store.items("persistentvolumes"))
        for pv in pvs:
            if (pv.get("status") or {}).get("phase") == "Pending":
                fresh = json_copy(pv)
                fresh["status"] = {"phase": "Bound" if (pv["spec"].get("claimRef")) else "Available"}
                self.store.replace("persistentvolumes", fresh)
        for pvc in list(self.store.items("persistentvolumeclaims")):
            if (pvc.get("status") or {}).get("phase") == "Bound":
                continue
            pv = volumes.choose_volume(pvc, self.store.items("persistentvolumes"))
            if pv is None:
                continue
            new_pv, new_pvc = volumes.bind(json_copy(pv), json_copy(pvc))
            self.store.replace("persistentvolumeclaims", new_pvc)
            self.store.replace("persistentvolumes", new_pv)

    # -- scheduling ---------------------------------------------------------------------------
    def _track_pod(self, event: Event) -> None:
        """Keep the scheduler's cache and queue current (kube-scheduler's pod event handlers)."""
        pod, meta = event.obj, event.obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        queue = self.scheduler.queue
        if event.type == "DELETED":
            queue.forget(key)
            if self.scheduler_cache.remove_pod(meta.get("uid") or ""):
                queue.move_all_to_active()
            return
        if self.scheduler_cache.set_pod(pod):
            queue.move_all_to_active()
        if not awaiting_node(pod):
            queue.forget(key)
        elif event.type == "ADDED":
            queue.add(key, event.rv)
        elif event.old is not None and event.old.get("spec") != pod.get("spec"):
            queue.add(key, int(event.old["metadata"].get("resourceVersion") or event.rv))  # changed: retry

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret as stored (a copy), for the kubelets' ``secretKeyRef``; None when absent."""
        found = self.store.get("secrets", namespace, name)
        return json_copy(found) if found is not None else None

    def _lookup_pod(self, key: tuple[str, str]) -> dict[str, Any] | None:
        return self.store.get("pods", *key)

    def _claims(self, namespace: str) -> dict[str, dict[str, Any]]:
        return {c["metadata"]["name"]: c for c in self.store.items("persistentvolumeclaims", namespace)}

    def _decide(self, pod: dict[str, Any]) -> Decision:
        problem = volumes.claim_problem(pod, self._claims(pod["metadata"].get("namespace", "")))
        return schedule_on(pod, self.scheduler_cache.infos(), problem)

    async def _apply_decision(self, pod: dict[str, Any], decision: Decision) -> None:
        ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        current = self.store.get("pods", ns, name)
        if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"] \
                or current["spec"].get("nodeName") or current["metadata"].get("deletionTimestamp"):
            return
        fresh = json_copy(current)
        conditions = [c for c in fresh["status"].get("conditions") or [] if c.get("type") != "PodScheduled"]
        old = next((c for c in fresh["status"].get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if decision.node is None:
            wanted = _condition("PodScheduled", "False", "Unschedulable", decision.message)
            if _same_condition(old, wanted):
                return
            fresh["status"]["conditions"] = conditions + [wanted]
            self.store.replace("pods", fresh)
            self.record_event(fresh, "Warning", "FailedScheduling", decision.message)
            return
        fresh["spec"]["nodeName"] = decision.node
        fresh["status"]["conditions"] = conditions + [_condition("PodScheduled", "True")]
        self.record_event(fresh, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {decision.node}")
        await self._start_on_kubelet(self.store.replace("pods", fresh))

    async def _start_on_kubelet(self, pod: dict[str, Any]) -> None:
        """Hand a bound pod to its node's kubelet (also pods created with spec.nodeName set)."""
        kubelet = self.kubelets.get(pod["spec"]["nodeName"])
        if kubelet is None:
            return  # a node without a kubelet (or no such node): the pod stays Pending, as on a real cluster
        ns = pod["metadata"].get("namespace", "")
        paths = volumes.host_paths(pod, self._claims(ns),
                                   {v["metadata"]["name"]: v for v in self.store.items("persistentvolumes")})
        await kubelet.start_pod(json_copy(pod), paths)

    def record_event(self, pod: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """A core/v1 Event from the scheduler, for `kubectl describe` (the newest MAX_EVENTS kept)."""
        meta = pod["metadata"]
        now = now_rfc3339()
        name = f"{meta['name']}.{uuid.uuid4().hex[:16]}"
        self.store.create("events", {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": meta.get("namespace", "")},
            "involvedObject": {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"],
                               "uid": meta.get("uid"), "apiVersion": "v1"},
            "reason": reason, "message": message, "type": kind, "count": 1,
            "source": {"component": "default-scheduler"}, "reportingComponent": "default-scheduler",
            "reportingInstance": "", "firstTimestamp": now, "lastTimestamp": now, "eventTime": None})
        self._event_keys.append((meta.get("namespace", ""), name))
        while len(self._event_keys) > MAX_EVENTS:
            old = self._event_keys.popleft()
            if self.store.get("events", *old) is not None:  # someone may have deleted it already
                self.store.remove("events", *old)

    # -- kubelet reports ----------------------------------------------------------------------
    def merge_kubelet_status(self, node: str, namespace: str, name: str, status: dict[str, Any],
                             uid: str | None = None) -> None:
        pod = self.store.get("pods", namespace, name)
        if pod is None or pod["spec"].get("nodeName") != node:
            return  # a report for a pod that is gone (or someone else's) changes nothing
        if uid is not None and pod["metadata"].get("uid") != uid:
            return  # an old incarnation still stopping: as the status manager, skip (deleted and re-created)
        old = pod.get("status") or {}
        merged = json_copy(status)
        scheduled = [c for c in old.get("conditions") or [] if c.get("type") == "PodScheduled"]
        merged["conditions"] = [c for c in merged.get("conditions") or [] if c.get("type") != "PodScheduled"] \
            + scheduled
        for kept in ("qosClass", "nominatedNodeName"):
            if kept in old and kept not in merged:
                merged[kept] = old[kept]
        if merged == old:
            return
        fresh = json_copy(pod)
        fresh["status"] = merged
        self.store.replace("pods", fresh)

    # -- deletion -----------------------------------------------------------------------------
    async def delete_pod(self, namespace: str, name: str, grace: int | None) -> dict[str, Any]:
        pod = self.store.require("pods", namespace, name)
        node = pod["spec"].get("nodeName")
        if grace is None:
            grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        if not node or pod["status"].get("phase") in TERMINAL:
            grace = 0  # unscheduled and finished pods go at once, as on a real API server
        grace = max(grace, 0)
        kubelet = self.kubelets.get(node) if node else None
        if grace == 0:
            # As a real API server: the object goes at once (DELETED now) and the kubelet stops the
            # containers afterwards; the stop is keyed by uid, so a pod re-created under this name
            # meanwhile is another incarnation and untouched.
            removed = self.store.remove("pods", namespace, name)
            if kubelet is not None:
                uid = pod["metadata"]["uid"]
                stop = self._spawn(self._stop(kubelet, namespace, name, FORCED_STOP_GRACE, uid),
                                   f"stop {namespace}/{name} {uid}")
                self._stops.add(stop)
                stop.add_done_callback(self._stops.discard)
            return removed
        existing = pod["metadata"].get("deletionGracePeriodSeconds")
        if existing is not None and existing <= grace:
            return pod  # already terminating at least this fast
        fresh = json_copy(pod)
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=grace)
        fresh["metadata"]["deletionTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        fresh["metadata"]["deletionGracePeriodSeconds"] = grace
        stored = self.store.replace("pods", fresh)
        self._spawn(self._finish_deletion(kubelet, namespace, name, stored["metadata"]["uid"], grace),
                    f"delete {namespace}/{name}")
        return stored

    async def _stop(self, kubelet: KubeletLike, namespace: str, name: str, grace: float, uid: str) -> None:
        try:
            async with asyncio.timeout(grace + STOP_SLACK):
                await kubelet.stop_pod(namespace, name, grace, uid=uid)
        except Exception:  # TimeoutError too; logged here, as nobody awaits a forced delete's stop
            log.exception("kubelet failed to stop %s/%s (uid %s); the object is removed anyway", namespace, name, uid)

    async def _finish_deletion(self, kubelet: KubeletLike | None, namespace: str, name: str, uid: str,
                               grace: float) -> None:
        if kubelet is not None:
            await self._stop(kubelet, namespace, name, grace, uid)
        current = self.store.get("pods", namespace, name)
        if current is not None and current["metadata"]["uid"] == uid:
            self.store.remove("pods", namespace, name)

    async def evict_pod(self, namespace: str, name: str) -> None:
        pod = self.store.require("pods", namespace, name)
        message = "Evicted through the eviction API (POST pods/NAME/eviction)."
        node = pod["spec"].get("nodeName")
        kubelet = self.kubelets.get(node) if node else None
        if kubelet is not None:
            await kubelet.evict_pod(namespace, name, message, uid=pod["metadata"]["uid"])
            return
        fresh = json_copy(pod)
        fresh["status"].update(phase="Failed", reason="Evicted", message=message)
        self.store.replace("pods", fresh)

    # -- exec and logs ------------------------------------------------------------------------
    def kubelet_for(self, namespace: str, name: str, container: str | None) -> tuple[PodOnKubelet, str]:
        pod = self.store.get("pods", namespace, name)
        if pod is None:
            raise not_found("pods", name)
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        if not container:
            if len(names) != 1:
                raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                  f"[{' '.join(names)}]")
            container = names[0]
        if container not in names:
            raise bad_request(f"container {container} is not valid for pod {name}")
        node = pod["spec"].get("nodeName")
        kubelet = self.kubelets.get(node) if node else None
        if kubelet is None:
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
                              if node else f"pod {name} does not have a host assigned")
        return PodOnKubelet(kubelet, pod["metadata"]["uid"]), container
