"""OOM kills learnt from the kernel's cgroup v1 notification (island_sandbox/oom_events.py).

A process of the container other than its init is OOM-killed: the init lives on, so only the
notification (not the container's end) can tell the kubelet, which then kills the whole container
and reports OOMKilled, as Kubernetes does (memory.oom.group)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from island_sandbox.kubelet_harness import SERVER, SIDE, free_ports, island_pod, running_kubelet, write_standin_code
from island_sandbox.memory import CGROUP_BACKEND, probe_cgroup_parent
from island_sandbox.status_recorder import state_of

NS = "default"
NODE_IP = "127.0.0.37"


def _cgroups_usable() -> bool:
    usable = probe_cgroup_parent("oom-events-test")
    if usable is not None:
        usable.rmdir()
    return usable is not None


@pytest.mark.skipif(not _cgroups_usable(), reason="cgroup v1 memory not writable")
def test_an_oom_kill_of_a_child_process_ends_the_whole_container_as_oomkilled(tmp_path):
    hog = f"{sys.executable} -I -S -c 'b = bytes(1) * (300 << 20)'"

    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            assert kubelet.memory_backend == CGROUP_BACKEND
            pod = island_pod("isl-oom", 7, free_ports(NODE_IP), node=kubelet.node, memory_limit="64Mi",
                             command=["sh", "-c", f"{hog}; echo hog-ended; exec tail -f /dev/null"])
            await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / "code")})
            done = await rec.wait_for(NS, "isl-oom", lambda s: state_of(s, SERVER)[0] == "terminated", 30)
            details = state_of(done, SERVER)[1]
            assert (details["exitCode"], details["reason"]) == (137, "OOMKilled")
            assert state_of(done, SIDE)[0] == "running"

    asyncio.run(asyncio.wait_for(scenario(), 60))
