"""End to end with the REAL kubelet: the seed-shaped pod walks Pending -> ContainerCreating ->
Running (not ready) -> ready in kubectl's JSON watch, then kubectl exec and logs round-trip."""

from __future__ import annotations

import socket
import textwrap

import pytest

from fixtures.sandbox import real_kubelet_available, wait_for
from sandbox.helpers import LineReader, dump

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not real_kubelet_available(),
                                 reason="island_sandbox/kubelet.py (the kubelet helper's) is not there yet")]

# The "game server": a second after start it listens on the pod's address; the probe sees it and
# the pod turns ready. It logs two lines, so `kubectl logs` has something to show. (The pause is
# the pod's own behaviour; select() because time.sleep breaks under libfaketime, see DESIGN.md.)
SERVER_SCRIPT = textwrap.dedent("""
    import os, select, socket, sys
    print("island server starting", flush=True)
    select.select([], [], [], 1.0)
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((os.environ.get("SANDBOX_POD_IP", "127.0.0.1"), int(sys.argv[1]))); s.listen()
    print("island server listening", flush=True)
    while True:
        c, _ = s.accept(); c.close()
""")


def free_port(*hosts: str) -> int:
    """A port free on every dev node's address (other test runs may share this machine)."""
    while True:
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        try:
            for host in hosts[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
            return port
        except OSError:
            continue


SERVER_PORT = free_port("127.0.0.11", "127.0.0.12")


def seed_pod(name: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"name": "altraserver"}},
        "spec": {
            "containers": [
                {"name": "altraserver", "image": "bo602505401/jdk8-curl-libfaketime:latest",
                 "command": ["python3", "-c", SERVER_SCRIPT, str(SERVER_PORT)],
                 "resources": {"limits": {"memory": "2048Mi"}, "requests": {"memory": "1500Mi"}},
                 "ports": [{"name": "server-port", "containerPort": SERVER_PORT, "hostPort": SERVER_PORT}],
                 "readinessProbe": {"tcpSocket": {"port": "server-port"}, "initialDelaySeconds": 0,
                                    "periodSeconds": 1, "failureThreshold": 10, "timeoutSeconds": 1}},
                {"name": "side-container", "image": "alpine:3.14.1",
                 "command": ["/bin/sh", "-ce", "tail -f /dev/null"]},
            ],
            "nodeSelector": {"branch": "dev"}, "dnsPolicy": "Default", "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 5,
        },
    }


def stage(event: dict) -> str:
    pod = event["object"]
    status = pod.get("status") or {}
    server = next((c for c in status.get("containerStatuses") or [] if c["name"] == "altraserver"), None)
    if server is None:
        return "Pending" if not pod["spec"].get("nodeName") else "Scheduled"
    state = server.get("state") or {}
    if "waiting" in state:
        return state["waiting"].get("reason") or "Waiting"
    if "running" in state:
        return "Ready" if server.get("ready") else "RunningNotReady"
    return "Terminated"


