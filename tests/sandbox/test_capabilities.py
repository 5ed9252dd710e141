"""A container keeps the capabilities containerd would give it, and no more (issue 11, hole 1):
an island's server, rendered with the product's default settings, cannot set the node's clock.

On the code before, the sandbox ignored securityContext and every container ran as root with all
of the host's capabilities (CAP_SYS_TIME included), whatever the pod said."""

from __future__ import annotations

import asyncio

import pytest

from island_sandbox.capabilities import DEFAULTS, NUMBERS, container_capabilities, UnknownCapability
from island_sandbox.kubelet_harness import (SERVER, SIDE, free_ports, island_pod, random_node_ip, running_kubelet,
                                            server_ready, write_standin_code)
from island_ssh.core.manifests import IslandSpec, render_pod
from island_ssh.core.settings import IslandSettings
from island_ssh.resources import load_template

NODE_IP = random_node_ip()
NS = "default"
SYS_TIME = NUMBERS["CAP_SYS_TIME"]
# settimeofday(NULL, &tz) with the kernel's own timezone: changes nothing, but needs CAP_SYS_TIME
TRY_SET_CLOCK = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
class TV(ctypes.Structure): _fields_ = [("s", ctypes.c_long), ("us", ctypes.c_long)]
class TZ(ctypes.Structure): _fields_ = [("west", ctypes.c_int), ("dst", ctypes.c_int)]
tv, tz = TV(), TZ()
libc.gettimeofday(ctypes.byref(tv), ctypes.byref(tz))
ok = libc.settimeofday(None, ctypes.byref(tz)) == 0
print("set" if ok else os.strerror(ctypes.get_errno()))
"""


def run(coro, timeout: float = 60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def mask(numbers) -> int:
    return sum(1 << n for n in numbers)


def capability_sets(status: bytes) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1], 16)
            for line in status.decode().splitlines() if line.startswith("Cap")}


def product_security_context(**islands) -> dict | None:
    """The server container's securityContext as island_ssh renders it."""
    spec = IslandSpec(1, "刘电波", "dev", token="q3Jx2W0mZ7cR9kPz4hV1bA")
    pod = render_pod(spec, IslandSettings(**islands), NS, load_template("pod"))
    return pod["spec"]["containers"][0].get("securityContext")


async def started(kubelet, rec, tmp_path, name: str, context: dict | None) -> None:
    ports = free_ports(NODE_IP)
    pod = island_pod(name, 1, ports, node=kubelet.node)
    if context is not None:
        pod["spec"]["containers"][0]["securityContext"] = context
    await kubelet.start_pod(pod, {"server-pv-storage": write_standin_code(tmp_path / name)})
    await rec.wait_for(NS, name, server_ready, 15)


def test_an_island_server_cannot_set_the_clock(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            await started(kubelet, rec, tmp_path, "isl-default", product_security_context())
            expected = mask(NUMBERS[n] for n in DEFAULTS)
            _, init, _ = await kubelet.exec(NS, "isl-default", SERVER, ["cat", "/proc/1/status"], None)
            _, own, _ = await kubelet.exec(NS, "isl-default", SERVER, ["cat", "/proc/self/status"], None)
            for where in (capability_sets(init), capability_sets(own)):  # the server, and an exec
                assert where["CapEff"] == where["CapPrm"] == where["CapBnd"] == expected, where
                assert not where["CapEff"] & (1 << SYS_TIME)
            code, out, err = await kubelet.exec(NS, "isl-default", SERVER, ["python3", "-c", TRY_SET_CLOCK], None)
            assert (code, out.strip(), err) == (0, b"Operation not permitted", b"")
            _, side, _ = await kubelet.exec(NS, "isl-default", SIDE, ["cat", "/proc/1/status"], None)
            assert capability_sets(side)["CapEff"] == expected
    run(scenario())


def test_added_capabilities_are_given_as_asked(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            await started(kubelet, rec, tmp_path, "isl-net", product_security_context(capabilities_add=["NET_ADMIN"]))
            _, init, _ = await kubelet.exec(NS, "isl-net", SERVER, ["cat", "/proc/1/status"], None)
            assert capability_sets(init)["CapEff"] == mask(NUMBERS[n] for n in (*DEFAULTS, "CAP_NET_ADMIN"))
            # the seed's pod asked for SYS_TIME, and Kubernetes would grant it: so does the sandbox
            await started(kubelet, rec, tmp_path, "isl-seed", {"capabilities": {"add": ["NET_ADMIN", "SYS_TIME"]}})
            _, init, _ = await kubelet.exec(NS, "isl-seed", SERVER, ["cat", "/proc/1/status"], None)
            assert capability_sets(init)["CapEff"] & (1 << SYS_TIME)
    run(scenario())


def test_capability_rules_follow_containerd():
    defaults = set(NUMBERS[n] for n in DEFAULTS)
    assert set(container_capabilities({})) == defaults
    assert set(container_capabilities({"securityContext": {"capabilities": {"drop": ["ALL"],
                                                                            "add": ["net_bind_service"]}}})) == {10}
    assert set(container_capabilities({"securityContext": {"privileged": True}})) == set(NUMBERS.values())
    assert set(container_capabilities({"securityContext": {"capabilities": {"add": ["ALL"], "drop": ["SYS_TIME"]}}})
               ) == set(NUMBERS.values()) - {SYS_TIME}
    with pytest.raises(UnknownCapability, match='unknown capability "CAP_CAP_SYS_TIME"'):
        container_capabilities({"securityContext": {"capabilities": {"add": ["CAP_SYS_TIME"]}}})
