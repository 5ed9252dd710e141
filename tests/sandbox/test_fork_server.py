"""Container starts through the fork server (island_sandbox/zygote.py) and through the unshare
path: the same exit codes and launch errors either way, nothing of the fork server leaking into the
container, and nothing outliving the kubelet's process or a launch that was cancelled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from island_sandbox import forkserver, runtime
from island_ssh.testing.waiting import wait_for

BOTH = pytest.mark.parametrize("fork_server", [True, False], ids=["fork-server", "unshare"])


def run(coro, timeout: float = 60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def plan(tmp_path: Path, argv: list[str], **extra) -> runtime.LaunchPlan:
    return runtime.LaunchPlan(container_id="c", argv=argv, env={"PATH": runtime.TOOL_PATH}, working_dir="/",
                              log_path=tmp_path / "c.log", hostname="box", **extra)


def ended(pid: int) -> bool:
    """Gone, or a zombie nobody reaps (PID 1 of this machine reaps nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def our_children() -> set[int]:
    return {int(pid) for task in Path(f"/proc/{os.getpid()}/task").iterdir()
            for pid in (task / "children").read_text().split()}


@BOTH
def test_exit_code_log_and_hostname(tmp_path, fork_server):
    async def scenario():
        container = await runtime.launch(plan(tmp_path, ["sh", "-c", 'echo "pid $$ on $(hostname)"; exit 7']),
                                         fork_server=fork_server)
        return await container.wait()
    assert run(scenario()) == 7
    assert (tmp_path / "c.log").read_text() == "pid 1 on box\n"


@BOTH
def test_death_by_signal_is_128_plus_the_signal(tmp_path, fork_server):
    # the real interpreter: a venv under /tmp (a CI clone) is hidden by the container's own /tmp;
    # a real fault, since PID 1 of a namespace ignores a SIGSEGV merely sent to it
    segfault = [os.path.realpath(sys.executable), "-I", "-S", "-c", "import ctypes; ctypes.string_at(0)"]

    async def scenario():
        crashed = await runtime.launch(plan(tmp_path, segfault), fork_server=fork_server)
        sleeper = await runtime.launch(plan(tmp_path, ["sleep", "60"]), fork_server=fork_server)
        # PID 1 without a SIGTERM handler ignores SIGTERM: the grace runs out, then SIGKILL
        return await crashed.wait(), await sleeper.stop(0.2)
    # unshare re-raises the init's signal on itself, but signal(SIGKILL, SIG_DFL) is EINVAL: it
    # says "sigprocmask unblock failed" and exits 1. The fork server's init is our child: 137.
    killed = 128 + signal.SIGKILL if fork_server else 1
    assert run(scenario()) == (128 + signal.SIGSEGV, killed)


@BOTH
def test_handled_sigterm_ends_with_the_commands_own_code(tmp_path, fork_server):
    trap = ["sh", "-c", "trap 'exit 143' TERM; echo up; while :; do sleep 0.05; done"]

    async def scenario():
        container = await runtime.launch(plan(tmp_path, trap), fork_server=fork_server)
        wait_for(lambda: (tmp_path / "c.log").read_text() == "up\n", 5, "the trap set")
        return await container.stop(10)
    assert run(scenario()) == 143


@BOTH
def test_setup_errors_are_launch_errors_with_the_kubernetes_reason(tmp_path, fork_server):
    async def scenario():
        errors = []
        for bad in (plan(tmp_path, ["no-such-command"]),
                    plan(tmp_path, ["true"], binds=[runtime.Bind(str(tmp_path / "missing"), "/mnt/x")])):
            with pytest.raises(runtime.LaunchError) as caught:
                await runtime.launch(bad, fork_server=fork_server)
            errors.append((caught.value.reason, caught.value.message))
        return errors
    (start, start_message), (create, create_message) = run(scenario())
    assert (start, start_message) == ("StartError", 'exec: "no-such-command": executable file not found in $PATH')
    assert create == "CreateContainerError"
    assert create_message == f"host path {tmp_path / 'missing'} for /mnt/x: No such file or directory"


@BOTH
def test_a_setup_past_its_timeout_is_killed_and_reported(tmp_path, fork_server):
    blocking = tmp_path / "cgroup.procs"
    os.mkfifo(blocking)  # the init's write "into its cgroup" waits for a reader that never comes

    async def scenario():
        before = our_children()
        with pytest.raises(runtime.LaunchError) as caught:
            await runtime.launch(plan(tmp_path, ["true"], cgroup_procs=str(blocking)), setup_timeout=1.0,
                                 fork_server=fork_server)
        return caught.value, our_children() - before - set(s.pid for s in forkserver._servers.values())
    error, left = run(scenario())
    assert (error.reason, error.message) == ("CreateContainerError", "container setup did not finish within 1s")
    assert left == set()


@BOTH
def test_the_command_gets_stdio_only_default_signals_and_its_own_namespaces(tmp_path, fork_server):
    async def scenario():
        container = await runtime.launch(plan(tmp_path, ["sleep", "60"]), fork_server=fork_server)
        try:
            init = container.init_pid
            # "ok" comes before the exec: until then the setup's own descriptors are open
            wait_for(lambda: Path(f"/proc/{init}/comm").read_text() == "sleep\n", 5, "the exec")
            fds = {int(fd): os.readlink(f"/proc/{init}/fd/{fd}") for fd in os.listdir(f"/proc/{init}/fd")}
            status = dict(line.partition(":\t")[::2] for line in Path(f"/proc/{init}/status").read_text().splitlines())
            namespaces = {ns: os.readlink(f"/proc/{init}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
                          for ns in ("mnt", "pid", "uts", "net")}
            code, out, _ = await runtime.exec_in(init, ["sh", "-c", "hostname; ls /proc | grep -c '^[0-9]'"],
                                                 {"PATH": runtime.TOOL_PATH}, "/", None, 10)
            return fds, status, namespaces, (code, out.decode().split())
        finally:
            await container.stop(0)
    fds, status, namespaces, exec_result = run(scenario())
    assert fds == {0: "/dev/null", 1: str(tmp_path / "c.log"), 2: str(tmp_path / "c.log")}
    # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across exec
    assert (status["SigIgn"], status["SigBlk"]) == ("0" * 16, "0" * 16)
    assert namespaces == {"mnt": True, "pid": True, "uts": True, "net": False}
    code, (hostname, processes) = exec_result
    assert (code, hostname) == (0, "box")
    assert 3 <= int(processes) < 10  # its own /proc: sleep, sh, ls, grep; not the host's hundreds


KUBELET = """
import asyncio, os, sys
from pathlib import Path
from island_sandbox import forkserver, runtime

async def main():
    pids = []
    for i in range(2):
        plan = runtime.LaunchPlan(container_id=str(i), argv=["sleep", "300"], env={"PATH": runtime.TOOL_PATH},
                                  working_dir="/", log_path=Path(sys.argv[1]), hostname=f"c{i}")
        pids.append((await runtime.launch(plan, fork_server=sys.argv[2] == "1")).init_pid)
    servers = [s.pid for s in forkserver._servers.values()]
    print(*pids, *servers, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@BOTH
def test_killing_the_kubelets_process_kills_every_container_and_the_fork_server(tmp_path, fork_server):
    kubelet = subprocess.Popen([sys.executable, "-c", KUBELET, str(tmp_path / "c.log"), "1" if fork_server else "0"],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        pids = [int(pid) for pid in kubelet.stdout.readline().split()]
        assert len(pids) == (3 if fork_server else 2)
        assert not any(ended(pid) for pid in pids)
    finally:
        kubelet.kill()
        kubelet.wait()
    wait_for(lambda: all(ended(pid) for pid in pids), 10, "every container and the fork server ended")


def test_a_dead_fork_server_fails_the_launches_it_had_and_the_next_launch_starts_another(tmp_path):
    async def scenario():
        running = await runtime.launch(plan(tmp_path, ["sleep", "60"]), fork_server=True)
        first = forkserver._servers[asyncio.get_running_loop()]
        os.kill(first.pid, signal.SIGSTOP)  # it takes no request now: the next one stays in flight
        in_flight = asyncio.create_task(runtime.launch(plan(tmp_path, ["true"]), fork_server=True))
        await asyncio.sleep(0)  # lets the launch send its request
        os.kill(first.pid, signal.SIGKILL)
        with pytest.raises(runtime.LaunchError) as caught:
            await in_flight
        after = await runtime.launch(plan(tmp_path, ["sh", "-c", "exit 5"]), fork_server=True)
        second = forkserver._servers[asyncio.get_running_loop()]
        # the container it started is the kubelet's child, not the fork server's: it lives on
        assert running.exit_code is None and not ended(running.init_pid)
        return caught.value, await after.wait(), await running.stop(0), (first.pid, second.pid)
    error, after_code, running_code, (first, second) = run(scenario())
    assert error.reason == "RunContainerError"
    assert f"the sandbox's fork server (pid {first}) ended (signal 9)" in error.message
    assert (after_code, running_code, first != second) == (5, 137, True)


def test_a_launch_cancelled_before_its_pid_came_leaves_no_container(tmp_path):
    async def scenario():
        await (await runtime.launch(plan(tmp_path, ["true"]), fork_server=True)).wait()  # the server runs
        server = forkserver._servers[asyncio.get_running_loop()]
        discarded: list[int] = []
        discard = server._discard
        server._discard = lambda pid: (discarded.append(pid), discard(pid))
        before = our_children()
        os.kill(server.pid, signal.SIGSTOP)
        launch = asyncio.create_task(runtime.launch(plan(tmp_path, ["sleep", "60"]), fork_server=True))
        await asyncio.sleep(0)  # the request is sent; its answer cannot come while the server is stopped
        launch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await launch
        os.kill(server.pid, signal.SIGCONT)
        # the clone comes, is ours, and is killed and reaped without anybody awaiting it
        deadline = asyncio.get_running_loop().time() + 10
        while not (discarded and not Path(f"/proc/{discarded[0]}").exists()):
            assert asyncio.get_running_loop().time() < deadline, f"discarded {discarded}, not reaped"
            await asyncio.sleep(0.02)
        return our_children() - before, server.usable
    left, usable = run(scenario())
    assert left == set() and usable


@BOTH
def test_the_container_runs_at_the_nice_value_it_was_given_and_its_children_too(tmp_path, fork_server):
    # field 19 of /proc/PID/stat is the nice value; the inner sh is a child of the command
    argv = ["sh", "-c", "cut -d' ' -f19 /proc/self/stat; sh -c \"cut -d' ' -f19 /proc/self/stat\""]

    async def scenario(nice):
        container = await runtime.launch(plan(tmp_path, argv, nice=nice), fork_server=fork_server)
        return await container.wait()
    assert run(scenario(10)) == 0
    assert (tmp_path / "c.log").read_text().split() == ["10", "10"]
    (tmp_path / "c.log").unlink()
    assert run(scenario(0)) == 0
    assert (tmp_path / "c.log").read_text().split() == [str(os.getpriority(os.PRIO_PROCESS, 0))] * 2
