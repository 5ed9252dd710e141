"""island_ssh.observe.metrics without a cluster: the helpers' arithmetic, multiprocess mode with real
processes, the Grafana dashboard against the registry, and README naming every metric."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from island_ssh.observe import metrics
from island_ssh.service import metrics as service_metrics

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, labels: dict | None = None, registry=metrics.REGISTRY) -> float:
    return registry.get_sample_value(name, labels or {}) or 0.0


# -- helpers -----------------------------------------------------------------------------------------
def test_a_transition_observes_the_time_in_the_state_left_and_launch_to_ready_once():
    now = datetime(2026, 12, 3, 12, 0, 0)
    row = {"state": "starting", "state_since": now - timedelta(seconds=7), "ready_at": None,
           "created_at": now - timedelta(seconds=19), "branch": "metrics-dev"}
    before_state = sample("island_ssh_state_seconds_count", {"state": "starting"})
    before_sum = sample("island_ssh_state_seconds_sum", {"state": "starting"})
    metrics.transition_stored(row, "ready", now)
    assert sample("island_ssh_state_seconds_count", {"state": "starting"}) == before_state + 1
    assert sample("island_ssh_state_seconds_sum", {"state": "starting"}) == before_sum + 7
    assert sample("island_ssh_launch_to_ready_seconds_sum", {"branch": "metrics-dev"}) == 19
    # ready again later (after a restart of the container: ready_at is set): not a launch
    metrics.transition_stored({**row, "state": "starting", "ready_at": now}, "ready", now)
    assert sample("island_ssh_launch_to_ready_seconds_count", {"branch": "metrics-dev"}) == 1
    # a repeat of the state (a watch replay) leaves nothing
    before_ready = sample("island_ssh_state_seconds_count", {"state": "ready"})
    metrics.transition_stored({**row, "state": "ready"}, "ready", now)
    assert sample("island_ssh_state_seconds_count", {"state": "ready"}) == before_ready


def test_the_pod_change_time_is_its_newest_timestamp():
    pod = {"metadata": {"creationTimestamp": "2026-12-03T12:00:00Z"},
           "status": {"conditions": [{"type": "Ready", "lastTransitionTime": "2026-12-03T12:00:09Z"},
                                     {"type": "PodScheduled", "lastTransitionTime": "garbage"}],
                      "containerStatuses": [{"state": {"running": {"startedAt": "2026-12-03T12:00:05Z"}}},
                                            {"state": {"terminated": {"finishedAt": "2026-12-03T12:00:11Z"}}}]}}
    assert metrics.pod_changed_at(pod) == datetime.fromisoformat("2026-12-03T12:00:11+00:00").timestamp()
    assert metrics.pod_changed_at({"metadata": {}}) is None
    before = sample("island_ssh_tracker_lag_seconds_count")
    metrics.tracker_stored([pod], now=metrics.pod_changed_at(pod) + 0.75)
    assert sample("island_ssh_tracker_lag_seconds_count") == before + 1
    assert sample("island_ssh_tracker_lag_seconds_bucket", {"le": "1.0"}) >= 1


def test_node_memory_comes_from_the_capacity_listing():
    nodes = [{"metadata": {"name": "metrics-node-a"}, "status": {"allocatable": {"memory": "4Gi"}}},
             {"metadata": {"name": "metrics-node-b"}, "status": {"allocatable": {"memory": "2Gi"}}}]
    pod = lambda node, mem, phase="Running": {"spec": {"nodeName": node, "containers": [  # noqa: E731
        {"resources": {"requests": {"memory": mem}}}]}, "status": {"phase": phase}}
    listing = service_metrics.observe_capacity(nodes, [pod("metrics-node-a", "1Gi"), pod("metrics-node-a", "512Mi"),
                                                       pod("metrics-node-a", "1Gi", "Failed")])
    assert listing[0] is nodes
    assert sample("island_ssh_node_memory_requested_bytes", {"node": "metrics-node-a"}) == 1536 * 2 ** 20
    assert sample("island_ssh_node_memory_allocatable_bytes", {"node": "metrics-node-a"}) == 4 * 2 ** 30
    assert sample("island_ssh_node_memory_requested_bytes", {"node": "metrics-node-b"}) == 0
    # a node with an unreadable quantity never fails the launch that listed it
    bad = [{"metadata": {"name": "metrics-node-c"}, "status": {"allocatable": {"memory": "lots"}}}]
    assert service_metrics.observe_capacity(bad, [])[0] is bad


def test_kubectl_failures_are_counted_by_verb_and_recover_actions_by_kind():
    before = sample("island_ssh_kubectl_failures_total", {"verb": "apply"})
    metrics.kubectl_failed(["apply", "-f", "-"])
    assert sample("island_ssh_kubectl_failures_total", {"verb": "apply"}) == before + 1
    before = sample("island_ssh_recover_actions_total", {"kind": "lost", "status": "done"})
    metrics.recover_ran([("lost", "done"), ("lost", "done"), ("adopt", "failed")])
    assert sample("island_ssh_recover_actions_total", {"kind": "lost", "status": "done"}) == before + 2


# -- multiprocess mode: two real processes write, one scrape adds them up ------------------------------
WRITER = textwrap.dedent("""
    import sys
    from island_ssh.observe import metrics
    n = int(sys.argv[1])
    for _ in range(n):
        metrics.REGISTRATIONS.labels("ok").inc()
        metrics.SSH_COMMAND_SECONDS.labels("service").observe(0.002)
    metrics.NODE_MEMORY_ALLOCATABLE.labels("node-mp").set(n * 1000)
    print(metrics.multiprocess_dir(), type(metrics.REGISTRATIONS.labels("ok")._value).__name__)
