"""The Prometheus metrics of island_ssh: one registry, every metric object, the helpers that feed them.

Each edge reports here with one line (``metrics.SSH_COMMAND_SECONDS.observe(...)``); nothing here
does I/O or reads anything but the clock and the environment. README "Metrics" lists every
metric; conf/grafana/island-ssh.json uses exactly these names (tests/observe checks both).

**Several processes** (gunicorn workers, and optionally the cron job): when the environment
variable ``PROMETHEUS_MULTIPROC_DIR`` names a directory *before this module is first imported*,
prometheus_client keeps every value in memory-mapped files there, one set per process, and the
scraping process adds them up (``prometheus_client.multiprocess.MultiProcessCollector``):
counters and histograms are summed over every process that ever wrote (dead ones included, until
the directory is emptied at deploy), the node gauges take the value written most recently by any
process (``mostrecent``). Without it, each process serves its own values.

Values computed at scrape time (the islands by state and branch, from ONE MySQL query) are not
kept here: ``island_ssh.service.metrics`` reads them through the service when /metrics is asked.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "island_ssh_"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, or None (one process serves its own values)."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


REGISTRY = CollectorRegistry(auto_describe=True)
"""Every metric below (single-process mode serves this registry)."""

_SECONDS_STATE = (1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400)

ISLANDS_GAUGE = PREFIX + "islands"
"""Computed at scrape time (service.metrics): islands by state and branch (labels state, branch)."""

LAUNCH_TO_READY_SECONDS = Histogram(
    PREFIX + "launch_to_ready_seconds", "Seconds from an island's allocation (launch or restart) to its first ready",
    ["branch"], buckets=(1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600), registry=REGISTRY)
STATE_SECONDS = Histogram(
    PREFIX + "state_seconds", "Seconds an island spent in a state, observed when it left that state",
    ["state"], buckets=_SECONDS_STATE, registry=REGISTRY)
SSH_COMMAND_SECONDS = Histogram(
    PREFIX + "ssh_command_seconds", "Round trip of one remote command over the persistent SSH shell "
    "(waiting for a channel included)", ["purpose"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
SSH_RECONNECTS = Counter(
    PREFIX + "ssh_reconnects", "SSH connections opened again after the previous one was lost or closed",
    registry=REGISTRY)
KUBECTL_FAILURES = Counter(
    PREFIX + "kubectl_failures", "kubectl calls that failed (non-zero exit, or the SSH connection failed under "
    "them), by kubectl verb", ["verb"], registry=REGISTRY)
TRACKER_LAG_SECONDS = Histogram(
    PREFIX + "tracker_lag_seconds", "From the pod's newest change time in the API server (its timestamps, whole "
    "seconds) to the transition stored in MySQL", buckets=(0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300),
    registry=REGISTRY)
TRACKER_WATCH_RESTARTS = Counter(
    PREFIX + "tracker_watch_restarts", "Times the tracker started `kubectl get pods -w` again after a watch ended",
    registry=REGISTRY)
TRACKER_RELISTS = Counter(
    PREFIX + "tracker_relists", "Pod re-lists the tracker made (at each watch start and every relist_interval)",
    registry=REGISTRY)
TRACKER_RELIST_REPAIRS = Counter(
    PREFIX + "tracker_relist_repairs", "Transitions a re-list stored that the watch had not (what the gap hid), "
    "by the state reached", ["to_state"], registry=REGISTRY)
APPLY_BATCH_ISLANDS = Histogram(
    PREFIX + "apply_batch_islands", "Islands applied by one `kubectl apply` (group commit of launches)",
    buckets=(1, 2, 3, 5, 10, 20, 50, 100, 200, 500), registry=REGISTRY)
REGISTRATIONS = Counter(
    PREFIX + "registrations", "Registration calls of the islands' containers, by result "
    "(ok, refused, invalid, error)", ["result"], registry=REGISTRY)
RECOVER_ACTIONS = Counter(
    PREFIX + "recover_actions", "Actions of recover runs (not dry runs), by kind and outcome", ["kind", "status"],
    registry=REGISTRY)
NODE_MEMORY_REQUESTED = Gauge(
    PREFIX + "node_memory_requested_bytes", "Memory requested by the node's running pods (every pod, not only "
    "islands), from the last capacity listing", ["node"], multiprocess_mode="mostrecent", registry=REGISTRY)
NODE_MEMORY_ALLOCATABLE = Gauge(
    PREFIX + "node_memory_allocatable_bytes", "The node's allocatable memory, from the last capacity listing",
    ["node"], multiprocess_mode="mostrecent", registry=REGISTRY)

REGISTRATION_RESULTS = ("ok", "refused", "invalid", "error")


def family_names() -> set[str]:
    """Every metric family /metrics can show (the scrape-time gauge included), without suffixes."""
    names = {ISLANDS_GAUGE}
    for metric in REGISTRY.collect():
        names.add(metric.name)
    return names


# -- helpers for the edges: each a line at the call site ------------------------------------------
def _seconds_between(later: datetime, earlier: datetime | None) -> float | None:
    if earlier is None or later is None:
        return None
    return max((later - earlier).total_seconds(), 0.0)


def transition_stored(row: dict, to_state: str, now: datetime) -> None:
    """One island moved from ``row['state']`` to ``to_state`` at ``now`` (the database's clock,
    like the row's timestamps): time in the state left, and launch-to-ready on its first ready."""
    from_state = row.get("state")
    if from_state == to_state:
        return
    spent = _seconds_between(now, row.get("state_since"))
    if from_state and spent is not None:
        STATE_SECONDS.labels(from_state).observe(spent)
    if to_state == "ready" and row.get("ready_at") is None:
        waited = _seconds_between(now, row.get("created_at"))
        if waited is not None:
            LAUNCH_TO_READY_SECONDS.labels(row.get("branch") or "").observe(waited)


def kubectl_failed(args: Iterable[str]) -> None:
    """A kubectl call with these arguments failed; its verb is the first one."""
    verb = next(iter(args), "") or "unknown"
    KUBECTL_FAILURES.labels(verb).inc()


def recover_ran(outcomes: Iterable[tuple[str, str]]) -> None:
    """(kind, status) of each action of a recover run that was not a dry run."""
    for kind, status in outcomes:
        RECOVER_ACTIONS.labels(kind, status).inc()


def relisted(repaired_states: Iterable[str]) -> None:
    """One re-list, and the states its stored transitions reached."""
    TRACKER_RELISTS.inc()
    for state in repaired_states:
        TRACKER_RELIST_REPAIRS.labels(state).inc()


def node_memory(nodes: dict[str, tuple[int, int]]) -> None:
    """node -> (requested bytes, allocatable bytes), from one capacity listing."""
    for node, (requested, allocatable) in nodes.items():
        NODE_MEMORY_REQUESTED.labels(node).set(requested)
        NODE_MEMORY_ALLOCATABLE.labels(node).set(allocatable)


_POD_TIME_FIELDS = ("lastTransitionTime", "startedAt", "finishedAt")


def pod_changed_at(pod: dict) -> float | None:
    """The newest timestamp the API server wrote into the pod (creation, conditions, container
    starts and ends), as epoch seconds; None when it carries none. Kubernetes writes whole seconds."""
    stamps = [(pod.get("metadata") or {}).get("creationTimestamp")]
    status = pod.get("status") or {}
    stamps += [c.get(f) for c in status.get("conditions") or [] if isinstance(c, dict) for f in _POD_TIME_FIELDS]
    for cs in status.get("containerStatuses") or []:
        for st in ((cs or {}).get("state") or {}).values():
            if isinstance(st, dict):
                stamps += [st.get(f) for f in _POD_TIME_FIELDS]
    newest = None
    for text in stamps:
        if not isinstance(text, str):
            continue
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        newest = at.timestamp() if newest is None else max(newest, at.timestamp())
    return newest


def tracker_stored(pods: Iterable[dict], now: float | None = None) -> None:
    """The tracker stored a transition caused by each of these pod events (not DELETED ones)."""
    now = time.time() if now is None else now
    for pod in pods:
        changed = pod_changed_at(pod)
        if changed is not None:
            TRACKER_LAG_SECONDS.observe(max(now - changed, 0.0))
