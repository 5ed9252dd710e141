"""The sandbox kubelet with real processes: a pod's life from ContainerCreating to its end.

Each test drives one Kubelet in its own asyncio loop (no API server) and waits on reported
statuses with timeouts.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from island_sandbox.kubelet_harness import (SERVER, SIDE, free_ports, island_pod, query_island,
                                                random_node_ip, running_kubelet,
                                                server_ready, server_state, write_standin_code)
from island_sandbox.memory import CGROUP_BACKEND, RSS_BACKEND, probe_cgroup_parent
from island_sandbox.status_recorder import container, state_of

NODE_IP = random_node_ip()
NS = "default"


def run(coro, timeout: float = 60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def conditions(status: dict) -> dict:
    return {c["type"]: c for c in status["conditions"]}


def alive(pids) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def test_seed_pod_goes_creating_running_ready_and_survives_a_server_crash(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            ports = free_ports(NODE_IP)
            code = write_standin_code(tmp_path / "code")
            pod = island_pod("altraserver-liudianbo-dev-269", 269, ports, node=kubelet.node, initial_delay=0.3)
            await kubelet.start_pod(pod, {"server-pv-storage": code})
            name = pod["metadata"]["name"]

            first = rec.history[(NS, name)][0]
            assert first["phase"] == "Pending"
            assert state_of(first, SERVER) == ("waiting", {"reason": "ContainerCreating"})
            assert container(first, SERVER)["image"] == "bo602505401/jdk8-curl-libfaketime:latest"

            running = await rec.wait_for(NS, name, lambda s: server_state(s) == "running"
                                         and state_of(s, SIDE)[0] == "running" and not server_ready(s), 15)
            assert container(running, SERVER)["ready"] is False and container(running, SERVER)["started"] is True
            assert conditions(running)["Ready"]["message"] == "containers with unready status: [altraserver]"

            ready = await rec.wait_for(NS, name, server_ready, 15)
            assert ready["phase"] == "Running"
            assert conditions(ready)["Ready"]["status"] == "True"
            assert conditions(ready)["ContainersReady"]["status"] == "True"
            assert ready["hostIP"] == ready["podIP"] == NODE_IP
            assert container(ready, SERVER)["containerID"].startswith("sandbox://")

            reply = await query_island(NODE_IP, ports[2])
            assert reply["island"] == "269" and reply["port"] == ports[2]
            code_, out, _ = await kubelet.exec(NS, name, SERVER, ["sh", "-c", 'echo "$NODE_IP $SANDBOX_POD_IP $HOSTNAME"'],
                                               None)
            assert (code_, out.decode().split()) == (0, [NODE_IP, NODE_IP, name])

            await query_island(NODE_IP, ports[0], "crash 3")
            crashed = await rec.wait_for(NS, name, lambda s: server_state(s) == "terminated", 10)
            kind, details = state_of(crashed, SERVER)
            assert (details["exitCode"], details["reason"]) == (3, "Error")
            assert details["finishedAt"] >= details["startedAt"]
            assert state_of(crashed, SIDE)[0] == "running"
            assert crashed["phase"] == "Running"   # kubectl shows READY 1/2, Running
            assert conditions(crashed)["Ready"]["message"] == "containers with unready status: [altraserver]"

            log = kubelet.logs(NS, name, SERVER).decode()
            assert f"listening on {NODE_IP}" in log and "crashing with exit code 3" in log
            assert kubelet.logs(NS, name, SERVER, tail_lines=1).decode().count("\n") == 1
            assert kubelet.logs(NS, name, SERVER, tail_lines=1).decode() == log.splitlines(keepends=True)[-1]
    run(scenario())


@pytest.mark.parametrize("fail, exit_code, reason", [("exit", 0, "Completed"), ("crash:7", 7, "Error")])
def test_server_failure_from_env_is_reported_with_its_exit_code(tmp_path, fail, exit_code, reason):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            ports = free_ports(NODE_IP)
            pod = island_pod("isl-1", 1, ports, node=kubelet.node,
                             env=[{"name": "ISLAND_SERVER_FAIL", "value": fail},
                                  {"name": "ISLAND_SERVER_FAIL_AFTER", "value": "0.2"}])
            await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / "code")})
            done = await rec.wait_for(NS, "isl-1", lambda s: server_state(s) == "terminated", 15)
            details = state_of(done, SERVER)[1]
            assert (details["exitCode"], details["reason"]) == (exit_code, reason)
            assert done["phase"] == "Running"
    run(scenario())


def _backends():
    usable = probe_cgroup_parent("probe-test")
    if usable is not None:
        usable.rmdir()
    return [pytest.param(CGROUP_BACKEND, marks=pytest.mark.skipif(usable is None, reason="cgroup v1 memory not writable")),
            RSS_BACKEND]


@pytest.mark.parametrize("backend", _backends())
def test_memory_hog_over_its_limit_is_oom_killed(tmp_path, backend):
    async def scenario():
        options = {} if backend == CGROUP_BACKEND else {"memory_backend": RSS_BACKEND}
        async with running_kubelet(tmp_path / "state", NODE_IP, **options) as (kubelet, rec):
            assert kubelet.memory_backend == backend
            ports = free_ports(NODE_IP)
            pod = island_pod("isl-2", 2, ports, node=kubelet.node, memory_limit="64Mi",
                             env=[{"name": "ISLAND_SERVER_FAIL", "value": "eat:300"}])
            await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / "code")})
            done = await rec.wait_for(NS, "isl-2", lambda s: server_state(s) == "terminated", 20)
            details = state_of(done, SERVER)[1]
            assert (details["exitCode"], details["reason"]) == (137, "OOMKilled")
            assert state_of(done, SIDE)[0] == "running"
    run(scenario())


def test_stop_pod_terms_then_kills_and_reaps_everything(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            ports = free_ports(NODE_IP)
            pod = island_pod("isl-3", 3, ports, node=kubelet.node)
            await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / "code")})
            await rec.wait_for(NS, "isl-3", server_ready, 15)
            pids = [pid for group in kubelet.host_pids(NS, "isl-3").values() for pid in group]
            assert len(pids) >= 4 and not set(pids) & {os.getpid()}

            started = time.monotonic()
            await kubelet.stop_pod(NS, "isl-3", 1.0)
            took = time.monotonic() - started
            assert alive(pids) == []
            final = rec.latest(NS, "isl-3")
            server = state_of(final, SERVER)[1]
            assert (server["exitCode"], server["reason"]) == (143, "Error")   # SIGTERM, handled as a JVM does
            assert state_of(final, SIDE)[0] == "terminated"
            assert final["phase"] == "Failed"
            assert took < 5.0
            assert kubelet.pods() == []
            assert not any((tmp_path / "state" / "pods").iterdir())
    run(scenario())


def test_evicted_pod_is_failed_with_reason_and_its_processes_are_gone(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            pod = island_pod("isl-4", 4, free_ports(NODE_IP), node=kubelet.node)
            await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / "code")})
            await rec.wait_for(NS, "isl-4", lambda s: s["phase"] == "Running", 15)
            pids = [pid for group in kubelet.host_pids(NS, "isl-4").values() for pid in group]
            await kubelet.evict_pod(NS, "isl-4", "The node was low on resource: memory.")
            final = rec.latest(NS, "isl-4")
            assert (final["phase"], final["reason"], final["message"]) == (
                "Failed", "Evicted", "The node was low on resource: memory.")
            assert all(state_of(final, c)[0] == "terminated" for c in (SERVER, SIDE))
            assert alive(pids) == []
            assert ("default", "isl-4") in kubelet.pods()   # the object stays until deleted
            await kubelet.stop_pod(NS, "isl-4", 0)
            assert kubelet.pods() == []
    run(scenario())


def test_unknown_image_waits_in_err_image_pull_then_back_off(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP, image_pull_backoff=0.2) as (kubelet, rec):
            pod = island_pod("isl-5", 5, free_ports(NODE_IP), node=kubelet.node, server_image="nosuch/game:1")
            await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / "code")})
            pulled = await rec.wait_for(NS, "isl-5", lambda s: state_of(s, SERVER)[1].get("reason") == "ErrImagePull", 10)
            assert state_of(pulled, SERVER)[1]["message"].startswith('Failed to pull image "nosuch/game:1"')
            backoff = await rec.wait_for(
                NS, "isl-5", lambda s: state_of(s, SERVER)[1].get("reason") == "ImagePullBackOff"
                and state_of(s, SIDE)[0] == "running", 10)
            assert state_of(backoff, SERVER)[1]["message"].startswith('Back-off pulling image "nosuch/game:1"')
            assert backoff["phase"] == "Pending"
            with pytest.raises(KeyError, match="waiting to start"):
                kubelet.logs(NS, "isl-5", SERVER)
            await kubelet.stop_pod(NS, "isl-5", 0)
            final = state_of(rec.latest(NS, "isl-5"), SERVER)[1]
            assert final["reason"] == "ContainerStatusUnknown"
    run(scenario())


def test_bad_command_and_bad_env_are_reported_as_kubernetes_does(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            pod = island_pod("isl-6", 6, free_ports(NODE_IP), node=kubelet.node, command=["no-such-server"])
            pod["spec"]["containers"][1]["env"] = [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "a", "key": "b"}}}]
            await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / "code")})
            done = await rec.wait_for(NS, "isl-6", lambda s: server_state(s) == "terminated"
                                      and state_of(s, SIDE)[1].get("reason") == "CreateContainerConfigError", 10)
            server = state_of(done, SERVER)[1]
            assert (server["exitCode"], server["reason"]) == (128, "StartError")
            assert '"no-such-server": executable file not found in $PATH' in server["message"]
            # a Secret that does not exist: the container waits for it, in the kubelet's words
            assert state_of(done, SIDE)[1]["message"] == 'secret "a" not found'
    run(scenario())


# the host's /dev/shm before and after: never beside the one test that runs libfaketime on the host
@pytest.mark.xdist_group("host_dev_shm")
def test_shutdown_leaves_no_process_no_cgroup_and_no_faketime_shm(tmp_path):
    shm_before = {p.name for p in Path("/dev/shm").glob("*faketime*")}

    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            code = write_standin_code(tmp_path / "code")
            for i in (7, 8):
                await kubelet.start_pod(island_pod(f"isl-{i}", i, free_ports(NODE_IP), node=kubelet.node),
                                        {"server-pv-storage": code})
            for i in (7, 8):
                await rec.wait_for(NS, f"isl-{i}", server_ready, 15)
            pids = [pid for i in (7, 8) for group in kubelet.host_pids(NS, f"isl-{i}").values() for pid in group]
            cgroup_parent = kubelet.memory.parent
            await kubelet.shutdown()
            assert alive(pids) == [] and kubelet.pods() == []
            assert cgroup_parent is None or not cgroup_parent.exists()
    run(scenario())
    assert {p.name for p in Path("/dev/shm").glob("*faketime*")} <= shm_before


def our_children() -> list[int]:
    children = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        children += [int(pid) for pid in (task / "children").read_text().split()]
    return children


def test_stop_right_after_start_starts_nothing_and_leaves_no_child(tmp_path):
    before = set(our_children())   # other tests' session fixtures may keep servers running

    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            pod = island_pod("isl-9", 9, free_ports(NODE_IP), node=kubelet.node)
            await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / "code")})
            await kubelet.stop_pod(NS, "isl-9", 0)
            final = rec.latest(NS, "isl-9")
            assert [state_of(final, c)[1]["reason"] for c in (SERVER, SIDE)] == ["ContainerStatusUnknown"] * 2
            assert set(our_children()) - before == set()
    run(scenario())


def test_exec_readiness_probe_and_late_listener_keep_the_container_unready_until_they_pass(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            pod = island_pod("isl-10", 10, free_ports(NODE_IP), node=kubelet.node, initial_delay=0, period=0.1,
                             env=[{"name": "ISLAND_SERVER_LISTEN_AFTER", "value": "2.0"}])
            pod["spec"]["containers"][1]["readinessProbe"] = {
                "exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 0.1}
            await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / "code")})
            await rec.wait_for(NS, "isl-10", lambda s: state_of(s, SIDE)[0] == "running", 10)
            await kubelet.exec(NS, "isl-10", SIDE, ["touch", "/tmp/ready"], None)
            side_ready = await rec.wait_for(NS, "isl-10", lambda s: container(s, SIDE)["ready"], 5)
            assert not server_ready(side_ready)   # its port opens only after two seconds
            assert conditions(side_ready)["Ready"]["message"] == "containers with unready status: [altraserver]"
            both = await rec.wait_for(NS, "isl-10", server_ready, 10)
            assert container(both, SIDE)["ready"] and conditions(both)["Ready"]["status"] == "True"
            assert "listening on" in kubelet.logs(NS, "isl-10", SERVER).decode()
    run(scenario())
