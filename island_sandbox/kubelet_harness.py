"""Drive one sandbox Kubelet without an API server: for tests and for poking at it by hand.

    async with running_kubelet(tmp_path) as (kubelet, recorder):
        code = write_standin_code(tmp_path / "code")
        await kubelet.start_pod(island_pod("isl-269", 269, ports, node=kubelet.node), {"code": code})
        await recorder.wait_for("default", "isl-269", server_ready, timeout=10)

``island_pod`` follows the seed's Pod (server container under libfaketime with the code volume
read-only at /home/server, probe on the named port ``server-port``, the idle side container),
with the server command pointed at the stand-in island server.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from island_sandbox.images import ImageResolver
from island_sandbox.kubelet import Kubelet, NodeInfo
from island_sandbox.status_recorder import StatusRecorder, state_of

SERVER, SIDE = "altraserver", "side-container"
FAKETIME_ENV = [
    {"name": "LD_PRELOAD", "value": "/usr/lib64/faketime/libfaketime.so.1"},
    {"name": "FAKETIME_TIMESTAMP_FILE", "value": "/tmp/server-faketime.rc"},
    {"name": "FAKETIME_DONT_RESET", "value": "1"},
    {"name": "FAKETIME_DONT_FAKE_MONOTONIC", "value": "1"},
    {"name": "FAKETIME_CACHE_DURATION", "value": "1"},
]


@asynccontextmanager
async def running_kubelet(state_dir: Path, node_ip: str = "127.0.0.31", node_name: str = "node-test",
                          **options) -> AsyncIterator[tuple[Kubelet, StatusRecorder]]:
    recorder = StatusRecorder()
    kubelet = Kubelet(NodeInfo(node_name, node_ip, {"branch": "dev"}, 8 << 30), state_dir=Path(state_dir),
                      images=ImageResolver(), report=recorder.report, **options)
    try:
        yield kubelet, recorder
    finally:
        await asyncio.wait_for(kubelet.shutdown(), 60)


def write_standin_code(code_dir: Path, python: str = sys.executable) -> Path:
    """A code directory whose start.sh sets the island's clock file and runs the stand-in server."""
    code_dir.mkdir(parents=True, exist_ok=True)
    start = code_dir / "start.sh"
    start.write_text(
        "#!/bin/sh\n"
        "printf '%s\\n' \"${START_CLOCK:-+0}\" > \"${FAKETIME_TIMESTAMP_FILE:-/tmp/server-faketime.rc}\"\n"
        f"exec {python} -I -S {Path(__file__).resolve().with_name('island_server.py')} \"$@\"\n")
    start.chmod(0o755)
    return code_dir


def random_node_ip() -> str:
    """A loopback address few others use (all of 127/8 reaches lo), so concurrent runs of the same
    tests do not race for the same ports."""
    return f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def free_ports(host: str, count: int = 3) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def island_pod(name: str, island_id: int, ports: list[int], *, node: NodeInfo, namespace: str = "default",
               env: list[dict] | None = None, memory_limit: str = "2048Mi", initial_delay: float = 0.2,
               period: float = 0.2, failure_threshold: int = 3, command: list[str] | None = None,
               server_image: str = "bo602505401/jdk8-curl-libfaketime:latest") -> dict:
    names = ["app-common-port", "remote-msg-port", "server-port"]
    server = {
        "name": SERVER,
        "image": server_image,
        "resources": {"limits": {"memory": memory_limit}, "requests": {"memory": "64Mi"}},
        "env": [{"name": "username", "value": "刘电波"}, *FAKETIME_ENV,
                {"name": "ISLAND_ID", "value": str(island_id)},
                {"name": "ISLAND_PORTS", "value": " ".join(map(str, ports))},
                {"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                *(env or [])],
        "command": command or ["sh", "/home/server/start.sh", str(island_id), "false", str(1000 + island_id)],
        "volumeMounts": [{"mountPath": "/home/server", "name": "server-pv-storage", "readOnly": True}],
        "ports": [{"name": n, "containerPort": p, "hostPort": p} for n, p in zip(names, ports)],
        "readinessProbe": {"tcpSocket": {"port": "server-port"}, "initialDelaySeconds": initial_delay,
                           "periodSeconds": period, "successThreshold": 1, "timeoutSeconds": 1,
                           "failureThreshold": failure_threshold},
    }
    side = {"name": SIDE, "image": "alpine:3.14.1", "command": ["/bin/sh", "-ce", "tail -f /dev/null"]}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": {"name": "altraserver"}},
        "spec": {"nodeName": node.name, "restartPolicy": "Never", "containers": [server, side],
                 "volumes": [{"name": "server-pv-storage", "persistentVolumeClaim": {"claimName": "server-pv-claim"}}]},
    }


def server_state(status: dict) -> str:
    return state_of(status, SERVER)[0]


def server_ready(status: dict) -> bool:
    return any(c["name"] == SERVER and c["ready"] for c in status.get("containerStatuses") or [])


async def query_island(host: str, port: int, line: str = "time", timeout: float = 5.0) -> dict:
    """One query to a (stand-in) island server; raises OSError/TimeoutError when it does not answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        return json.loads(await asyncio.wait_for(reader.readline(), timeout))
    finally:
        writer.close()