def test_seed_pod_lifecycle_exec_and_logs(sandbox_cluster):
    c = sandbox_cluster
    name = f"altraserver-e2e-{SERVER_PORT}"
    # A pod that never schedules is the watch's first event: once it is seen, kubectl has listed and
    # watches from that list's resourceVersion, so no event of the pod under test can be missed.
    sentinel = seed_pod("e2e-sentinel")
    sentinel["spec"] = {"containers": [{"name": "c", "image": "alpine:3.14.1"}], "nodeSelector": {"branch": "none"}}
    c.kubectl_ok("apply", "-f", "-", stdin=dump(sentinel))
    reader = LineReader(c.kubectl_popen("get", "pods", "-l", "name=altraserver", "-w",
                                        "--output-watch-events", "-o", "json"))
    try:
        reader.events_until(lambda ev: len(ev) >= 1, 20)
        c.kubectl_ok("apply", "-f", "-", stdin=dump(seed_pod(name)))
        events = reader.events_until(lambda ev: any(stage(e) == "Ready" for e in ev), 60)
    finally:
        reader.stop()
        c.kubectl("delete", "pod", "e2e-sentinel", "--grace-period=0", "--force")
    events = [e for e in events if e["object"]["metadata"]["name"] == name]
    stages = []
    for e in events:
        if not stages or stages[-1] != stage(e):
            stages.append(stage(e))
    assert stages[0] == "Pending" and stages[-1] == "Ready"
    for wanted in ("ContainerCreating", "RunningNotReady"):
        assert wanted in stages, stages
    assert stages.index("ContainerCreating") < stages.index("RunningNotReady") < stages.index("Ready")
    pod = c.get_json("pod", name)
    host_ip = pod["status"]["hostIP"]
    assert host_ip == c.node_ips[pod["spec"]["nodeName"]]
    with socket.create_connection((host_ip, SERVER_PORT), timeout=5):
        pass

    exec_result = c.kubectl("exec", name, "-c", "altraserver", "--", "sh", "-c", "echo $SANDBOX_POD_IP; exit 7")
    assert exec_result.returncode == 7 and exec_result.stdout.strip() == host_ip
    piped = c.kubectl("exec", "-i", name, "-c", "side-container", "--", "cat", stdin="round trip\n")
    assert (piped.returncode, piped.stdout) == (0, "round trip\n")
    logs = wait_for(lambda: "listening" in (out := c.kubectl_ok("logs", name, "-c", "altraserver")) and out,
                    10, what="server log")
    assert logs.splitlines()[:2] == ["island server starting", "island server listening"]
    assert c.kubectl_ok("logs", name, "-c", "altraserver", "--tail=1") == "island server listening\n"

    follower = c.kubectl_popen("logs", "-f", name, "-c", "altraserver")
    try:
        lines = LineReader(follower)
        assert lines.lines.get(timeout=10) == "island server starting\n"
        assert lines.lines.get(timeout=10) == "island server listening\n"
        c.kubectl_ok("delete", "pod", name, timeout=60)
        assert lines.lines.get(timeout=30) is None  # the stream ends once the container has stopped
    finally:
        lines.stop()
    assert "NotFound" in c.kubectl("get", "pod", name).stderr


def _processes_with(marker: str) -> list[int]:
    from pathlib import Path
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().split(") ", 1)[1][0]
            except (OSError, IndexError):
                continue
            if marker.encode() in cmdline and state != "Z":
                pids.append(int(entry.name))
    return pids


def test_sigterm_stops_every_pod_process(tmp_path):
    import signal
    import uuid

    from fixtures.sandbox import start_sandbox_cluster, stop_sandbox_cluster
    marker = f"island-e2e-{uuid.uuid4().hex[:8]}"
    cluster = start_sandbox_cluster(tmp_path / "api")
    try:
        pod = seed_pod("doomed-by-sigterm")
        pod["spec"]["containers"] = [{"name": "sleeper", "image": "alpine:3.14.1",
                                      "command": ["/bin/sh", "-c", f": {marker}; sleep 1000"]}]
        cluster.kubectl_ok("apply", "-f", "-", stdin=dump(pod))
        wait_for(lambda: _processes_with(marker), 20, what="the pod's process")
        cluster.proc.send_signal(signal.SIGTERM)
        assert cluster.proc.wait(30) == 0
        assert _processes_with(marker) == []
    finally:
        stop_sandbox_cluster(cluster.proc)


def test_exec_into_a_stopped_container_is_refused(sandbox_cluster):
    c = sandbox_cluster
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crashed-server"},
           "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [
               {"name": "server", "image": "alpine:3.14.1", "command": ["/bin/sh", "-c", "exit 3"]},
               {"name": "side", "image": "alpine:3.14.1", "command": ["/bin/sh", "-c", "sleep 1000"]}]}}
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod))
    try:
        wait_for(lambda: "Error" in c.kubectl_ok("get", "pod", "crashed-server", "--no-headers"), 20,
                 what="the server container's exit")
        refused = c.kubectl("exec", "crashed-server", "-c", "server", "--", "true")
        assert refused.returncode == 1 and 'container not found ("server")' in refused.stderr
        assert c.kubectl("exec", "crashed-server", "-c", "side", "--", "true").returncode == 0
    finally:
        c.kubectl("delete", "pod", "crashed-server", "--grace-period=0", "--force")
