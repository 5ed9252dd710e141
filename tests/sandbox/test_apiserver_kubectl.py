"""The emulated API server against the REAL kubectl v1.35 (stand-in kubelet, real processes/ports)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from fixtures.sandbox import wait_for
from sandbox.helpers import LineReader, dump, pod

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def scheduled_condition(cluster, name: str) -> dict | None:
    obj = cluster.get_json("pod", name)
    return next((c for c in obj["status"].get("conditions") or [] if c["type"] == "PodScheduled"), None)


def force_delete(cluster, *names: str) -> None:
    cluster.kubectl("delete", "pod", *names, "--grace-period=0", "--force", "--ignore-not-found")


def test_multi_document_apply_binds_claim_and_schedules_pod(standin_cluster):
    c = standin_cluster
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "code-pv", "labels": {"type": "local"}},
          "spec": {"storageClassName": "manual", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                   "hostPath": {"path": str(c.state_dir / "code")}}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "code-claim"},
           "spec": {"storageClassName": "manual", "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "8Gi"}}}}
    # The seed's order: the pod first, its claim last; the pod waits for the claim, then schedules.
    out = c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("seeded", branch="dev", memory="1500Mi", claim="code-claim"),
                                                        pv, pvc))
    assert out.splitlines() == ["pod/seeded created", "persistentvolume/code-pv created",
                                "persistentvolumeclaim/code-claim created"]
    claim = wait_for(lambda: (o := c.get_json("pvc", "code-claim"))["status"].get("phase") == "Bound" and o,
                     5, what="bound PVC")
    assert claim["spec"]["volumeName"] == "code-pv"
    assert c.get_json("pv", "code-pv")["spec"]["claimRef"]["name"] == "code-claim"
    bound = wait_for(lambda: (o := c.get_json("pod", "seeded"))["spec"].get("nodeName") and o, 5, what="scheduling")
    assert bound["spec"]["nodeName"] in ("node-dev-1", "node-dev-2")
    meta = bound["metadata"]
    assert uuid.UUID(meta["uid"]) and meta["creationTimestamp"].endswith("Z") and int(meta["resourceVersion"]) > 0
    # Re-applying the same documents is a no-op, as on a real cluster.
    seeded = pod("seeded", branch="dev", memory="1500Mi", claim="code-claim")
    again = c.kubectl_ok("apply", "-f", "-", stdin=dump(seeded, pv, pvc))
    assert "pod/seeded unchanged" in again
    # A changed manifest is a three-way strategic merge: new labels in, labels dropped from it out.
    labelled = pod("seeded", labels={"keep": "1", "drop": "1"}, branch="dev", memory="1500Mi", claim="code-claim")
    c.kubectl_ok("apply", "-f", "-", stdin=dump(labelled))
    del labelled["metadata"]["labels"]["drop"]
    labelled["metadata"]["labels"]["added"] = "2"
    assert c.kubectl_ok("apply", "-f", "-", stdin=dump(labelled)).strip() == "pod/seeded configured"
    assert c.get_json("pod", "seeded")["metadata"]["labels"] == {"keep": "1", "added": "2"}
    table = c.kubectl_ok("get", "pv,pvc")
    assert "default/code-claim" in table and "Bound" in table
    force_delete(c, "seeded")


def test_label_selectors_on_list(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("sel-a", labels={"app": "a", "tier": "front", "t": "sel"}),
                                                 pod("sel-b", labels={"app": "b", "tier": "back", "t": "sel"}),
                                                 pod("sel-c", labels={"app": "c", "t": "sel"})))
    names = lambda sel: sorted(c.kubectl_ok("get", "pods", "-l", f"t=sel,{sel}", "-o", "name").split())  # noqa: E731
    assert names("app=a") == ["pod/sel-a"]
    assert names("app!=a") == ["pod/sel-b", "pod/sel-c"]
    assert names("tier in (front,back)") == ["pod/sel-a", "pod/sel-b"]
    assert names("tier notin (front)") == ["pod/sel-b", "pod/sel-c"]
    assert names("tier") == ["pod/sel-a", "pod/sel-b"]
    assert names("!tier") == ["pod/sel-c"]
    table = c.kubectl_ok("get", "pods", "-l", "t=sel")
    assert table.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    force_delete(c, "sel-a", "sel-b", "sel-c")


def test_watch_json_events_added_then_scheduled(standin_cluster):
    c = standin_cluster
    name = unique("watched")
    # The first event is a pod that never schedules: once seen, kubectl watches from its list's
    # resourceVersion, so the pod under test cannot have been listed already scheduled.
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod(f"{name}-sentinel", labels={"w": name}, branch="none")))
    reader = LineReader(c.kubectl_popen("get", "pods", "-l", f"w={name}", "-w", "--output-watch-events", "-o", "json"))
    try:
        reader.events_until(lambda ev: len(ev) >= 1, 10)
        c.kubectl_ok("apply", "-f", "-", stdin=dump(pod(name, labels={"w": name}, branch="dev")))
        events = reader.events_until(
            lambda ev: any(e["object"]["status"].get("phase") == "Running" for e in ev), 10)
    finally:
        reader.stop()
    events = [e for e in events if e["object"]["metadata"]["name"] == name]
    assert events[0]["type"] == "ADDED"
    scheduled = [e for e in events if e["object"]["spec"].get("nodeName")]
    assert scheduled and all(e["type"] == "MODIFIED" for e in scheduled)
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)
    force_delete(c, name, f"{name}-sentinel")


def test_watch_resumes_from_resource_version(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("resume", labels={"step": "0"})))
    rv = c.kubectl_ok("get", "pod", "resume", "-o", "jsonpath={.metadata.resourceVersion}")
    c.kubectl_ok("label", "pod", "resume", "step=1", "--overwrite")
    c.kubectl_ok("label", "pod", "resume", "step=2", "--overwrite")
    raw = c.kubectl_ok("get", "--raw", f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}"
                       "&timeoutSeconds=1&fieldSelector=metadata.name%3Dresume")
    events = [json.loads(line) for line in raw.splitlines()]
    steps = [e["object"]["metadata"]["labels"]["step"] for e in events if e["type"] == "MODIFIED"]
    assert "1" in steps and steps[-1] == "2" and steps.index("1") < steps.index("2")
    assert all(int(e["object"]["metadata"]["resourceVersion"]) > int(rv) for e in events)
    force_delete(c, "resume")


def test_unschedulable_memory_message(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("too-big", branch="dev", memory="100Gi")))
    cond = wait_for(lambda: scheduled_condition(c, "too-big"), 5, what="PodScheduled condition")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"] == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory. "
        f"preemption: 0/3 nodes are available: 1 {NOT_HELPFUL}, 2 {NO_VICTIMS}..")
    assert c.kubectl_ok("get", "pod", "too-big", "--no-headers").split()[2] == "Pending"
    described = c.kubectl_ok("describe", "pod", "too-big")
    assert "FailedScheduling" in described and "default-scheduler  0/3 nodes are available" in described
    force_delete(c, "too-big")


def test_host_port_clash_then_capacity_freed(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("port-a", branch="weekly", host_ports=[31001])))
    wait_for(lambda: c.get_json("pod", "port-a")["spec"].get("nodeName"), 5, what="port-a scheduled")
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("port-b", branch="weekly", host_ports=[31001])))
    cond = wait_for(lambda: scheduled_condition(c, "port-b"), 5, what="port-b condition")
    assert cond["message"] == (
        "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, "
        "2 node(s) didn't match Pod's node affinity/selector. "
        f"preemption: 0/3 nodes are available: 1 {NO_VICTIMS}, 2 {NOT_HELPFUL}..")
    c.kubectl_ok("delete", "pod", "port-a", "--wait=true", timeout=30)
    moved = wait_for(lambda: (o := c.get_json("pod", "port-b"))["spec"].get("nodeName") and o, 5,
                     what="port-b scheduled once port-a is gone")
    assert moved["spec"]["nodeName"] == "node-weekly-1"
    assert scheduled_condition(c, "port-b")["status"] == "True"
    force_delete(c, "port-b")


def test_node_selector_weekly_lands_on_weekly_node(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("weekly-pod", branch="weekly", memory="512M")))
    obj = wait_for(lambda: (o := c.get_json("pod", "weekly-pod"))["status"].get("hostIP") and o, 5, what="running")
    assert obj["spec"]["nodeName"] == "node-weekly-1"
    assert obj["status"]["hostIP"] == c.node_ips["node-weekly-1"] == "127.0.0.13"
    wide = c.kubectl_ok("get", "pod", "weekly-pod", "-o", "wide", "--no-headers").split()
    assert wide[5:7] == ["127.0.0.13", "node-weekly-1"]
    force_delete(c, "weekly-pod")


def test_delete_goes_terminating_then_deleted(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("doomed", labels={"d": "1"})))
    wait_for(lambda: c.get_json("pod", "doomed")["status"].get("phase") == "Running", 5, what="running")
    reader = LineReader(c.kubectl_popen("get", "pods", "-l", "d=1", "-w", "--output-watch-events", "-o", "json"))
    try:
        reader.events_until(lambda ev: len(ev) >= 1, 10)
        out = c.kubectl_ok("delete", "pod", "doomed")
        events = reader.events_until(lambda ev: any(e["type"] == "DELETED" for e in ev), 10)
    finally:
        reader.stop()
    assert 'pod "doomed" deleted' in out
    terminating = [e for e in events
                   if e["type"] == "MODIFIED" and e["object"]["metadata"].get("deletionTimestamp")]
    assert terminating and terminating[0]["object"]["metadata"]["deletionGracePeriodSeconds"] == 2
    assert events.index(terminating[0]) < [e["type"] for e in events].index("DELETED")
    assert "NotFound" in c.kubectl("get", "pod", "doomed").stderr


def test_force_delete_removes_at_once(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("forced")))
    result = c.kubectl("delete", "pod", "forced", "--grace-period=0", "--force")
    assert result.returncode == 0 and 'pod "forced" force deleted' in result.stdout
    assert c.kubectl("get", "pod", "forced").stderr.strip() == 'Error from server (NotFound): pods "forced" not found'


def test_patches_of_pod_and_status(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("patched")))
    c.kubectl_ok("patch", "pod", "patched", "-p", '{"metadata":{"labels":{"smp":"yes"}}}')
    c.kubectl_ok("patch", "pod", "patched", "--type=merge", "-p", '{"metadata":{"annotations":{"merge":"yes"}}}')
    c.kubectl_ok("patch", "pod", "patched", "--type=json", "-p",
                 '[{"op":"add","path":"/metadata/labels/json","value":"yes"}]')
    c.kubectl_ok("patch", "pod", "patched", "--subresource=status", "--type=merge",
                 "-p", '{"status":{"reason":"Patched","message":"by test"}}')
    obj = c.get_json("pod", "patched")
    assert obj["metadata"]["labels"] == {"smp": "yes", "json": "yes"}
    assert obj["metadata"]["annotations"]["merge"] == "yes"
    assert (obj["status"]["reason"], obj["status"]["message"]) == ("Patched", "by test")
    # A status patch through the main resource is ignored, as on a real API server.
    c.kubectl_ok("patch", "pod", "patched", "--type=merge", "-p", '{"status":{"message":"ignored"}}')
    assert c.get_json("pod", "patched")["status"]["message"] == "by test"
    force_delete(c, "patched")


def test_errors_carry_kubernetes_reasons(standin_cluster):
    c = standin_cluster
    assert c.kubectl("get", "pod", "x").stderr.strip() == 'Error from server (NotFound): pods "x" not found'
    manifest = dump(pod("twice"))
    c.kubectl_ok("create", "-f", "-", stdin=manifest)
    dup = c.kubectl("create", "-f", "-", stdin=manifest)
    assert dup.returncode == 1
    assert 'Error from server (AlreadyExists): error when creating "STDIN": pods "twice" already exists' in dup.stderr
    bad = c.kubectl("create", "-f", "-", stdin=dump(pod("Bad_Name")))
    assert 'The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in bad.stderr
    empty = pod("no-containers")
    empty["spec"]["containers"] = []
    assert 'The Pod "no-containers" is invalid: spec.containers: Required value' in \
        c.kubectl("create", "-f", "-", stdin=dump(empty)).stderr
    stale = c.get_json("pod", "twice")
    c.kubectl_ok("label", "pod", "twice", "bump=1")
    stale["metadata"]["labels"] = {"stale": "1"}
    conflict = c.kubectl("replace", "-f", "-", stdin=json.dumps(stale))
    assert "Error from server (Conflict)" in conflict.stderr and "the object has been modified" in conflict.stderr
    assert c.kubectl("get", "--raw", "/no/such/path").stderr.strip() == \
        "Error from server (NotFound): the server could not find the requested resource"
    status, body = c.api("GET", "/api/v1/namespaces/default/pods?labelSelector=a%20in%20(")
    assert (status, body["reason"]) == (400, "BadRequest")
    force_delete(c, "twice")


def test_eviction_subresource_fails_the_pod(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("evicted")))
    wait_for(lambda: c.get_json("pod", "evicted")["status"].get("phase") == "Running", 5, what="running")
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evicted", "namespace": "default"}}
    c.kubectl_ok("create", "--raw", "/api/v1/namespaces/default/pods/evicted/eviction", "-f", "-",
                 stdin=json.dumps(eviction))
    status = wait_for(lambda: (s := c.get_json("pod", "evicted")["status"]).get("reason") == "Evicted" and s,
                      5, what="Evicted")
    assert status["phase"] == "Failed"
    force_delete(c, "evicted")


def test_exec_and_logs_round_trip(standin_cluster):
    c = standin_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("shell")))
    wait_for(lambda: c.get_json("pod", "shell")["status"].get("phase") == "Running", 5, what="running")
    failed = c.kubectl("exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (failed.returncode, failed.stdout, failed.stderr.splitlines()[0]) == (3, "out\n", "err")
    assert "command terminated with exit code 3" in failed.stderr
    echoed = c.kubectl("exec", "-i", "shell", "--", "cat", stdin="through stdin\n")
    assert (echoed.returncode, echoed.stdout) == (0, "through stdin\n")
    assert c.kubectl_ok("logs", "shell", "-c", "server", "--tail=1") == "shell/server started on " \
        + c.get_json("pod", "shell")["spec"]["nodeName"] + "\n"
    # --limit-bytes: the first that many bytes of what would be sent (after --tail), as the kubelet
    assert c.kubectl_ok("logs", "shell", "-c", "server", "--tail=1", "--limit-bytes=9") == "shell/ser"
    assert c.kubectl_ok("logs", "shell", "-c", "server", "-f", "--limit-bytes=5", timeout=10) == "shell"
    force_delete(c, "shell")


def test_get_nodes_and_namespaces(standin_cluster):
    c = standin_cluster
    nodes = c.get_json("nodes", "-l", "branch=dev")["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["node-dev-1", "node-dev-2"]
    n = nodes[0]
    assert n["status"]["allocatable"]["memory"] == n["status"]["capacity"]["memory"] == "4194304Ki"
    assert {"type": "InternalIP", "address": "127.0.0.11"} in n["status"]["addresses"]
    assert any(cond["type"] == "Ready" and cond["status"] == "True" for cond in n["status"]["conditions"])
    assert c.kubectl_ok("get", "nodes", "--no-headers").split()[:2] == ["node-dev-1", "Ready"]
    assert {"default", "kube-system"} <= set(c.kubectl_ok("get", "ns", "-o", "name").replace("namespace/", "").split())


@pytest.fixture(scope="module")
def short_cluster(tmp_path_factory):
    from fixtures.sandbox import STANDIN_KUBELET, start_sandbox_cluster, stop_sandbox_cluster
    cluster = start_sandbox_cluster(tmp_path_factory.mktemp("short"), kubelet=STANDIN_KUBELET,
                                    watch_timeout=2, watch_history=5)
    try:
        yield cluster
    finally:
        stop_sandbox_cluster(cluster.proc)


def test_watch_timeout_ends_kubectl_get_w_with_exit_0(short_cluster):
    started = time.monotonic()
    result = short_cluster.kubectl("get", "pods", "-w", timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert 1.5 <= elapsed < 15


def test_too_old_resource_version_gets_410_expired(short_cluster):
    c = short_cluster
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod("churn")))
    for i in range(8):  # more events than the history keeps
        c.kubectl_ok("label", "pod", "churn", f"n={i}", "--overwrite")
    raw = c.kubectl_ok("get", "--raw", "/api/v1/namespaces/default/pods?watch=true&resourceVersion=1&timeoutSeconds=1")
    events = [json.loads(line) for line in raw.splitlines()]
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["code"], status["reason"], status["kind"]) == (410, "Expired", "Status")
    assert status["message"].startswith("too old resource version: 1 (")


def test_sigterm_shuts_down_kubelets_and_exits_cleanly(tmp_path):
    import signal

    from fixtures.sandbox import STANDIN_KUBELET, start_sandbox_cluster, stop_sandbox_cluster
    cluster = start_sandbox_cluster(tmp_path / "api", kubelet=STANDIN_KUBELET)
    try:
        assert cluster.info["pid"] == cluster.proc.pid
        assert json.loads((tmp_path / "api" / "server.json").read_text())["node_ips"] == {
            "node-dev-1": "127.0.0.11", "node-dev-2": "127.0.0.12", "node-weekly-1": "127.0.0.13"}
        cluster.kubectl_ok("apply", "-f", "-", stdin=dump(pod("survivor")))
        wait_for(lambda: cluster.get_json("pod", "survivor")["status"].get("phase") == "Running", 5, what="running")
        cluster.proc.send_signal(signal.SIGTERM)
        assert cluster.proc.wait(20) == 0
        log = cluster.log.read_text()
        assert "shutting down kubelets" in log and "Traceback" not in log
        assert not (tmp_path / "api" / "server.json").exists()
    finally:
        stop_sandbox_cluster(cluster.proc)
