"""service/usage.py without a cluster: one poll shared by concurrent readers and kept for the
interval, and every failure of the poll a "not available" state with its reason, never an error.
(The same on the sandbox's real metrics API: test_usage_sandbox.py.)"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from island_ssh.core.errors import ConfigError, ConnectionLost, Forbidden, KubectlError
from island_ssh.service.usage import UsageService

MI = 2**20


@dataclass
class Row:
    island_id: int
    state: str = "ready"
    reason: str = ""
    overrides: dict = field(default_factory=dict)

    @property
    def pod_name(self) -> str:
        return f"altraserver-x-dev-{self.island_id}"


def metrics_doc(rows, memory_mi: int = 100) -> dict:
    return {"kind": "PodMetricsList", "items": [
        {"metadata": {"name": r.pod_name}, "timestamp": "2026-12-03T12:00:00Z", "window": "15s",
         "containers": [{"name": "altraserver", "usage": {"cpu": "5m", "memory": f"{memory_mi}Mi"}}]} for r in rows]}


class FakeKubectl:
    def __init__(self, answer):
        self.answer, self.calls = answer, 0
        self.gate = threading.Event()
        self.gate.set()

    def top_pods(self, namespace=None, selector=""):
        self.calls += 1
        self.gate.wait(5)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def service(rows, answer, **islands):
    settings = SimpleNamespace(islands=SimpleNamespace(**{"memory_limit": "256Mi", "memory_warning": 0.8,
                                                          "usage_cache_seconds": 60.0, **islands}))
    by_id = {r.island_id: r for r in rows}
    host = SimpleNamespace(settings=settings, kubectl=FakeKubectl(answer), list=lambda: list(rows),
                           get=lambda island_id: by_id[island_id])
    return UsageService(host), host.kubectl


def test_two_hundred_islands_many_readers_one_poll():
    rows = [Row(i) for i in range(1, 201)]
    usage, kubectl = service(rows, metrics_doc(rows))
    kubectl.gate.clear()  # the first poll is held in flight while the others arrive
    results = []
    threads = [threading.Thread(target=lambda: results.append(usage.usage_all())) for _ in range(16)]
    for t in threads:
        t.start()
    kubectl.gate.set()
    for t in threads:
        t.join(10)
    assert len(results) == 16 and kubectl.calls == 1
    assert all(usage.usage(r.island_id)["available"] for r in rows) and kubectl.calls == 1
    first = results[0]["islands"][0]
    assert first["text"] == "mem 100Mi / 256Mi (39%) · cpu 5m" and not first["warning"]


def test_the_warning_fraction_is_configurable_and_checked():
    rows = [Row(1)]
    usage, _ = service(rows, metrics_doc(rows, memory_mi=210), memory_warning=0.8)
    assert usage.usage(1)["warning"] and usage.usage_all()["warnings"] == [1]
    with pytest.raises(ConfigError, match="islands.memory_warning"):
        service(rows, metrics_doc(rows), memory_warning=1.5)


@pytest.mark.parametrize("answer, reason", [
    (None, "the cluster has no metrics API (install metrics-server"),
    (Forbidden("no"), "the master's Kubernetes user may not list pods.metrics.k8s.io"),
    (KubectlError("Error from server (ServiceUnavailable): the server is currently unable"),
     "the metrics API did not answer: Error from server (ServiceUnavailable)"),
    (ConnectionLost("the master went away"), "the metrics API did not answer: the master went away"),
    (ValueError("Expecting value: line 1"), "the metrics API did not answer: Expecting value"),
])
def test_every_failure_is_not_available_with_its_reason(answer, reason):
    rows = [Row(1), Row(2, state="pending")]
    usage, kubectl = service(rows, answer)
    one = usage.usage(1)
    assert one["available"] is False and one["reason"].startswith(reason), one["reason"]
    assert one["text"].startswith("usage not available: ")
    listing = usage.usage_all()
    assert listing["available"] is False and listing["reason"].startswith(reason)
    assert kubectl.calls == 1  # a failed poll is kept as briefly as a good one: the master is not asked per read


def test_a_server_that_is_not_running_costs_no_poll():
    rows = [Row(1, state="failed", reason="OOMKilled", overrides={"memory": "1Gi"}), Row(2, state="pending")]
    usage, kubectl = service(rows, metrics_doc([]))
    assert usage.usage(1)["oom_killed"]["text"] == "killed: out of memory at 1Gi"
    assert usage.usage_all()["islands"][1]["reason"] == "the server is not running (pending)"
    assert kubectl.calls == 0