""")

SCRAPER = textwrap.dedent("""
    from island_ssh.core.errors import StoreError
    from island_ssh.service import metrics

    class Down:
        def transaction(self, *a, **k):
            raise StoreError("database down (test)")

    class Service:
        class store:
            db = Down()

    body, content_type = metrics.scrape(Service())
    print(body.decode())
""")


def test_two_processes_write_and_one_scrape_adds_them_up(tmp_path):
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    writers = [subprocess.run([sys.executable, "-c", WRITER, str(n)], env=env, capture_output=True, text=True,
                              timeout=60) for n in (2, 3)]
    for w in writers:
        assert w.returncode == 0, w.stderr
        assert w.stdout.split() == [str(folder), "MmapedValue"]  # the values went to the files
    assert len(list(folder.glob("*.db"))) >= 2
    scrape = subprocess.run([sys.executable, "-c", SCRAPER], env=env, capture_output=True, text=True, timeout=60)
    assert scrape.returncode == 0, scrape.stderr
    families = {f.name: f for f in text_string_to_metric_families(scrape.stdout)}
    value = lambda name, sample_name, **labels: next(  # noqa: E731
        s.value for s in families[name].samples if s.name == sample_name and s.labels == labels)
    assert value("island_ssh_registrations", "island_ssh_registrations_total", result="ok") == 5
    assert value("island_ssh_ssh_command_seconds", "island_ssh_ssh_command_seconds_count", purpose="service") == 5
    # mostrecent: the value the last writer set, not a sum
    assert value("island_ssh_node_memory_allocatable_bytes", "island_ssh_node_memory_allocatable_bytes",
                 node="node-mp") == 3000
    # the database was down: the scrape still answers, saying so
    assert value("island_ssh_store_up", "island_ssh_store_up") == 0
    assert not families["island_ssh_islands"].samples


def test_a_process_without_the_directory_serves_its_own_values():
    env = {k: v for k, v in os.environ.items() if k.lower() != "prometheus_multiproc_dir"}
    out = subprocess.run([sys.executable, "-c", WRITER, "1"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "MutexValue"]


# -- the dashboard and README use exactly the registry's names -----------------------------------------
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def family_of(name: str, known: set[str]) -> str:
    if name in known:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return name


def dashboard_exprs() -> list[str]:
    board = json.loads((ROOT / "conf/grafana/island-ssh.json").read_text())
    exprs = []
    for panel in board["panels"]:
        exprs += [t["expr"] for t in panel.get("targets", [])]
    for var in board.get("templating", {}).get("list", []):
        query = var.get("query")
        exprs.append(query.get("query", "") if isinstance(query, dict) else str(query or ""))
    return [e for e in exprs if e]


def test_every_dashboard_expression_names_metrics_of_the_registry_and_every_metric_has_a_panel():
    known = service_metrics.family_names()
    used = set()
    for expr in dashboard_exprs():
        for name in re.findall(r"\bisland_ssh_[a-z_]+", expr):
            family = family_of(name, known)
            assert family in known, f"{name} in {expr!r} is not a metric of island_ssh"
            used.add(family)
    assert used == known, f"metrics without a panel: {sorted(known - used)}"


def test_readme_lists_every_metric_with_its_type():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    types = {m.name: m.type for m in metrics.REGISTRY.collect()}
    types.update({metrics.ISLANDS_GAUGE: "gauge", service_metrics.STORE_UP: "gauge"})
    for name, kind in types.items():
        shown = name + ("_total" if kind == "counter" else "")
        row = next((line for line in section.splitlines() if line.startswith(f"| `{shown}")), None)
        assert row is not None, f"README's Metrics table has no row for {shown}"
        assert f"| {kind} |" in row, row
