"""The resource metrics API (``metrics.k8s.io/v1beta1``) as metrics-server serves it, from real processes.

`kubectl top pod|node` and island_ssh's usage poll read it. metrics-server is an aggregated API:
discovery lists the group in ``/apis`` (legacy ``APIGroupList``), ``/apis/metrics.k8s.io`` is its
``APIGroup`` and ``/apis/metrics.k8s.io/v1beta1`` the ``APIResourceList`` (``nodes`` and ``pods``,
verbs get and list). Served here:

    GET /apis/metrics.k8s.io/v1beta1/nodes[/NAME]                       NodeMetricsList / NodeMetrics
    GET /apis/metrics.k8s.io/v1beta1/[namespaces/NS/]pods[/NAME]        PodMetricsList / PodMetrics

``labelSelector`` and ``fieldSelector`` (``metadata.name``, ``metadata.namespace``) on lists, as
metrics-server honours them. A pod is in the answer while at least one of its containers runs on a
kubelet that knows its host PIDs; a finished or pending pod is not (metrics-server: "podmetrics.
metrics.k8s.io "NS/NAME" not found").

Values, per container, from the kubelet's host PIDs of the container (its namespace's init and
descendants; the first host PID, the process the kubelet waits on, is left out: ``unshare`` on the
old path is the sandbox's, not the container's, and from the fork server it is the init again):
  * memory: VmRSS (``/proc/PID/status``) summed, as whole ``Ki`` ("53248Ki", the kubelet's
    working set in metrics-server's answers);
  * cpu: the rate of utime+stime+cutime+cstime (``/proc/PID/stat``, clock ticks) over the window
    since this container's previous sample at least ``MIN_WINDOW`` old (the first sample is the
    container's start, so a fresh container reports its average since start), in nano-cores
    ("12345678n"), as metrics-server's ``usage.cpu``.
``timestamp`` is the sample's time (RFC 3339, seconds), ``window`` its length ("1.503s").
Node metrics sum the pods running on the node (the sandbox's nodes run nothing else).

Differences from metrics-server: samples are taken when asked (metrics-server scrapes every 15 s
and answers from its cache), so values are current to the request; RSS counts shared pages each
time (a cgroup's working set counts them once); no ``metadata.creationTimestamp`` caching.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import aiohttp.web

from island_sandbox.apierrors import ApiError, bad_request
from island_sandbox.memory import process_tree, rss_bytes
from island_sandbox.selectors import Selector, SelectorError

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP}"
MIN_WINDOW = 1.0
"""Seconds: a cpu rate over less than this would be noise; an older sample is kept as its start."""
KEPT_WINDOW = 30.0
"""Seconds of samples kept per container (metrics-server's window is about 15-30 s)."""
KEPT_SAMPLES = 64
"""At most this many samples per container (a burst of requests must not grow it without bound)."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def api_group() -> dict[str, Any]:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [version], "preferredVersion": version}


def group_document() -> dict[str, Any]:
    return {"kind": "APIGroup", "apiVersion": "v1", **api_group()}


def resource_list() -> dict[str, Any]:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
    ]}


# -- reading processes -------------------------------------------------------------------------
def cpu_ticks(pid: int) -> int:
    """utime+stime+cutime+cstime of a process in clock ticks (0 when it is gone)."""
    try:
        text = open(f"/proc/{pid}/stat", encoding="ascii", errors="replace").read()
    except OSError:
        return 0
    fields = text.rpartition(")")[2].split()  # the command name may hold spaces and parentheses
    try:  # fields after ")": state=0 ... utime=11 stime=12 cutime=13 cstime=14
        return sum(int(fields[i]) for i in (11, 12, 13, 14))
    except (IndexError, ValueError):
        return 0


def process_start(pid: int) -> float | None:
    """When the process started, as a time.monotonic() reading (both count from boot)."""
    try:
        text = open(f"/proc/{pid}/stat", encoding="ascii", errors="replace").read()
        ticks = int(text.rpartition(")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return None
    return ticks / CLOCK_TICKS  # CLOCK_BOOTTIME, as /proc's starttime; monotonic only lags it by suspends


@dataclass
class Sample:
    at: float        # time.monotonic()
    wall: float      # time.time()
    ticks: int
    rss: int


def sample(pids: list[int]) -> Sample:
    return Sample(time.monotonic(), time.time(), sum(cpu_ticks(p) for p in pids), sum(rss_bytes(p) for p in pids))


def rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_text(seconds: float) -> str:
    """A metav1.Duration as Go prints it: '1.503s', '15s'."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


# -- the API -----------------------------------------------------------------------------------
class MetricsApi:
    """Serves the group for one cluster; keeps a short history of samples per container."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self._history: dict[tuple[str, str], list[Sample]] = {}

    # usage of one running container: (cpu nano-cores, memory bytes, timestamp, window)
    def _container_usage(self, key: tuple[str, str], pids: list[int]) -> tuple[int, int, Sample, float]:
        now = sample(pids)
        history = self._history.setdefault(key, [])
        if not history:  # the container's start, with nothing used yet, is its first sample
            started = process_start(pids[0]) if pids else None
            if started is not None and started < now.at:
                history.append(Sample(started, now.wall - (now.at - started), 0, 0))
        history[:] = ([s for s in history if now.at - s.at <= KEPT_WINDOW] or history[-1:])[-KEPT_SAMPLES:]
        base = next((s for s in reversed(history) if now.at - s.at >= MIN_WINDOW), history[0] if history else None)
        history.append(now)
        if base is None or now.at <= base.at:
            return 0, now.rss, now, 0.0
        window = now.at - base.at
        cpu = max(0, now.ticks - base.ticks) / CLOCK_TICKS / window
        return round(cpu * 1e9), now.rss, now, window

    def pod_metrics(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(pod object, PodMetrics) for every pod with a running container on a kubelet here."""
        out, seen = [], set()
        for pod in self.cluster.store.items("pods", None):
            meta, spec = pod["metadata"], pod.get("spec") or {}
            kubelet = self.cluster.kubelets.get(spec.get("nodeName") or "")
            if kubelet is None or not hasattr(kubelet, "host_pids") or meta.get("deletionTimestamp"):
                continue
            try:
                containers = kubelet.host_pids(meta["namespace"], meta["name"], meta.get("uid"))
            except (LookupError, ValueError, OSError):
                continue
            containers = {name: pids[1:] for name, pids in containers.items() if len(pids) > 1}
            if not containers:
                continue
            entries, latest, window = [], None, 0.0
            for name in [c["name"] for c in spec.get("containers") or [] if c["name"] in containers]:
                key = (meta.get("uid", ""), name)
                seen.add(key)
                cpu, memory, taken, span = self._container_usage(key, containers[name])
                entries.append({"name": name, "usage": {"cpu": f"{cpu}n", "memory": f"{memory // 1024}Ki"}})
                latest, window = taken, max(window, span)
            assert latest is not None
            out.append((pod, {
                "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                             "creationTimestamp": rfc3339(latest.wall), "labels": dict(meta.get("labels") or {})},
                "timestamp": rfc3339(latest.wall), "window": window_text(window), "containers": entries}))
        for gone in set(self._history) - seen:
            del self._history[gone]
        return out

    def node_metrics(self) -> list[dict[str, Any]]:
        totals: dict[str, list[int]] = {}
        for pod, metrics in self.pod_metrics():
            total = totals.setdefault(pod["spec"]["nodeName"], [0, 0])
            for c in metrics["containers"]:
                total[0] += int(c["usage"]["cpu"][:-1])
                total[1] += int(c["usage"]["memory"][:-2])
        now = time.time()
        out = []
        for node in self.cluster.store.items("nodes", None):
            name = node["metadata"]["name"]
            if name not in self.cluster.kubelets:
                continue  # metrics-server has nothing from a node without a kubelet
            cpu, memory = totals.get(name, [0, 0])
            out.append({"metadata": {"name": name, "creationTimestamp": rfc3339(now),
                                     "labels": dict(node["metadata"].get("labels") or {})},
                        "timestamp": rfc3339(now), "window": window_text(MIN_WINDOW),
                        "usage": {"cpu": f"{cpu}n", "memory": f"{memory}Ki"}})
        return out


def _json(body: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


def _not_found(what: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{what}.{GROUP} "{name}" not found',
                    {"name": name, "group": GROUP, "kind": what})


def _selector(raw: aiohttp.web.BaseRequest) -> Selector:
    try:
        return Selector.parse(raw.query.get("labelSelector"), raw.query.get("fieldSelector") or "")
    except SelectorError as e:
        raise bad_request(str(e)) from None


def route(path: str) -> tuple[str, str | None, str | None] | None:
    """(plural, namespace, name) of a metrics resource path; None for discovery and anything else."""
    parts = [p for p in path.split("/") if p][3:]  # after apis/metrics.k8s.io/v1beta1
    namespace = None
    if len(parts) >= 3 and parts[0] == "namespaces" and parts[2] == "pods":
        namespace, parts = parts[1], parts[2:]
    if not parts or parts[0] not in ("pods", "nodes") or len(parts) > 2 or (parts[0] == "nodes" and namespace):
        return None
    return parts[0], namespace, parts[1] if len(parts) == 2 else None


def serve(api: MetricsApi, raw: aiohttp.web.BaseRequest, authorizer: Any = None) -> aiohttp.web.Response:
    """Answer one request under /apis/metrics.k8s.io (errors as Status objects)."""
    path = raw.path.rstrip("/")
    try:
        if raw.method not in ("GET", "HEAD"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if path == PREFIX:
            return _json(group_document())
        if path == f"{PREFIX}/{VERSION}":
            return _json(resource_list())
        if not path.startswith(f"{PREFIX}/{VERSION}/"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        target = route(path)
        if target is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        plural, namespace, name = target
        if authorizer is not None:
            verb = "get" if name else "list"
            if not authorizer.allows(verb, plural, "", namespace, name or "", GROUP):
                raise _forbidden(authorizer.user, verb, plural, namespace, name)
        return _json(_answer(api, raw, plural, namespace, name))
    except ApiError as e:
        return _json(e.status(), e.code)


def _answer(api: MetricsApi, raw: aiohttp.web.BaseRequest, plural: str, namespace: str | None,
            name: str | None) -> dict[str, Any]:
    selector = _selector(raw)
    if plural == "nodes":
        items = [m for m in api.node_metrics() if selector.matches(m)]
        if name is None:
            return {"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
        found = next((m for m in items if m["metadata"]["name"] == name), None)
        if found is None:
            raise _not_found("nodemetrics", name)
        return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION, **found}
    items = [m for _, m in api.pod_metrics()
             if (namespace is None or m["metadata"]["namespace"] == namespace) and selector.matches(m)]
    if name is None:
        return {"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
    found = next((m for m in items if m["metadata"]["name"] == name), None)
    if found is None:
        raise _not_found("podmetrics", f"{namespace}/{name}" if namespace else name)
    return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION, **found}


def _forbidden(user: str, verb: str, plural: str, namespace: str | None, name: str | None) -> ApiError:
    what = f'{plural}.{GROUP} "{name}"' if name else f"{plural}.{GROUP}"
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    return ApiError(403, "Forbidden", f'{what} is forbidden: User "{user}" cannot {verb} resource "{plural}" '
                                      f'in API group "{GROUP}"{where}',
                    {"name": name, "group": GROUP, "kind": plural} if name else {"group": GROUP, "kind": plural})
