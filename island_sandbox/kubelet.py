"""The sandbox kubelet: runs each bound pod's containers as real local processes.

One ``Kubelet`` per node, all in the API server's asyncio loop (interface: /tmp/sandbox_interface.md,
kept in island_sandbox/README.md, section Kubelet). Each container gets its own mount, PID and
UTS namespaces (``runtime``), its memory limit (``memory``), its readiness probe (``probes``);
everything it goes through is reported as a complete kubelet-owned ``pod.status`` (``podstatus``).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import shutil
import signal
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from island_ssh.core.errors import IslandError
from island_sandbox import oom_events, runtime
from island_sandbox.capabilities import UnknownCapability, container_capabilities
from island_sandbox.images import ImageConfig, ImageError, ImageResolver, short_name
from island_sandbox.memory import MemoryEnforcer, MemoryGuard, process_tree
from island_sandbox.podspec import (ContainerConfigError, MissingSecret, ProbeSpec, container_argv, container_env, hosts_file, memory_limit,
                      pod_facts, probe_spec, volume_mounts)
from island_sandbox.podstatus import TERMINATED, WAITING, ContainerRecord, PodRecordView, exit_reason, pod_status, timestamp
from island_sandbox.probes import run_readiness, tcp_check
from island_sandbox.shm import remove_faketime_leftovers

log = logging.getLogger(__name__)
CONTAINER_NICE = int(os.environ.get("ISLAND_SANDBOX_CONTAINER_NICE", "10"))
"""Every container's processes run at this nice value (0-19). On a real cluster the pods run on
the nodes' own cores, apart from the API server, the master's sshd and kubectl, MySQL and the
management server; here all of them share one machine's cores, and a burst of pods starting
(entry scripts, game servers) would take the cores the control plane needs to answer, which no
real cluster does to its management host. A real kubelet puts pods below the system slices in
its cgroup tree (kubepods, cpu.shares by request) for the same reason. 0 turns it off."""
HELPER_PATIENCE = 1.0  # seconds a cancelled helper task gets before it is cancelled again
HELPER_ATTEMPTS = 5

StatusReport = Callable[[str, str, dict, str], None]
"""(namespace, name, status, uid): the uid says which incarnation of that name the status is of."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ip: str                    # 127.0.0.N, unique per node
    labels: dict[str, str]
    memory_bytes: int


def host_paths_under_private_mounts() -> list[str]:
    """The installation (virtualenv, source tree) when it lives under /tmp or /dev/shm.

    Containers here run on the host's file system, and each gets a private /tmp: a checkout in
    /tmp (a CI clone) would vanish under it, and with it the stand-in island server the pods run.
    Bound back read-only, it stays visible, as an image's own files would be."""
    wanted = {os.path.realpath(sys.prefix), os.path.realpath(Path(__file__).resolve().parents[1])}
    return sorted(p for p in wanted if any(p == top or p.startswith(top + "/") for top in ("/tmp", "/dev/shm")))


async def stop_helpers(helpers: list[asyncio.Task], what: str, patience: float = HELPER_PATIENCE,
                       attempts: int = HELPER_ATTEMPTS) -> None:
    """Cancel a container's helper tasks (memory guard, readiness probe) and wait until they end.

    A helper that outlives a cancel (one that landed where Python 3.11's asyncio swallows it) is
    cancelled again after ``patience`` seconds: a helper must never hold up ``stop_pod``, or the
    pod's deletion waits for the cluster's STOP_SLACK. After ``attempts`` it is left, logged."""
    pending = {h for h in helpers if not h.done()}
    for attempt in range(attempts):
        if not pending:
            break
        if attempt:
            log.warning("helper task(s) of %s outlived a cancel; cancelling again: %s", what,
                        ", ".join(h.get_name() for h in pending))
        for helper in pending:
            helper.cancel()
        _, pending = await asyncio.wait(pending, timeout=patience)
    if pending:
        log.error("helper task(s) of %s still run after %d cancels; left behind: %s", what, attempts,
                  ", ".join(h.get_name() for h in pending))
    await asyncio.gather(*(h for h in helpers if h.done()), return_exceptions=True)  # retrieve their ends


