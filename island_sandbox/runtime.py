"""Container processes: start one in its own namespaces, stop it, exec into it. Thin I/O.

Process shape of one container (the default, the fork server; see zygote.py)::

    kubelet (us) ── zygote.py (one per event loop, started on first launch, python -I -S)
       │                 │ clone3(CLONE_PARENT | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS) per launch
       └── parent of ── container init (PID 1 inside: container_init's setup) ─exec→ the command

We send the zygote the spec, the status pipe's write end and the log (SCM_RIGHTS); it clones the
init as *our* child and answers its PID. So we wait on the init itself and get its exit status
(killed by a signal: 128 + the signal), with no process between. If we die, the init's
parent-death signal (SIGKILL) takes the whole PID namespace with it, and the zygote's its own:
nothing outlives the kubelet. About 4 ms of CPU a start instead of ~23 ms (an interpreter, setpriv
and unshare each time).

``ISLAND_SANDBOX_FORK_SERVER=0`` (or ``launch(..., fork_server=False)``) keeps the old shape::

    kubelet (us) ── setpriv --pdeathsig KILL ─exec→ unshare --mount --pid --uts --fork --mount-proc
                      --kill-child=SIGKILL ── container_init.py (PID 1 inside) ─exec→ the command

where we wait on ``unshare``, which exits with the init's status; if we die, pdeathsig kills
``unshare``, which kills the init (--kill-child). (``unshare`` cannot re-raise SIGKILL on itself:
an init killed by SIGKILL ends it with exit code 1 there, 137 with the fork server.)

Either way signals go to the init through a pidfd, so a recycled PID can never be hit, and an init
without a SIGTERM handler ignores SIGTERM (as in Docker): ``stop`` then falls back to SIGKILL after
the grace period. We learn that our child ended from its pidfd becoming readable in the loop
(``Child``), not from asyncio's default child watcher, which starts one thread per process blocked
in waitpid: a burst of 500 islands is 1,000 such threads, each started in the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from island_sandbox import container_init, forkserver
from island_sandbox.capabilities import setpriv_bounding_set

INIT_SCRIPT = Path(container_init.__file__)
FORK_SERVER_ENV = "ISLAND_SANDBOX_FORK_SERVER"
TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class LaunchError(Exception):
    """The container could not be started; ``reason`` is the Kubernetes reason to report."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ExecTimedOut(Exception):
    pass


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class LaunchPlan:
    container_id: str
    argv: list[str]
    env: dict[str, str]
    working_dir: str
    log_path: Path
    binds: list[Bind] = field(default_factory=list)
    hostname: str = ""
    cgroup_procs: str | None = None
    capabilities: tuple[int, ...] | None = None
    """Capability numbers the command keeps (island_sandbox.capabilities); None keeps all (tests)."""
    nice: int = 0
    """The container's scheduling priority (0 = the kubelet's own, 19 the lowest; kubelet.py's
    CONTAINER_NICE says why pods run lower)."""

    def init_spec(self) -> dict:
        return {
            "capabilities": None if self.capabilities is None else list(self.capabilities),
            "argv": self.argv,
            "env": self.env,
            "working_dir": self.working_dir,
            "hostname": self.hostname,
            "cgroup_procs": self.cgroup_procs,
            "nice": self.nice,
            "binds": [{"source": b.source, "target": b.target, "read_only": b.read_only} for b in self.binds],
        }


def exit_code_of(returncode: int) -> int:
    """asyncio's returncode (negative: killed by that signal) as a container exit code."""
    return 128 - returncode if returncode < 0 else returncode


def _child_pid(parent: int) -> int | None:
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


