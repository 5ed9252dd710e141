"""What each container sees: its own clock file and /tmp, a read-only code mount, exec and logs,
and no trace of any of it on the host."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from island_sandbox.kubelet import host_paths_under_private_mounts, ContainerNotFound, ExecTimeout, PodNotFound
from island_sandbox.kubelet_harness import (SERVER, SIDE, free_ports, island_pod, query_island,
                                                random_node_ip, running_kubelet,
                                                server_ready, write_standin_code)

NODE_IP = random_node_ip()
NS = "default"
DAY = 86400


def run(coro, timeout: float = 60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def eventually(probe, timeout: float, interval: float = 0.1):
    """Poll an async probe until it returns something truthy; its last value on timeout is None."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            return None
        await asyncio.sleep(interval)


async def two_islands(kubelet, rec, tmp_path):
    code = write_standin_code(tmp_path / "code")
    islands = {}
    for island_id in (11, 12):
        ports = free_ports(NODE_IP)
        name = f"isl-{island_id}"
        await kubelet.start_pod(island_pod(name, island_id, ports, node=kubelet.node), {"server-pv-storage": code})
        islands[name] = ports
    for name in islands:
        await rec.wait_for(NS, name, server_ready, 15)
    return code, islands


def test_changing_one_islands_clock_changes_only_that_island(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            _, islands = await two_islands(kubelet, rec, tmp_path)
            (a, a_ports), (b, b_ports) = islands.items()
            before = await query_island(NODE_IP, a_ports[2])
            assert abs(before["epoch"] - time.time()) < 5

            code, _, err = await kubelet.exec(NS, a, SERVER, ["sh", "-c", f"echo +{DAY} > $FAKETIME_TIMESTAMP_FILE"],
                                              None)
            assert (code, err) == (0, b"")
            changed_at = time.monotonic()

            async def a_is_a_day_ahead():
                reply = await query_island(NODE_IP, a_ports[2])
                return reply if reply["epoch"] - time.time() > DAY - 60 else None
            shifted = await eventually(a_is_a_day_ahead, 2.0)
            assert shifted is not None, "island A's clock did not move within 2 s"
            assert time.monotonic() - changed_at < 2.0
            other = await query_island(NODE_IP, b_ports[2])
            assert abs(other["epoch"] - time.time()) < 5, "island B's clock moved with A's"

            # Each pod has its own /tmp: the clock files differ and the host's /tmp has neither.
            _, a_file, _ = await kubelet.exec(NS, a, SERVER, ["cat", "/tmp/server-faketime.rc"], None)
            _, b_file, _ = await kubelet.exec(NS, b, SERVER, ["cat", "/tmp/server-faketime.rc"], None)
            assert (a_file, b_file) == (f"+{DAY}\n".encode(), b"+0\n")
            _, side_tmp, _ = await kubelet.exec(NS, a, SIDE, ["ls", "-A", "/tmp"], None)
            # containers of one pod do not share /tmp either: the side container's is empty but for
            # an installation under /tmp that the kubelet binds back (a CI clone in /tmp)
            kept = sorted({Path(p).parts[2] for p in host_paths_under_private_mounts() if p.startswith("/tmp/")})
            assert side_tmp == "".join(f"{name}\n" for name in kept).encode()
    host_file = Path("/tmp/server-faketime.rc")
    existed = host_file.exists()
    run(scenario())
    assert host_file.exists() == existed


def test_mounts_read_only_code_loader_intact_and_nothing_left_on_host(tmp_path):
    host_paths = [Path("/home/server"), Path("/usr/lib64/faketime")]
    existed = {p: p.exists() for p in host_paths}

    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            code, islands = await two_islands(kubelet, rec, tmp_path)
            name = next(iter(islands))
            rc, _, err = await kubelet.exec(NS, name, SERVER, ["touch", "/home/server/written"], None)
            assert rc != 0 and b"Read-only file system" in err
            assert not (code / "written").exists()
            rc, out, _ = await kubelet.exec(NS, name, SERVER, ["ls", "/usr/lib64", "/home/server"], None)
            assert rc == 0 and b"ld-linux-x86-64.so.2" in out and b"start.sh" in out
            rc, out, _ = await kubelet.exec(NS, name, SERVER, ["cat", "/etc/hosts"], None)
            assert f"{NODE_IP}\t{name}".encode() in out
            assert {p: p.exists() for p in host_paths} == existed
    run(scenario())
    assert {p: p.exists() for p in host_paths} == existed


def test_exec_passes_stdin_stdout_stderr_exit_code_and_times_out(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            _, islands = await two_islands(kubelet, rec, tmp_path)
            name = next(iter(islands))
            rc, out, err = await kubelet.exec(
                NS, name, SIDE, ["sh", "-c", "read line; echo \"got $line\"; echo oops >&2; exit 5"], b"hello\n")
            assert (rc, out, err) == (5, b"got hello\n", b"oops\n")
            rc, out, _ = await kubelet.exec(NS, name, SIDE, ["sh", "-c", "echo $$; ps -o pid= -p 1"], None)
            assert rc == 0 and out.split()[1] == b"1"   # inside the container's PID namespace
            with pytest.raises(ExecTimeout):
                await kubelet.exec(NS, name, SIDE, ["tail", "-f", "/dev/null"], None, timeout=0.5)
            with pytest.raises(ContainerNotFound):
                await kubelet.exec(NS, name, "nope", ["true"], None)
            with pytest.raises(PodNotFound):
                await kubelet.exec(NS, "no-such-pod", SIDE, ["true"], None)
    run(scenario())


def test_logs_are_the_containers_output_with_tail(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", NODE_IP) as (kubelet, rec):
            _, islands = await two_islands(kubelet, rec, tmp_path)
            name, ports = next(iter(islands.items()))
            for word in ("one", "two", "three"):
                await query_island(NODE_IP, ports[1], word)
            log = kubelet.logs(NS, name, SERVER).decode().splitlines()
            assert log[0].startswith("island-server[11]: starting")
            assert [line.split(":")[2].strip() for line in log[-3:]] == ["'one' -> {\"error\"", "'two' -> {\"error\"",
                                                                         "'three' -> {\"error\""]
            assert kubelet.logs(NS, name, SERVER, tail_lines=2).decode().splitlines() == log[-2:]
            assert kubelet.logs(NS, name, SIDE) == b""
    run(scenario())
