"""The metrics scrape through the service: ``scrape(service) -> (body bytes, content type)``.

What the edges counted lives in ``island_ssh.observe.metrics`` (this process's registry, or every
process's files in multiprocess mode); what is computed when /metrics is asked is added here:

- ``island_ssh_islands{state,branch}``: ONE ``GROUP BY`` query (store/counts.py), never a row
  read per island and never a kubectl call;
- ``island_ssh_store_up``: 1 when that query answered, 0 when MySQL did not (the rest of the scrape
  is still served, so a database outage shows as a value instead of a failed scrape).

``observe_capacity(nodes, pods)`` turns one capacity listing (the launch's check, shared for
``islands.capacity_cache_seconds``) into the node memory gauges: a scrape never lists nodes.
"""

from __future__ import annotations

import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from island_ssh.core.capacity import TERMINAL_PHASES, pod_memory_request
from island_ssh.core.errors import IslandError
from island_ssh.core.quantity import QuantityError, parse_quantity
from island_ssh.observe import metrics
from island_ssh.store.counts import islands_by_state_branch

log = logging.getLogger(__name__)

STORE_UP = metrics.PREFIX + "store_up"


class _ScrapeTime:
    """The values read at scrape time, as one collector of a per-scrape registry."""

    def __init__(self, counts: list[tuple[str, str, int]] | None) -> None:
        self.counts = counts

    def collect(self):
        up = GaugeMetricFamily(STORE_UP, "1 when the scrape's MySQL query answered, else 0")
        up.add_metric([], 0 if self.counts is None else 1)
        yield up
        islands = GaugeMetricFamily(metrics.ISLANDS_GAUGE, "Islands by state and branch (free id slots not "
                                    "counted), read from MySQL at scrape time", labels=["state", "branch"])
        for state, branch, n in self.counts or []:
            islands.add_metric([state, branch], n)
        yield islands


class _Forward:
    """This process's own registry inside the per-scrape one (single-process mode)."""

    def collect(self):
        return metrics.REGISTRY.collect()


def island_counts(service) -> list[tuple[str, str, int]] | None:
    """(state, branch, count) from one query; None when the database did not answer."""
    try:
        return islands_by_state_branch(service.store.db)
    except IslandError as exc:
        log.warning("metrics: counting islands failed: %s", exc)
        return None


def scrape(service) -> tuple[bytes, str]:
    """The Prometheus text exposition of every island_ssh metric, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ScrapeTime(island_counts(service)))
    directory = metrics.multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_Forward())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def family_names() -> set[str]:
    """Every family /metrics shows (the dashboard test compares the Grafana JSON with it)."""
    return metrics.family_names() | {STORE_UP}


def observe_capacity(nodes: list[dict], pods: list[dict]) -> tuple[list, list]:
    """Set the node memory gauges from one capacity listing; returns the listing unchanged."""
    try:
        requested: dict[str, int] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES:
                requested[node] = requested.get(node, 0) + pod_memory_request(pod)
        out = {}
        for node in nodes:
            name = (node.get("metadata") or {}).get("name")
            alloc = ((node.get("status") or {}).get("allocatable") or {}).get("memory")
            if name and alloc is not None:
                out[name] = (requested.get(name, 0), parse_quantity(alloc))
        metrics.node_memory(out)
    except (QuantityError, AttributeError, TypeError) as exc:  # a metric never fails the launch
        log.warning("metrics: node memory not updated: %s", exc)
    return nodes, pods


def count_registration(result: str) -> None:
    """One registration call of an island's container ended with ``result`` (ok, refused, invalid, error)."""
    metrics.REGISTRATIONS.labels(result if result in metrics.REGISTRATION_RESULTS else "error").inc()