class Child:
    """A child process we reap: ``wait()`` resolves when its pidfd turns readable (it ended).

    The interface of asyncio.subprocess.Process that the kubelet uses (pid, returncode, wait,
    kill), without a watcher thread: the loop polls the pidfd with everything else. Wraps a Popen
    (the unshare path) or a bare PID (a clone of the fork server's, made our child by CLONE_PARENT);
    either way the PID stays ours until we reap it here, so the pidfd cannot name another process."""

    def __init__(self, pid: int, popen: subprocess.Popen | None = None) -> None:
        self._popen = popen
        self.pid = pid
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[int] = self._loop.create_future()
        self.pidfd = os.pidfd_open(pid)  # valid until we reap it, even once it has ended
        self._loop.add_reader(self.pidfd, self._on_readable)

    def _reap(self) -> int | None:
        if self._popen is not None:
            return self._popen.poll()
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped behind our back (nothing here does that): call it killed
            return -signal.SIGKILL
        return os.waitstatus_to_exitcode(status) if pid else None

    def _on_readable(self) -> None:
        returncode = self._reap()
        if returncode is None:  # not ended after all (never seen; harmless)
            return
        self.returncode = returncode
        self._loop.remove_reader(self.pidfd)
        os.close(self.pidfd)
        if not self._done.done():
            self._done.set_result(returncode)

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)


class ContainerProcess:
    def __init__(self, proc: Child, init_pid: int, pidfd: int) -> None:
        self.proc = proc
        self.init_pid = init_pid
        self._pidfd = pidfd
        self._exit_code: int | None = None

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    async def wait(self) -> int:
        returncode = await self.proc.wait()
        if self._exit_code is None:
            self._exit_code = exit_code_of(returncode)
            os.close(self._pidfd)
        return self._exit_code

    def signal_init(self, sig: int) -> None:
        if self._exit_code is not None:
            return
        try:
            signal.pidfd_send_signal(self._pidfd, sig)
        except ProcessLookupError:
            pass

    async def stop(self, grace: float, kill_timeout: float = 10.0) -> int:
        if self._exit_code is not None:
            return self._exit_code
        if grace > 0:
            self.signal_init(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace):
                    return await asyncio.shield(self.wait())
            except TimeoutError:
                pass
        self.signal_init(signal.SIGKILL)
        try:
            async with asyncio.timeout(kill_timeout):
                return await asyncio.shield(self.wait())
        except TimeoutError:
            self.proc.kill()  # the init itself, or unshare, whose death kills the init (--kill-child)
            return await self.wait()