class KubeletError(IslandError):
    """A request to the sandbox kubelet that it cannot honour; the message says why."""


class PodNotRunning(KubeletError, KeyError):
    """The pod (or the container) is not running here, so it cannot be exec'd into or read."""


class PodNotFound(PodNotRunning):
    """This kubelet runs no pod of that namespace and name."""


class ContainerNotFound(KubeletError, KeyError):
    """The pod has no container of that name."""


class ExecTimeout(KubeletError, TimeoutError):
    """An exec ran past its timeout; its processes were killed."""


@dataclass
class _Container:
    spec: dict
    record: ContainerRecord
    log_path: Path
    process: runtime.ContainerProcess | None = None
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = "/"
    guard: MemoryGuard | None = None
    task: asyncio.Task | None = None
    capabilities: tuple[int, ...] | None = None
    """What its processes (and execs into it) keep: island_sandbox.capabilities."""


@dataclass
class _Pod:
    pod: dict
    directory: Path
    volumes: dict[str, Path | None]
    containers: list[_Container]
    start_time: str
    sandbox_ready: bool = False
    eviction_message: str | None = None
    stopping: bool = False
    conditions: dict[str, dict] = field(default_factory=dict)
    last_report: dict | None = None
    task: asyncio.Task | None = None
    uid: str = ""

    @property
    def namespace(self) -> str:
        return self.pod["metadata"].get("namespace") or "default"

    @property
    def name(self) -> str:
        return self.pod["metadata"]["name"]


