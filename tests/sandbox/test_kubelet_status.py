"""The kubelet's pure parts: spec -> env/argv/probe, container records -> pod.status, thresholds."""

from __future__ import annotations

import pytest

from island_sandbox.images import ImageResolver, load_image, short_name
from island_sandbox.podspec import (ContainerConfigError, PodFacts, container_argv, container_env,
                                        expand_references, hosts_file, memory_limit, probe_spec, resolve_port)
from island_sandbox.podstatus import ContainerRecord, PodRecordView, pod_phase, pod_status
from island_sandbox.probes import ReadinessTracker
from island_sandbox.shm import remove_faketime_leftovers

FACTS = PodFacts(name="altraserver-liudianbo-dev-269", namespace="islands", node_name="node-dev-1",
                 host_ip="127.0.0.11", pod_ip="127.0.0.11", labels={"name": "altraserver"}, annotations={})


def rec(name, state, exit_code=0, ready=False, reason="ContainerCreating"):
    r = ContainerRecord(name=name, image="img")
    if state == "running":
        r.set_running("sandbox://x", "2021-09-18T23:30:07Z")
        r.ready = ready
    elif state == "terminated":
        r.set_running("sandbox://x", "2021-09-18T23:30:07Z")
        r.set_terminated(exit_code, "Completed" if exit_code == 0 else "Error", "2021-09-18T23:31:00Z")
    else:
        r.set_waiting(reason)
    return r


@pytest.mark.parametrize("states, policy, phase", [
    ([("waiting",), ("waiting",)], "Never", "Pending"),
    ([("waiting",), ("running",)], "Never", "Pending"),        # the kubelet's rule: any waiting -> Pending
    ([("running",), ("running",)], "Never", "Running"),
    ([("terminated", 3), ("running",)], "Never", "Running"),   # crashed server, side alive: READY 1/2
    ([("terminated", 0), ("terminated", 0)], "Never", "Succeeded"),
    ([("terminated", 0), ("terminated", 137)], "Never", "Failed"),
    ([("terminated", 1), ("terminated", 1)], "Always", "Running"),
    ([("terminated", 1)], "OnFailure", "Running"),
])
def test_phase_follows_the_kubelet_rules(states, policy, phase):
    records = [rec(f"c{i}", *s) for i, s in enumerate(states)]
    assert pod_phase(records, policy) == phase


