"""Kubernetes clients that are not ours, against the sandbox: the official `kubernetes` Python client and
lightkube run their list, watch (resourceVersion resume, 410 Gone past the history), create, read log,
exec (websocket) and delete. A check that the sandbox speaks Kubernetes, not only what our kubectl
calls need; where a client and the sandbox disagreed, the sandbox was changed (each such case is a
test here).
"""

from __future__ import annotations

import pytest

from fixtures.sandbox import running_sandbox_cluster, wait_for

from .helpers import pod

kubernetes = pytest.importorskip("kubernetes")
lightkube = pytest.importorskip("lightkube")

from kubernetes import client as k8s, config as k8s_config, watch as k8s_watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402
from kubernetes.stream import stream as k8s_stream  # noqa: E402
from lightkube import Client as LightClient  # noqa: E402
from lightkube.config.kubeconfig import KubeConfig  # noqa: E402
from lightkube.core.exceptions import ApiError as LightApiError  # noqa: E402
from lightkube.resources.core_v1 import Pod as LightPod  # noqa: E402

HISTORY = 8


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A sandbox with a short watch history, so that a resume from long ago meets 410 Gone."""
    with running_sandbox_cluster(tmp_path_factory.mktemp("clients"), watch_history=HISTORY) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def core(cluster) -> "k8s.CoreV1Api":
    return k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=str(cluster.kubeconfig)))


@pytest.fixture(scope="module")
def light(cluster) -> LightClient:
    return LightClient(KubeConfig.from_file(str(cluster.kubeconfig)).get(), namespace="default")


def talking_pod(name: str) -> dict:
    body = pod(name, labels={"client-test": name})
    body["spec"]["containers"][0]["command"] = ["/bin/sh", "-c", f"echo hello from {name}; exec tail -f /dev/null"]
    return body


def running(core, name: str) -> bool:
    return core.read_namespaced_pod(name, "default").status.phase == "Running"


def test_official_client_create_list_log_exec_delete(core):
    created = core.create_namespaced_pod("default", talking_pod("official"))
    assert created.metadata.uid and created.metadata.resource_version and created.status.phase == "Pending"
    listed = core.list_namespaced_pod("default", label_selector="client-test=official")
    assert [p.metadata.name for p in listed.items] == ["official"] and listed.metadata.resource_version
    wait_for(lambda: running(core, "official"), 30, "the pod running")
    log = wait_for(lambda: core.read_namespaced_pod_log("official", "default", container="server") or None, 15,
                   "its log line")
    assert log == "hello from official\n"
    out = k8s_stream(core.connect_get_namespaced_pod_exec, "official", "default", container="server",
                     command=["/bin/sh", "-c", "echo out; echo err >&2"], stdout=True, stderr=True, stdin=False,
                     tty=False)
    assert "out" in out
    core.delete_namespaced_pod("official", "default", grace_period_seconds=0)
    wait_for(lambda: not core.list_namespaced_pod("default", label_selector="client-test=official").items, 30,
             "the pod gone")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("official", "default")
    assert missing.value.status == 404


def test_official_client_watch_resumes_from_a_resource_version_and_meets_410_past_the_history(core):
    start = core.list_namespaced_pod("default", label_selector="client-test=watched").metadata.resource_version
    core.create_namespaced_pod("default", talking_pod("watched"))
    seen = []
    for event in k8s_watch.Watch().stream(core.list_namespaced_pod, "default", label_selector="client-test=watched",
                                          resource_version=start, timeout_seconds=20):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "ADDED":
            break
    assert seen[0] == ("ADDED", "watched")
    # enough changes elsewhere that `start` falls out of the watch history
    for i in range(HISTORY + 2):
        core.patch_namespaced_pod("watched", "default", {"metadata": {"labels": {"turn": str(i)}}})
    with pytest.raises(ApiException) as gone:
        for _ in k8s_watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=start,
                                          timeout_seconds=10):
            pass
    assert gone.value.status == 410
    core.delete_namespaced_pod("watched", "default", grace_period_seconds=0)


def test_lightkube_create_get_watch_log_delete(light):
    light.create(LightPod.from_dict(talking_pod("light")))
    assert light.get(LightPod, "light").metadata.labels == {"client-test": "light"}
    listed = list(light.list(LightPod, labels={"client-test": "light"}))
    assert [p.metadata.name for p in listed] == ["light"]
    for kind, obj in light.watch(LightPod, labels={"client-test": "light"}, resource_version="0"):
        if obj.status and obj.status.phase == "Running":
            break
    lines = wait_for(lambda: list(light.log("light", container="server")) or None, 15, "lightkube reads the log")
    assert "".join(lines) == "hello from light\n"
    light.delete(LightPod, "light", grace_period=0)
    wait_for(lambda: not list(light.list(LightPod, labels={"client-test": "light"})), 30, "the pod gone")
    with pytest.raises(LightApiError) as missing:
        light.get(LightPod, "light")
    assert missing.value.status.code == 404


def test_kubectl_applies_a_kind_list_under_client_side_validation(cluster):
    """kubectl validates a List's items against the OpenAPI schema (once the sandbox refused it)."""
    import yaml
    docs = {"apiVersion": "v1", "kind": "List", "items": [talking_pod("list-a"), talking_pod("list-b")]}
    result = cluster.kubectl("apply", "--validate=strict", "-f", "-", stdin=yaml.safe_dump(docs))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["pod/list-a created", "pod/list-b created"]
    cluster.kubectl_ok("delete", "pod", "list-a", "list-b", "--grace-period=0", "--force")
