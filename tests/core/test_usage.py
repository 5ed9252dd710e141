"""core.usage: metrics-server's quantities and documents -> what the faces show (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from island_ssh.core.errors import ConfigError
from island_ssh.core.quantity import QuantityError
from island_ssh.core.usage import (ContainerUsage, PodUsage, Snapshot, check_warning_fraction, cpu_nanocores,
                                   format_cpu, format_usage_memory, island_usage, memory_limit_of,
                                   parse_pod_metrics, window_seconds)

MI = 2**20


@pytest.mark.parametrize("text, nanos", [
    ("12m", 12_000_000), ("123456n", 123_456), ("1", 10**9), ("0", 0), ("1.5", 1_500_000_000),
    ("250u", 250_000), ("0.1m", 100_000), ("2k", 2 * 10**12), ("1e-3", 1_000_000), ("1n", 1),
])
def test_cpu_quantities(text, nanos):
    assert cpu_nanocores(text) == nanos


@pytest.mark.parametrize("text", ["", "12Mi", "abc", "1.2.3m", "-5m", "12 m", "$(id)", "５m", "1e999999999"])
def test_bad_cpu_quantities_are_refused(text):
    with pytest.raises((QuantityError, ArithmeticError, ValueError)):
        cpu_nanocores(text)


def test_formatting_as_kubectl_top():
    assert format_cpu(12_345_678) == "12m" and format_cpu(999_999) == "0m"
    assert format_usage_memory(412 * MI + 5) == "412Mi" and format_usage_memory(5000) == "4Ki"


@pytest.mark.parametrize("text, seconds", [("15s", 15.0), ("1.503s", 1.503), ("1m0.5s", 60.5), ("250ms", 0.25),
                                           ("", None), ("15", None), ("s", None), ("1x", None), (None, None)])
def test_windows(text, seconds):
    assert window_seconds(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_parse_pod_metrics_as_metrics_server_writes_it():
    doc = {"kind": "PodMetricsList", "items": [
        {"metadata": {"name": "a"}, "timestamp": "2026-12-03T12:00:00Z", "window": "20.062s",
         "containers": [{"name": "altraserver", "usage": {"cpu": "3154263n", "memory": "53248Ki"}},
                        {"name": "side-container", "usage": {"cpu": "0", "memory": "1Mi"}}]},
        {"metadata": {"name": "b"}, "containers": [{"name": "altraserver", "usage": {"cpu": "12m", "memory": "bad"}}]},
        {"metadata": {}}, "junk", {"metadata": {"name": "c"}, "containers": "nope"},
    ]}
    pods = parse_pod_metrics(doc)
    assert pods["a"].containers["altraserver"] == ContainerUsage(3_154_263, 52 * MI)
    assert pods["a"].window_seconds == pytest.approx(20.062) and pods["a"].timestamp.endswith("Z")
    assert pods["b"].containers == {} and pods["c"].containers == {}
    assert parse_pod_metrics(None) == {} and parse_pod_metrics({"items": "x"}) == {}


def test_memory_limit_as_launched():
    assert memory_limit_of(None, "2048Mi") == 2048 * MI
    assert memory_limit_of({"memory": "3Gi"}, "2048Mi") == 3 * 2**30  # a bigger island's own limit
    assert memory_limit_of({"memory": "512Mi"}, "2048Mi") == 2048 * MI  # a smaller one keeps the default
    assert memory_limit_of({"memory": "garbage"}, "1Gi") == 2**30


@pytest.mark.parametrize("value", [0, -0.5, 1.5, "0.8", True, None, float("nan")])
def test_warning_fraction_must_be_a_fraction(value):
    with pytest.raises(ConfigError, match="islands.memory_warning"):
        check_warning_fraction(value)


@dataclass
class Row:
    island_id: int = 12
    state: str = "ready"
    reason: str = ""
    pod_name: str = "altraserver-x-dev-12"
    overrides: dict = field(default_factory=dict)


def snapshot(memory: int, cpu: int = 12_000_000) -> Snapshot:
    return Snapshot(True, {"altraserver-x-dev-12": PodUsage({"altraserver": ContainerUsage(cpu, memory)},
                                                           "2026-12-03T12:00:00Z", 15.0)})


def test_island_usage_against_its_limit_and_the_warning():
    u = island_usage(Row(), snapshot(412 * MI), "1Gi", 0.8)
    assert (u["available"], u["memory"], u["memory_limit"], u["memory_percent"], u["warning"]) == \
        (True, "412Mi", "1Gi", 40, False)
    assert u["text"] == "mem 412Mi / 1Gi (40%) · cpu 12m"
    hot = island_usage(Row(), snapshot(820 * MI), "1Gi", 0.8)
    assert hot["warning"] and hot["text"].endswith("over 80% of the limit")
    assert island_usage(Row(), snapshot(int(0.8 * 2**30) + 1), "1Gi", 0.8)["warning"]  # at the fraction counts


def test_not_available_is_a_state_with_a_reason():
    none = island_usage(Row(), Snapshot(False, reason="the cluster has no metrics API"), "1Gi", 0.8)
    assert not none["available"] and none["text"] == "usage not available: the cluster has no metrics API"
    fresh = island_usage(Row(), Snapshot(True), "1Gi", 0.8)
    assert not fresh["available"] and "no sample yet" in fresh["reason"]
    pending = island_usage(Row(state="pending"), snapshot(MI), "1Gi", 0.8)
    assert not pending["available"] and pending["reason"] == "the server is not running (pending)"


def test_oom_killed_is_linked_to_the_limit():
    u = island_usage(Row(state="failed", reason="OOMKilled", overrides={"memory": "3Gi"}), Snapshot(True), "1Gi", 0.8)
    assert u["oom_killed"] == {"reason": "OOMKilled", "limit": "3Gi", "text": "killed: out of memory at 3Gi"}
    assert u["text"].startswith("killed: out of memory at 3Gi · usage not available")