def test_ready_condition_names_the_unready_container_and_keeps_transition_times():
    records = [rec("altraserver", "running", ready=False), rec("side-container", "running", ready=True)]
    view = PodRecordView(records, "127.0.0.11", "2021-09-18T23:30:00Z", "Never", True)
    first = pod_status(view, "2021-09-18T23:30:01Z")
    ready = {c["type"]: c for c in first["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [altraserver]"
    assert "PodScheduled" not in {c["type"] for c in first["conditions"]}

    view.previous_conditions = {c["type"]: c for c in first["conditions"]}
    same = pod_status(view, "2021-09-18T23:30:05Z")
    assert {c["type"]: c for c in same["conditions"]}["Ready"]["lastTransitionTime"] == "2021-09-18T23:30:01Z"

    records[0].ready = True
    view.previous_conditions = {c["type"]: c for c in same["conditions"]}
    now_ready = {c["type"]: c for c in pod_status(view, "2021-09-18T23:30:09Z")["conditions"]}
    assert now_ready["Ready"] == {"type": "Ready", "status": "True", "lastProbeTime": None,
                                  "lastTransitionTime": "2021-09-18T23:30:09Z"}
    assert now_ready["Initialized"]["lastTransitionTime"] == "2021-09-18T23:30:01Z"


def test_terminated_status_carries_everything_a_kubelet_reports():
    r = rec("altraserver", "terminated", exit_code=3)
    status = pod_status(PodRecordView([r], "127.0.0.11", "t0", "Never", False), "t1")
    (entry,) = status["containerStatuses"]
    assert entry["state"]["terminated"] == {"exitCode": 3, "reason": "Error", "startedAt": "2021-09-18T23:30:07Z",
                                            "finishedAt": "2021-09-18T23:31:00Z", "containerID": "sandbox://x"}
    assert entry["ready"] is False and entry["started"] is False and entry["restartCount"] == 0
    assert status["phase"] == "Failed" and status["hostIP"] == status["podIP"] == "127.0.0.11"


def test_eviction_makes_the_pod_failed_with_reason_and_disruption_condition():
    view = PodRecordView([rec("a", "running", ready=True)], "127.0.0.11", "t0", "Never", True,
                         eviction_message="The node was low on resource: memory.")
    status = pod_status(view, "t1")
    assert (status["phase"], status["reason"]) == ("Failed", "Evicted")
    assert status["message"] == "The node was low on resource: memory."
    assert {c["type"]: c for c in status["conditions"]}["DisruptionTarget"]["reason"] == "TerminationByKubelet"


def test_env_resolves_downward_api_expansion_and_pod_ip():
    container = {"env": [
        {"name": "A", "value": "one"},
        {"name": "B", "value": "$(A)-two-$$(A)-$(MISSING)"},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['name']"}}},
        {"name": "LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
    ], "resources": {"limits": {"memory": "2048Mi"}}}
    env = container_env(container, FACTS, {"LANG": "C.UTF-8", "A": "image"})
    assert env["B"] == "one-two-$(A)-$(MISSING)"
    assert (env["HOST"], env["POD"], env["NS"], env["NODE"], env["LABEL"]) == (
        "127.0.0.11", "altraserver-liudianbo-dev-269", "islands", "node-dev-1", "altraserver")
    assert env["LIMIT"] == "2048" and env["LANG"] == "C.UTF-8" and env["SANDBOX_POD_IP"] == "127.0.0.11"

    with pytest.raises(ContainerConfigError, match="configMapKeyRef"):
        container_env({"env": [{"name": "S", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}}]}, FACTS, {})
    with pytest.raises(ContainerConfigError, match="fieldPath"):
        container_env({"env": [{"name": "S", "valueFrom": {"fieldRef": {"fieldPath": "spec.nope"}}}]}, FACTS, {})


@pytest.mark.parametrize("spec, argv", [
    ({"command": ["sh", "-c"], "args": ["echo $(X)"]}, ["sh", "-c", "echo x"]),
    ({"command": ["java"]}, ["java"]),                    # command drops the image's CMD
    ({"args": ["-v"]}, ["/entry", "-v"]),                  # args replace CMD, keep ENTRYPOINT
    ({}, ["/entry", "default"]),
])
def test_command_and_args_against_image_defaults(spec, argv):
    assert container_argv(spec, ["/entry"], ["default"], {"X": "x"}) == argv


def test_ports_probe_and_quantities():
    container = {"ports": [{"name": "server-port", "containerPort": 30809}]}
    assert resolve_port("server-port", container) == 30809 and resolve_port(30807, container) == 30807
    with pytest.raises(ContainerConfigError):
        resolve_port("nope", container)
    probe = probe_spec({"tcpSocket": {"port": "server-port"}, "initialDelaySeconds": 15, "periodSeconds": 5,
                        "timeoutSeconds": 10, "failureThreshold": 10}, container, "127.0.0.11")
    assert (probe.host, probe.port, probe.initial_delay, probe.period, probe.timeout, probe.success_threshold,
            probe.failure_threshold) == ("127.0.0.11", 30809, 15, 5, 10, 1, 10)
    defaults = probe_spec({"tcpSocket": {"port": 1}}, container, "h")
    assert (defaults.period, defaults.timeout, defaults.failure_threshold) == (10, 1, 3)
    assert memory_limit({"resources": {"limits": {"memory": "2048Mi"}}}) == 2048 << 20
    assert memory_limit({}) is None
    assert expand_references("$$$(A)", {"A": "a"}) == "$a"


def test_readiness_thresholds():
    tracker = ReadinessTracker(success_threshold=2, failure_threshold=3)
    assert [tracker.record(ok) for ok in (True, False, True, True)] == [False, False, False, True]
    assert tracker.ready
    assert [tracker.record(ok) for ok in (False, False, True, False, False, False)] == [
        False, False, False, False, False, True]
    assert not tracker.ready


def test_hosts_file_has_pod_and_host_aliases():
    text = hosts_file(FACTS, [{"ip": "10.18.1.203", "hostnames": ["www.hisaobi.com", "login.hisaobi.com"]}])
    assert "127.0.0.11\taltraserver-liudianbo-dev-269\n" in text
    assert text.endswith("# Entries added by HostAliases.\n10.18.1.203\twww.hisaobi.com\tlogin.hisaobi.com\n")


def test_image_names_map_to_directories(tmp_path):
    assert short_name("bo602505401/jdk8-curl-libfaketime:latest") == "jdk8-curl-libfaketime"
    assert short_name("registry.local:5000/x/alpine:3.14.1@sha256:abc") == "alpine"
    resolver = ImageResolver()
    assert resolver.resolve("alpine:3.14.1").name == "alpine"
    assert resolver.resolve("nosuch/image:1") is None
    assert resolver.resolve("../../etc:1") is None
    config = load_image("bo602505401/jdk8-curl-libfaketime:latest",
                        resolver.resolve("bo602505401/jdk8-curl-libfaketime:latest"))
    assert dict(config.mounts)["/usr/lib64/faketime/libfaketime.so.1"].endswith(
        "x86_64-linux-gnu/faketime/libfaketime.so.1")
    assert config.image_id.startswith("sandbox-images/jdk8-curl-libfaketime@sha256:")


def test_shm_cleanup_touches_only_names_with_our_pids(tmp_path):
    for name in ("faketime_shm_101", "sem.faketime_sem_101", "faketime_shm_202", "PostgreSQL.1"):
        (tmp_path / name).write_text("")
    removed = remove_faketime_leftovers([101, 303], shm_dir=tmp_path)
    assert sorted(p.name for p in removed) == ["faketime_shm_101", "sem.faketime_sem_101"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PostgreSQL.1", "faketime_shm_202"]