class Kubelet:
    def __init__(self, node: NodeInfo, *, state_dir: Path, images: ImageResolver, report: StatusReport,
                 image_pull_backoff: float = 1.0, image_pull_backoff_max: float = 30.0,
                 memory_backend: str | None = None, clock: Callable[[], datetime] | None = None,
                 secrets: Callable[[str, str], dict | None] | None = None,
                 config_retry_seconds: float = 1.0) -> None:
        """``secrets(namespace, name)`` reads a Secret from the API server's store (None: the
        kubelet can read none, so every ``secretKeyRef`` waits, as with an absent Secret)."""
        self.node = node
        self._secrets = secrets
        self.config_retry_seconds = config_retry_seconds
        self.state_dir = Path(state_dir)
        self.images = images
        self._report_cb = report
        self.image_pull_backoff = image_pull_backoff
        self.image_pull_backoff_max = image_pull_backoff_max
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.memory = MemoryEnforcer(node.name, force_backend=memory_backend)
        # By uid, as the real kubelet's pod workers: an incarnation still stopping after a forced
        # delete and a new pod of the same name never share processes, reports or exec targets.
        self._pods: dict[str, _Pod] = {}
        self._our_pids: set[int] = set()
        log.info("kubelet %s (%s): memory limits by %s", node.name, node.ip, self.memory.backend)

    @property
    def memory_backend(self) -> str:
        """"cgroup-v1" or "rss-sampling": how memory limits are enforced on this machine."""
        return self.memory.backend

    def _now(self) -> str:
        return timestamp(self._clock())

    # -- lifecycle -----------------------------------------------------------------------------
    async def start_pod(self, pod: dict, volumes: dict[str, Path | None]) -> None:
        meta = pod["metadata"]
        key = (meta.get("namespace") or "default", meta["name"])
        uid = meta.get("uid") or uuid.uuid4().hex
        if uid in self._pods:
            log.warning("pod %s/%s (uid %s) already runs on %s; start ignored", *key, uid, self.node.name)
            return
        directory = self.state_dir / "pods" / f"{key[0]}_{key[1]}_{uid}"
        directory.mkdir(parents=True, exist_ok=True)
        containers = [
            _Container(spec=c, record=ContainerRecord(name=c["name"], image=c.get("image", "")),
                       log_path=directory / f"{c['name']}.log")
            for c in (pod.get("spec") or {}).get("containers") or []
        ]
        record = _Pod(copy.deepcopy(pod), directory, dict(volumes), containers, self._now(), uid=uid)
        self._pods[uid] = record
        self._report(record)
        record.task = asyncio.create_task(self._run_pod(record), name=f"pod {key[0]}/{key[1]}")

    async def _run_pod(self, pod: _Pod) -> None:
        for name, path in list(pod.volumes.items()):
            if path is None:  # emptyDir: a fresh directory that lives as long as the pod
                pod.volumes[name] = pod.directory / "volumes" / name
                pod.volumes[name].mkdir(parents=True, exist_ok=True)
        facts = pod_facts(pod.pod, self.node.ip)
        (pod.directory / "etc-hosts").write_text(hosts_file(facts, (pod.pod.get("spec") or {}).get("hostAliases")))
        if pod.stopping:
            return
        pod.sandbox_ready = True
        self._report(pod)
        for c in pod.containers:
            c.task = asyncio.create_task(self._run_container_reporting_failures(pod, c),
                                         name=f"{pod.name}/{c.record.name}")
        await asyncio.gather(*(c.task for c in pod.containers), return_exceptions=True)
        if all(c.record.state == TERMINATED for c in pod.containers):
            pod.sandbox_ready = False
        self._report(pod)

    async def _pull(self, pod: _Pod, c: _Container) -> ImageConfig:
        image = c.record.image
        backoff = self.image_pull_backoff
        while True:
            directory = self.images.resolve(image)
            problem = ""
            if directory is not None:
                try:
                    config = self.images.load(image, directory)
                    c.record.image_id = config.image_id
                    return config
                except (ImageError, OSError) as exc:
                    problem = str(exc)
            else:
                known = sorted(p.parent.name for p in self.images.images_dir.glob("*/image.yaml"))
                problem = (f"pull access denied for {image}, repository does not exist: the sandbox has no "
                           f"image directory {self.images.images_dir / short_name(image or '?')} "
                           f"(known: {', '.join(known) or 'none'})")
            c.record.set_waiting("ErrImagePull", f'Failed to pull image "{image}": {problem}')
            self._report(pod)
            await asyncio.sleep(min(backoff, 1.0))
            c.record.set_waiting("ImagePullBackOff", f'Back-off pulling image "{image}": {problem}')
            self._report(pod)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.image_pull_backoff_max)

    def _plan(self, pod: _Pod, c: _Container, image: ImageConfig, container_id: str,
              cgroup_procs: str | None) -> tuple[runtime.LaunchPlan, ProbeSpec | None]:
        facts = pod_facts(pod.pod, self.node.ip)
        lookup = (lambda name: self._secrets(facts.namespace, name)) if self._secrets else None
        env = container_env(c.spec, facts, dict(image.env), lookup)
        argv = container_argv(c.spec, list(image.entrypoint), list(image.cmd), env)
        binds = [runtime.Bind(host, target, True) for target, host in image.mounts]
        for mount in volume_mounts(c.spec, pod.volumes):
            source = pod.volumes[mount.volume]
            if source is None:
                raise ContainerConfigError(f"volume {mount.volume!r} has no host directory")
            if mount.sub_path:
                if mount.sub_path.startswith("/") or ".." in Path(mount.sub_path).parts:
                    raise ContainerConfigError(f"subPath {mount.sub_path!r} must be relative and stay in the volume")
                source = Path(source) / mount.sub_path
                source.mkdir(parents=True, exist_ok=True)
            binds.append(runtime.Bind(str(source), mount.mount_path, mount.read_only))
        binds.append(runtime.Bind(str(pod.directory / "etc-hosts"), "/etc/hosts", True))
        binds += [runtime.Bind(path, path, True) for path in host_paths_under_private_mounts()]
        c.env = env
        c.working_dir = c.spec.get("workingDir") or image.working_dir
        try:
            c.capabilities = container_capabilities(c.spec)
        except UnknownCapability as exc:
            raise runtime.LaunchError("CreateContainerError", str(exc)) from None
        plan = runtime.LaunchPlan(container_id=container_id, argv=argv, env=env, working_dir=c.working_dir,
                                  log_path=c.log_path, binds=binds, hostname=facts.name[:63],
                                  cgroup_procs=cgroup_procs, capabilities=c.capabilities, nice=CONTAINER_NICE)
        return plan, probe_spec(c.spec.get("readinessProbe"), c.spec, self.node.ip)

    async def _plan_when_configurable(self, pod: _Pod, c: _Container, image: ImageConfig, container_id: str,
                                      cgroup_procs: str | None):
        """``_plan``, retried while a Secret it needs is missing: the container shows waiting,
        CreateContainerConfigError with the kubelet's message, and starts once the Secret exists
        (the real kubelet retries on every pod sync). (None, None) if the pod stops meanwhile."""
        while True:
            try:
                return self._plan(pod, c, image, container_id, cgroup_procs)
            except MissingSecret as exc:
                if (c.record.state, c.record.reason, c.record.message) != (
                        WAITING, "CreateContainerConfigError", str(exc)):
                    c.record.set_waiting("CreateContainerConfigError", str(exc))
                    self._report(pod)
            if pod.stopping:
                return None, None
            await asyncio.sleep(self.config_retry_seconds)  # a sync period, not a synchronisation
            if pod.stopping:
                return None, None

    async def _run_container_reporting_failures(self, pod: _Pod, c: _Container) -> None:
        try:
            await self._run_container(pod, c)
        except Exception as exc:  # a bug or a broken host: show it on the pod, not only in a log
            log.exception("container %s of %s/%s failed to run", c.record.name, pod.namespace, pod.name)
            if c.record.state != TERMINATED:
                c.record.set_waiting("RunContainerError", f"sandbox kubelet: {type(exc).__name__}: {exc}")
                self._report(pod)

    async def _run_container(self, pod: _Pod, c: _Container) -> None:
        image = await self._pull(pod, c)
        if pod.stopping:
            return
        container_id = f"sandbox://{uuid.uuid4().hex}"
        try:
            limit = memory_limit(c.spec)
            guard = self.memory.guard(limit, container_id.split("//")[1])
        except ContainerConfigError as exc:
            c.record.set_waiting("CreateContainerConfigError", str(exc))
            self._report(pod)
            return
        c.guard = guard
        try:
            plan, probe = await self._plan_when_configurable(pod, c, image, container_id, guard.cgroup_procs)
            if plan is None:  # the pod was deleted while its container waited for a Secret
                guard.close()
                return
            process = await runtime.launch(plan)
        except ContainerConfigError as exc:
            guard.close()
            c.record.set_waiting("CreateContainerConfigError", str(exc))
            self._report(pod)
            return
        except runtime.LaunchError as exc:
            guard.close()
            if exc.reason == "StartError":  # what containerd reports for a command it cannot exec
                c.record.container_id = container_id
                c.record.set_terminated(128, "StartError", self._now(), exc.message)
            else:
                c.record.set_waiting(exc.reason, exc.message)
            self._report(pod)
            return
        except BaseException:
            guard.close()
            raise
        c.process = process
        self._our_pids.update(p for p in (process.proc.pid, process.init_pid) if p)
        c.record.set_running(container_id, self._now())
        c.record.ready = probe is None
        self._report(pod)
        label = f"{pod.namespace}/{pod.name}/{c.record.name}"
        kill = lambda: process.signal_init(signal.SIGKILL)  # noqa: E731
        helpers = [asyncio.create_task(oom_events.watch(guard, process.init_pid, kill), name=f"memory guard {label}")]
        if probe is not None:
            helpers.append(asyncio.create_task(run_readiness(probe, self._check(c, probe),
                                                             lambda ready: self._set_ready(pod, c, ready)),
                                               name=f"readiness {label}"))
        try:
            exit_code = await process.wait()
        finally:
            await stop_helpers(helpers, label)
            guard.close()
        exit_code = 137 if guard.oom_killed else exit_code
        c.record.set_terminated(exit_code, exit_reason(exit_code, guard.oom_killed), self._now())
        self._report(pod)

    def _check(self, c: _Container, probe: ProbeSpec):
        if probe.kind == "tcpSocket":
            return lambda: tcp_check(probe.host, probe.port, probe.timeout)

        async def exec_check() -> bool:
            if c.process is None:
                return False
            try:
                code, _, _ = await runtime.exec_in(c.process.init_pid, list(probe.command), c.env, c.working_dir,
                                                   None, probe.timeout, c.guard.cgroup_procs if c.guard else None,
                                                   c.capabilities)
            except (runtime.ExecTimedOut, OSError, ValueError):
                return False
            return code == 0
        return exec_check

    def _set_ready(self, pod: _Pod, c: _Container, ready: bool) -> None:
        c.record.ready = ready
        self._report(pod)

    def _report(self, pod: _Pod) -> None:
        view = PodRecordView([c.record for c in pod.containers], self.node.ip, pod.start_time,
                             (pod.pod.get("spec") or {}).get("restartPolicy") or "Always",
                             pod.sandbox_ready, pod.eviction_message, pod.conditions)
        status = pod_status(view, self._now())
        pod.conditions = {cond["type"]: cond for cond in status["conditions"]}
        if status == pod.last_report:
            return
        pod.last_report = status
        try:
            self._report_cb(pod.namespace, pod.name, copy.deepcopy(status), pod.uid)
        except Exception:
            log.exception("status report for %s/%s failed", pod.namespace, pod.name)

    async def _kill_all(self, pod: _Pod, grace: float) -> None:
        pod.stopping = True
        for c in pod.containers:
            if c.process is None and c.task is not None:
                c.task.cancel()  # still pulling or launching: nothing of it must start now
        await asyncio.gather(*(c.process.stop(grace) for c in pod.containers if c.process is not None))
        tasks = [t for t in [pod.task, *(c.task for c in pod.containers)] if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        now = self._now()
        for c in pod.containers:
            if c.record.state != TERMINATED:
                c.record.set_terminated(137, "ContainerStatusUnknown", now,
                                        "The container could not be located when the pod was terminated")
        pod.sandbox_ready = False
        self._report(pod)

    async def stop_pod(self, namespace: str, name: str, grace_seconds: float, uid: str | None = None) -> None:
        """Stop the incarnation ``uid`` of that pod (None: every incarnation of that name)."""
        pods = [p for p in self._pods.values()
                if (p.namespace, p.name) == (namespace, name) and uid in (None, p.uid)]
        await asyncio.gather(*(self._stop(p, grace_seconds) for p in pods))

    async def _stop(self, pod: _Pod, grace_seconds: float) -> None:
        await self._kill_all(pod, grace_seconds)
        if self._pods.get(pod.uid) is pod:
            del self._pods[pod.uid]
        await asyncio.to_thread(shutil.rmtree, pod.directory, ignore_errors=True)  # not in the loop

    async def evict_pod(self, namespace: str, name: str, message: str, uid: str | None = None) -> None:
        pod = self._pod(namespace, name, uid)
        pod.eviction_message = message
        self._report(pod)
        await self._kill_all(pod, 0)

    async def shutdown(self) -> None:
        await asyncio.gather(*(self._stop(pod, 0) for pod in list(self._pods.values())), return_exceptions=True)
        self.memory.close()
        remove_faketime_leftovers(self._our_pids)

    # -- queries -------------------------------------------------------------------------------
    def pods(self) -> list[tuple[str, str]]:
        """(namespace, name) of every pod incarnation here (a name twice while an old one stops)."""
        return [(p.namespace, p.name) for p in self._pods.values()]

    def uids(self, namespace: str, name: str) -> list[str]:
        """The uids of the incarnations of that pod here, oldest first."""
        return [p.uid for p in self._pods.values() if (p.namespace, p.name) == (namespace, name)]

    def host_pids(self, namespace: str, name: str, uid: str | None = None) -> dict[str, list[int]]:
        """Host PIDs of each running container: the process the kubelet waits on (the init itself
        from the fork server, ``unshare`` on the old path), then the init and its descendants."""
        pod = self._pod(namespace, name, uid)
        return {c.record.name: [c.process.proc.pid, *process_tree(c.process.init_pid)]
                for c in pod.containers if c.process is not None and c.process.exit_code is None}

    def _pod(self, namespace: str, name: str, uid: str | None = None) -> _Pod:
        """The incarnation ``uid`` of that pod; without a uid the newest one not stopping (else the
        newest): what a name means to a caller that knows no uid (the harness, tests)."""
        if uid is not None:
            pod = self._pods.get(uid)
            found = [pod] if pod is not None and (pod.namespace, pod.name) == (namespace, name) else []
        else:
            found = [p for p in self._pods.values() if (p.namespace, p.name) == (namespace, name)]
            found = [p for p in found if not p.stopping] or found
        if not found:
            raise PodNotFound(f'pods "{name}" not found on node {self.node.name}')
        return found[-1]

    def _container(self, pod: _Pod, container: str | None) -> _Container:
        names = [c.record.name for c in pod.containers]
        if not container:
            if len(pod.containers) == 1:
                return pod.containers[0]
            raise ContainerNotFound(f"a container name must be specified for pod {pod.name}, "
                                    f"choose one of: [{' '.join(names)}]")
        for c in pod.containers:
            if c.record.name == container:
                return c
        raise ContainerNotFound(f"container {container} is not valid for pod {pod.name}")

    async def exec(self, namespace: str, name: str, container: str, argv: list[str],
                   stdin: bytes | None, timeout: float = 60.0, uid: str | None = None) -> tuple[int, bytes, bytes]:
        pod = self._pod(namespace, name, uid)
        c = self._container(pod, container)
        if pod.last_report and pod.last_report["phase"] in ("Succeeded", "Failed"):
            raise PodNotRunning("cannot exec into a container in a completed pod; "
                                f"current phase is {pod.last_report['phase']}")
        if c.process is None or c.process.exit_code is not None:
            raise PodNotRunning(f'unable to upgrade connection: container not found ("{c.record.name}")')
        try:
            code, out, err = await runtime.exec_in(c.process.init_pid, argv, c.env, c.working_dir, stdin, timeout,
                                                   c.guard.cgroup_procs if c.guard else None, c.capabilities)
        except runtime.ExecTimedOut as exc:
            raise ExecTimeout(str(exc), command=" ".join(argv)) from None
        except ValueError as exc:
            raise KubeletError(str(exc), command=" ".join(argv)) from None
        return code, out, err

    def logs(self, namespace: str, name: str, container: str, tail_lines: int | None = None,
             uid: str | None = None) -> bytes:
        pod = self._pod(namespace, name, uid)
        c = self._container(pod, container)
        try:
            data = c.log_path.read_bytes()
        except FileNotFoundError:
            raise PodNotRunning(f'container "{c.record.name}" in pod "{name}" is waiting to start: '
                                f"{c.record.reason or 'ContainerCreating'}") from None
        if tail_lines is None:
            return data
        if tail_lines <= 0:
            return b""
        lines = data.splitlines(keepends=True)
        return b"".join(lines[-tail_lines:])
