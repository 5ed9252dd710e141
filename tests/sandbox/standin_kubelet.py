"""StandInKubelet: a test-only kubelet with the interface of island_sandbox.kubelet.Kubelet.

It runs no containers. start_pod reports ContainerCreating, then every container running and
ready; stop_pod/evict_pod report them terminated. exec runs argv as a real local process (so the
exec websocket path is exercised end to end); logs returns one line per container start. Loaded
by the API server process with ``--kubelet tests.sandbox.standin_kubelet:StandInKubelet``.
"""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ip: str
    labels: dict[str, str]
    memory_bytes: int


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StandInKubelet:
    def __init__(self, node: Any, *, state_dir: Path, images: Any,
                 report: Callable[[str, str, dict], None]) -> None:
        self.node, self.report = node, report
        self._pods: dict[tuple[str, str], dict] = {}
        self._logs: dict[tuple[str, str, str], bytes] = {}

    def _status(self, pod: dict, phase: str, states: dict[str, dict], ready: bool) -> dict:
        cond = "True" if ready else "False"
        statuses = [{"name": c["name"], "image": c["image"], "imageID": "", "restartCount": 0,
                     "ready": ready and "running" in states[c["name"]], "started": "running" in states[c["name"]],
                     "state": states[c["name"]]} for c in pod["spec"]["containers"]]
        return {"phase": phase, "hostIP": self.node.ip, "hostIPs": [{"ip": self.node.ip}],
                "podIP": self.node.ip, "podIPs": [{"ip": self.node.ip}], "startTime": _now(),
                "conditions": [{"type": "Initialized", "status": "True"},
                               {"type": "Ready", "status": cond}, {"type": "ContainersReady", "status": cond}],
                "containerStatuses": statuses}

    async def start_pod(self, pod: dict, volumes: dict[str, Path | None]) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self._pods[(ns, name)] = pod
        waiting = {c["name"]: {"waiting": {"reason": "ContainerCreating"}} for c in pod["spec"]["containers"]}
        self.report(ns, name, self._status(pod, "Pending", waiting, False))
        await asyncio.sleep(0)
        running = {c["name"]: {"running": {"startedAt": _now()}} for c in pod["spec"]["containers"]}
        for c in pod["spec"]["containers"]:
            self._logs[(ns, name, c["name"])] = f"{name}/{c['name']} started on {self.node.name}\n".encode()
        self.report(ns, name, self._status(pod, "Running", running, True))

    def _terminate(self, ns: str, name: str, reason: str, code: int, uid: str | None = None) -> dict | None:
        pod = self._pods.get((ns, name))
        if pod is None or uid not in (None, pod["metadata"].get("uid")):
            return None  # another incarnation of that name (re-created after a forced delete)
        del self._pods[(ns, name)]
        done = {c["name"]: {"terminated": {"exitCode": code, "reason": reason, "finishedAt": _now()}}
                for c in pod["spec"]["containers"]}
        return self._status(pod, "Failed" if code else "Succeeded", done, False)

    async def stop_pod(self, namespace: str, name: str, grace_seconds: float, uid: str | None = None) -> None:
        status = self._terminate(namespace, name, "Error", 143, uid)
        if status is not None:
            self.report(namespace, name, status, uid)

    async def evict_pod(self, namespace: str, name: str, message: str, uid: str | None = None) -> None:
        status = self._terminate(namespace, name, "Error", 137, uid)
        if status is not None:
            status.update(reason="Evicted", message=message, phase="Failed")
            self.report(namespace, name, status, uid)

    async def exec(self, namespace: str, name: str, container: str, argv: list[str],
                   stdin: bytes | None, timeout: float = 60.0, uid: str | None = None) -> tuple[int, bytes, bytes]:
        if (namespace, name) not in self._pods:
            raise LookupError(f"pod {name} is not running on {self.node.name}")
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(stdin or b""), timeout)
        return proc.returncode or 0, out, err

    def logs(self, namespace: str, name: str, container: str, tail_lines: int | None = None,
             uid: str | None = None) -> bytes:
        data = self._logs.get((namespace, name, container), b"")
        if tail_lines is not None:
            data = b"".join(data.splitlines(keepends=True)[-tail_lines:]) if tail_lines else b""
        return data

    def pods(self) -> list[tuple[str, str]]:
        return list(self._pods)

    async def shutdown(self) -> None:
        for ns, name in list(self._pods):
            await self.stop_pod(ns, name, 0)
