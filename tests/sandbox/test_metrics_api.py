"""The sandbox's metrics.k8s.io API (island_sandbox/metrics_api.py) against the real kubectl `top`.

A pod runs the stand-in island server (a real process); `eat N` over TCP makes it allocate and
touch N MiB, and `kubectl top pod` must see its memory grow by about that much. Discovery,
the raw documents' shapes (as metrics-server returns them), selectors, NotFound and a sandbox
started with --no-metrics-api ("Metrics API not available") are checked with kubectl 1.35 and 1.27.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fixtures.sandbox import running_sandbox_cluster
from island_ssh.core.quantity import parse_quantity
from island_ssh.testing import free_port
from island_ssh.testing.waiting import wait_for
from sandbox.helpers import dump, pod

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
MINORS = (35, 27)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_sandbox_cluster(tmp_path_factory.mktemp("metrics-cluster"),
                                 kubelet="island_sandbox.kubelet:Kubelet") as c:
        yield c


def kubectl(cluster, minor: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / f"kubectl-1.{minor}"), *args], text=True, capture_output=True,
                          timeout=30, env=cluster.env())


def island_pod(name: str, port: int, memory_limit: str = "512Mi") -> dict:
    manifest = pod(name, labels={"app.kubernetes.io/managed-by": "island-ssh", "metrics-test": name}, branch="dev")
    container = manifest["spec"]["containers"][0]
    container["command"] = [sys.executable, "-m", "island_sandbox.island_server", "--ports", str(port)]
    container["resources"] = {"requests": {"memory": "64Mi"}, "limits": {"memory": memory_limit}}
    return manifest


class IslandClient:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=20)
        self.file = self.sock.makefile("rwb")

    def ask(self, line: str) -> dict:
        self.file.write(line.encode() + b"\n")
        self.file.flush()
        return json.loads(self.file.readline())

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture(scope="module")
def eater(cluster):
    """A running stand-in island server pod and a connection to it."""
    name, port = f"eater-{uuid.uuid4().hex[:6]}", free_port()
    cluster.kubectl_ok("apply", "-f", "-", stdin=dump(island_pod(name, port)))
    running = lambda: cluster.get_json("pod", name)["status"].get("phase") == "Running" or None  # noqa: E731
    wait_for(running, 30, f"pod {name} Running")
    host = cluster.node_ips["node-dev-1"] if cluster.get_json("pod", name)["spec"]["nodeName"] == "node-dev-1" \
        else cluster.node_ips["node-dev-2"]
    client = wait_for(lambda: _connect(host, port), 20, "the island server listening")
    yield name, client
    client.close()
    cluster.kubectl("delete", "pod", name, "--grace-period=0", "--force")


def _connect(host: str, port: int):
    try:
        return IslandClient(host, port)
    except OSError:
        return None


def top_pod_memory(cluster, minor: int, name: str) -> int:
    out = kubectl(cluster, minor, "top", "pod", name, "--no-headers")
    assert out.returncode == 0, out.stderr
    fields = out.stdout.split()
    assert fields[0] == name and fields[1].endswith("m") and fields[2].endswith("Mi"), out.stdout
    return parse_quantity(fields[2])


def test_discovery_documents(cluster):
    status, groups = cluster.api("GET", "/apis")
    assert status == 200
    assert {"name": "metrics.k8s.io", "versions": [{"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}],
            "preferredVersion": {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}} in groups["groups"]
    status, group = cluster.api("GET", "/apis/metrics.k8s.io")
    assert status == 200 and group["kind"] == "APIGroup"
    status, resources = cluster.api("GET", "/apis/metrics.k8s.io/v1beta1")
    assert status == 200 and resources["groupVersion"] == "metrics.k8s.io/v1beta1"
    assert {(r["name"], r["kind"], r["namespaced"]) for r in resources["resources"]} == {
        ("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True)}
    api_resources = cluster.kubectl_ok("api-resources", "--api-group=metrics.k8s.io", "--no-headers")
    assert "PodMetrics" in api_resources and "NodeMetrics" in api_resources


def test_pod_metrics_shapes_and_selectors(cluster, eater):
    name, _ = eater
    status, listed = cluster.api("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector="
                                        f"metrics-test%3D{name}")
    assert status == 200 and listed["kind"] == "PodMetricsList" and listed["apiVersion"] == "metrics.k8s.io/v1beta1"
    [item] = listed["items"]
    assert item["metadata"]["name"] == name and item["metadata"]["labels"]["metrics-test"] == name
    assert item["timestamp"].endswith("Z") and item["window"].endswith("s")
    [container] = item["containers"]
    assert container["name"] == "server"
    assert container["usage"]["cpu"].endswith("n") and container["usage"]["memory"].endswith("Ki")
    assert 5 * 2**20 < parse_quantity(container["usage"]["memory"]) < 512 * 2**20  # a python process
    status, one = cluster.api("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/{name}")
    assert status == 200 and one["kind"] == "PodMetrics" and one["metadata"]["name"] == name
    status, none = cluster.api("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=x%3Dy")
    assert status == 200 and none["items"] == []
    status, missing = cluster.api("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope")
    assert status == 404 and missing["reason"] == "NotFound"
    assert missing["message"] == 'podmetrics.metrics.k8s.io "default/nope" not found'
    status, everywhere = cluster.api("GET", "/apis/metrics.k8s.io/v1beta1/pods")
    assert status == 200 and name in [i["metadata"]["name"] for i in everywhere["items"]]
    status, nodes = cluster.api("GET", "/apis/metrics.k8s.io/v1beta1/nodes")
    assert status == 200 and nodes["kind"] == "NodeMetricsList"
    assert {n["metadata"]["name"] for n in nodes["items"]} == {"node-dev-1", "node-dev-2", "node-weekly-1"}
    status, bad = cluster.api("GET", "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=a%20in")
    assert status == 400


def test_cpu_is_a_rate_over_a_window(cluster, eater):
    name, client = eater
    path = f"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/{name}"
    cluster.api("GET", path)
    for _ in range(3):  # a busy server: each `eat` touches 64 MiB, seconds of CPU in all
        client.ask("eat 64")
    busy = wait_for(lambda: (lambda m: m if float(m["window"][:-1]) >= 1.0 else None)(cluster.api("GET", path)[1]),
                    10, "a sample over at least a second")
    assert parse_quantity(busy["containers"][0]["usage"]["cpu"]) > 0


@pytest.mark.parametrize("minor", MINORS)
def test_kubectl_top_pod_tracks_memory(cluster, eater, minor):
    name, client = eater
    before = top_pod_memory(cluster, minor, name)
    assert client.ask("eat 100").get("eaten_mib", 100) >= 100
    after = wait_for(lambda: (lambda m: m if m >= before + 90 * 2**20 else None)(top_pod_memory(cluster, minor, name)),
                     15, "kubectl top pod showing 100 MiB more")
    assert after < before + 160 * 2**20
    listed = kubectl(cluster, minor, "top", "pod", "-l", "app.kubernetes.io/managed-by=island-ssh", "--containers",
                     "--no-headers")
    assert listed.returncode == 0, listed.stderr
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith(name))
    assert row[1] == "server" and row[3].endswith("Mi")


@pytest.mark.parametrize("minor", MINORS)
def test_kubectl_top_node(cluster, eater, minor):
    name, _ = eater
    out = kubectl(cluster, minor, "top", "node", "--no-headers")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()}
    assert set(rows) == {"node-dev-1", "node-dev-2", "node-weekly-1"}
    node = cluster.get_json("pod", name)["spec"]["nodeName"]
    assert parse_quantity(rows[node][3]) > 5 * 2**20 and rows[node][4].endswith("%")
    one = kubectl(cluster, minor, "top", "node", node, "--no-headers")
    assert one.returncode == 0 and one.stdout.split()[0] == node


@pytest.mark.parametrize("minor", MINORS)
def test_kubectl_top_missing_pod(cluster, minor):
    out = kubectl(cluster, minor, "top", "pod", "nope")
    assert out.returncode != 0 and 'podmetrics.metrics.k8s.io "default/nope" not found' in out.stderr


def test_without_metrics_server(tmp_path):
    with running_sandbox_cluster(tmp_path / "no-metrics", kubelet="island_sandbox.kubelet:Kubelet",
                                 extra_args=("--no-metrics-api",)) as bare:
        status, groups = bare.api("GET", "/apis")
        assert status == 200 and groups["groups"] == []
        status, _ = bare.api("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods")
        assert status == 404
        for minor in MINORS:
            out = kubectl(bare, minor, "top", "pod")
            assert out.returncode != 0 and "Metrics API not available" in out.stderr, out.stderr


def test_rbac_grants_what_the_shipped_file_says(tmp_path):
    """With conf/kubernetes/rbac.yaml enforced: the product's right (list pods.metrics.k8s.io in its
    namespace) is granted, node metrics and other namespaces are Forbidden in the real wording."""
    rbac = Path(__file__).resolve().parents[2] / "conf" / "kubernetes" / "rbac.yaml"
    with running_sandbox_cluster(tmp_path / "rbac", kubelet="island_sandbox.kubelet:Kubelet",
                                 extra_args=("--rbac", str(rbac))) as guarded:
        ok = kubectl(guarded, 35, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods")
        assert ok.returncode == 0 and json.loads(ok.stdout)["kind"] == "PodMetricsList", ok.stderr
        can = kubectl(guarded, 35, "auth", "can-i", "list", "pods.metrics.k8s.io")
        assert can.stdout.strip() == "yes"
        nodes = kubectl(guarded, 35, "top", "node")
        assert nodes.returncode != 0
        assert ('nodes.metrics.k8s.io is forbidden: User "system:serviceaccount:default:island-ssh" cannot list '
                'resource "nodes" in API group "metrics.k8s.io" at the cluster scope') in nodes.stderr
        other = kubectl(guarded, 35, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods")
        assert other.returncode != 0 and "(Forbidden)" in other.stderr
