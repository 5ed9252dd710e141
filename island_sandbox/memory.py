"""Container memory limits: the cgroup v1 memory controller, or RSS sampling where it is unusable.

cgroup v1 (``/sys/fs/cgroup/memory``): each limited container gets a child of the kubelet's own
memory cgroup (so nothing leaves the cgroup its parent put us in), ``memory.limit_in_bytes`` set,
and its init process joins it before exec. The kernel's OOM killer does the enforcement; the
guard watches ``memory.oom_control``'s ``oom_kill`` counter and then kills the whole container, as
Kubernetes reports it: OOMKilled, exit code 137.

Fallback: every ``interval`` seconds, sum VmRSS over the container's process tree and SIGKILL the
container's init when the sum passes the limit. Coarser (a fast allocation can overshoot between
samples) but needs nothing from the kernel.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")
CGROUP_BACKEND, RSS_BACKEND = "cgroup-v1", "rss-sampling"


def own_memory_cgroup(root: Path = CGROUP_V1_MEMORY) -> Path | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return root / path.lstrip("/")
    return None


def probe_cgroup_parent(tag: str) -> Path | None:
    """Our own parent cgroup for containers if the memory controller is writable, else None."""
    base = own_memory_cgroup()
    if base is None or not (base / "memory.limit_in_bytes").exists():
        return None
    parent = base / f"island-sandbox.{os.getpid()}.{tag}"
    try:
        parent.mkdir(exist_ok=True)
        probe = parent / "probe"
        probe.mkdir(exist_ok=True)
        (probe / "memory.limit_in_bytes").write_text(str(64 << 20))
        probe.rmdir()
    except OSError as exc:
        log.info("cgroup v1 memory controller not usable under %s (%s); sampling RSS instead", base, exc)
        try:
            parent.rmdir()
        except OSError:
            pass
        return None
    _remove_stale_siblings(base)
    return parent


def _remove_stale_siblings(base: Path) -> None:
    """Empty cgroups left by sandbox kubelets that died without cleaning up."""
    for stale in base.glob("island-sandbox.*"):
        pid = stale.name.split(".")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            for child in [*stale.iterdir()] if stale.is_dir() else []:
                if child.is_dir():
                    try:
                        child.rmdir()
                    except OSError:
                        pass
            try:
                stale.rmdir()
            except OSError:
                pass


def process_tree(root_pid: int) -> list[int]:
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                todo.extend(int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        except (OSError, ValueError):
            continue
    return pids


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class MemoryGuard:
    """Enforces one container's limit; ``watch`` runs while the container runs."""

    backend = "none"
    cgroup_procs: str | None = None

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.oom_killed = False

    async def watch(self, root_pid: int, kill: Callable[[], None], interval: float = 0.1) -> None:
        return None

    def close(self) -> None:
        pass


class CgroupGuard(MemoryGuard):
    backend = CGROUP_BACKEND

    def __init__(self, limit: int, parent: Path, container_id: str) -> None:
        super().__init__(limit)
        self.path = parent / container_id
        self.path.mkdir()
        (self.path / "memory.limit_in_bytes").write_text(str(limit))
        swap = self.path / "memory.memsw.limit_in_bytes"
        if swap.exists():
            try:
                swap.write_text(str(limit))  # no escape into swap (there is none here, but still)
            except OSError:
                pass
        self.cgroup_procs = str(self.path / "cgroup.procs")

    def oom_kills(self) -> int:
        try:
            for line in (self.path / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    async def watch(self, root_pid: int, kill: Callable[[], None], interval: float = 0.1) -> None:
        # The kernel may pick any process of the container; Kubernetes (memory.oom.group) kills
        # the whole container, so do we.
        while True:
            if self.oom_kills() > 0:
                self.oom_killed = True
                kill()
                return
            await asyncio.sleep(interval)

    def check_after_exit(self) -> None:
        if self.oom_kills() > 0:
            self.oom_killed = True

    def close(self) -> None:
        self.check_after_exit()
        try:
            self.path.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove cgroup %s: %s", self.path, exc)


class RssGuard(MemoryGuard):
    backend = RSS_BACKEND

    async def watch(self, root_pid: int, kill: Callable[[], None], interval: float = 0.1) -> None:
        while True:
            used = sum(rss_bytes(pid) for pid in process_tree(root_pid))
            if self.limit is not None and used > self.limit:
                self.oom_killed = True
                kill()
                return
            await asyncio.sleep(interval)


class MemoryEnforcer:
    """Chooses the backend once per kubelet and makes one guard per container."""

    def __init__(self, tag: str, force_backend: str | None = None) -> None:
        self.parent = None if force_backend == RSS_BACKEND else probe_cgroup_parent(tag)
        self.backend = CGROUP_BACKEND if self.parent is not None else RSS_BACKEND

    def guard(self, limit: int | None, container_id: str) -> MemoryGuard:
        if limit is None:
            return MemoryGuard(None)
        if self.parent is not None:
            try:
                return CgroupGuard(limit, self.parent, container_id)
            except OSError as exc:
                log.warning("cgroup for %s failed (%s); sampling RSS instead", container_id, exc)
        return RssGuard(limit)

    def close(self) -> None:
        if self.parent is None or not self.parent.exists():
            return
        for child in self.parent.iterdir():
            if child.is_dir():
                try:
                    child.rmdir()
                except OSError:
                    pass
        try:
            self.parent.rmdir()
        except OSError as exc:
            log.warning("could not remove cgroup %s: %s", self.parent, exc)