async def _read_status_line(fd: int, timeout: float) -> bytes:
    """The init's one status line ("ok\n" or "error ..."), or what it wrote before closing the pipe.
    Read straight off the descriptor in the loop (no transport and stream for one line); ``fd``
    is closed on the way out."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    got = bytearray()

    def on_readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        got.extend(chunk)
        if (not chunk or b"\n" in got) and not done.done():
            loop.remove_reader(fd)
            done.set_result(bytes(got).partition(b"\n")[0] + (b"\n" if b"\n" in got else b""))

    os.set_blocking(fd, False)
    loop.add_reader(fd, on_readable)
    try:
        # not wait_for: a cancel (the pod stopped while its container starts) must not be swallowed
        async with asyncio.timeout(timeout):
            return await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def fork_server_by_default() -> bool:
    """The fork server unless ISLAND_SANDBOX_FORK_SERVER=0 (the unshare path, to compare)."""
    return os.environ.get(FORK_SERVER_ENV, "1") != "0"


def _start_unshare(plan: LaunchPlan, status_fd: int, log_fd: int) -> Child:
    env = {"PATH": TOOL_PATH, "ISLAND_SANDBOX_STATUS_FD": str(status_fd), "ISLAND_SANDBOX_LOG_FD": str(log_fd),
           "ISLAND_SANDBOX_CONTAINER_SPEC": container_init.encode_spec(plan.init_spec())}
    try:
        popen = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--",
             "unshare", "--mount", "--pid", "--uts", "--fork", "--mount-proc", "--kill-child=SIGKILL", "--",
             sys.executable, "-I", "-S", str(INIT_SCRIPT)],
            stdin=subprocess.DEVNULL, env=env, pass_fds=(status_fd, log_fd), start_new_session=True)
    except OSError as exc:
        raise LaunchError("RunContainerError", f"cannot start the container runtime ({exc}); the sandbox needs "
                          "setpriv, unshare and nsenter from util-linux") from None
    return Child(popen.pid, popen)


def _discard(pid: int) -> None:
    Child(pid).kill()  # reaped once it has ended, by the loop like any other


async def _clone_by_fork_server(plan: LaunchPlan, status_fd: int, log_fd: int) -> Child:
    try:
        server = forkserver.for_this_loop({"PATH": TOOL_PATH}, _discard)
    except OSError as exc:
        raise LaunchError("RunContainerError", f"cannot start the sandbox's fork server ({exc})") from None
    try:
        pid = await server.spawn(plan.init_spec(), status_fd, log_fd)
    except forkserver.ForkServerError as exc:
        raise LaunchError("RunContainerError", f"cannot start the container: {exc}") from None
    return Child(pid)


async def launch(plan: LaunchPlan, setup_timeout: float = 30.0, *,
                 fork_server: bool | None = None) -> ContainerProcess:
    """Start the container; returns once its command has been exec'd, or raises LaunchError.
    ``fork_server`` None: as ``fork_server_by_default()``."""
    by_fork_server = fork_server_by_default() if fork_server is None else fork_server
    read_fd, write_fd = os.pipe()
    try:
        # The container's log is handed to the init as a descriptor of its own, which it puts on
        # the command's stdout and stderr: what setpriv, unshare or the fork server say themselves
        # goes to the kubelet's log, never into `kubectl logs`.
        with open(plan.log_path, "ab") as log:
            if by_fork_server:
                proc = await _clone_by_fork_server(plan, write_fd, log.fileno())
            else:
                proc = _start_unshare(plan, write_fd, log.fileno())
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    try:
        line = await _read_status_line(read_fd, setup_timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise LaunchError("CreateContainerError", f"container setup did not finish within {setup_timeout:.0f}s")
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    text = line.decode(errors="replace").strip()
    if text != "ok":
        await proc.wait()
        if text.startswith("error "):
            _, reason, message = (text.split(" ", 2) + [""])[:3]
            raise LaunchError(reason, message)
        raise LaunchError("StartError", f"container setup ended without a word (exit {proc.returncode}); "
                          f"see {plan.log_path}")
    pidfd = -1
    if by_fork_server:  # the init is the child we hold: its pidfd is good until we reap it
        init_pid: int | None = proc.pid
        if proc.returncode is None:
            pidfd = os.dup(proc.pidfd)
    else:
        init_pid = _child_pid(proc.pid)
        try:
            pidfd = os.pidfd_open(init_pid) if init_pid else -1
        except ProcessLookupError:
            pass
    if pidfd < 0:
        # The command already exited between "ok" and here: nothing left to signal.
        returncode = await proc.wait()
        dead = ContainerProcess(proc, init_pid or 0, os.open("/dev/null", os.O_RDONLY))
        dead._exit_code = exit_code_of(returncode)
        return dead
    return ContainerProcess(proc, init_pid, pidfd)


async def exec_in(init_pid: int, argv: list[str], env: dict[str, str], working_dir: str,
                  stdin: bytes | None, timeout: float, cgroup_procs: str | None = None,
                  capabilities: tuple[int, ...] | None = None) -> tuple[int, bytes, bytes]:
    """Run argv in the container's mount+PID+UTS namespaces with its environment (and, as in a
    real exec, the container's capabilities only)."""
    if not argv:
        raise ValueError("exec needs a command")
    if "=" in argv[0]:
        raise ValueError(f"exec: command {argv[0]!r} contains '=' (env would take it for a variable)")
    # env -i runs after nsenter entered the namespaces, so LD_PRELOAD and friends resolve there.
    # setpriv runs inside, after nsenter (which needs the capabilities it then gives up)
    limit = [] if capabilities is None else ["setpriv", f"--bounding-set={setpriv_bounding_set(capabilities)}", "--"]
    command = ["nsenter", "-t", str(init_pid), "-m", "-p", "-u", "--", *limit,
               "env", "-i", "-C", working_dir, "--", *[f"{k}={v}" for k, v in env.items()], *argv]
    if cgroup_procs:
        command = ["sh", "-c", 'echo $$ > "$1" && shift && exec "$@"', "sh", cgroup_procs, *command]
    proc = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={"PATH": TOOL_PATH},
        start_new_session=True)
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel (see probes.py)
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(stdin)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(proc.pid, signal.SIGKILL)  # nsenter and its forked child share this group
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise ExecTimedOut(f"exec {argv[0]!r} ran past {timeout:.0f}s and was killed") from None
    return exit_code_of(proc.returncode), out, err
