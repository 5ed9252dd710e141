"""Manifests and watch-stream readers shared by the sandbox tests."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from typing import Any, Callable

import yaml


def pod(name: str, *, labels: dict[str, str] | None = None, branch: str | None = None,
        memory: str | None = None, host_ports: list[int] = (), claim: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "server", "image": "alpine:3.14.1",
                                 "command": ["/bin/sh", "-c", "tail -f /dev/null"]}
    if memory:
        container["resources"] = {"requests": {"memory": memory}}
    if host_ports:
        container["ports"] = [{"containerPort": p, "hostPort": p} for p in host_ports]
    spec: dict[str, Any] = {"containers": [container], "restartPolicy": "Never",
                            "terminationGracePeriodSeconds": 2}
    if branch:
        spec["nodeSelector"] = {"branch": branch}
    if claim:
        spec["volumes"] = [{"name": "code", "persistentVolumeClaim": {"claimName": claim}}]
        container["volumeMounts"] = [{"name": "code", "mountPath": "/home/server"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs)


class LineReader:
    """Moves a child's stdout lines into a queue on a thread (a blocking read has no timeout)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def events_until(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        """JSON events (one per line) until ``done(events)`` holds; AssertionError on timeout/EOF."""
        import time
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not done(events):
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise AssertionError(f"watch condition not met within {timeout}s; events: "
                                     f"{[(e['type'], e['object']['metadata'].get('resourceVersion')) for e in events]}")
            if line is None:
                raise AssertionError(f"watch ended early; events: {[e['type'] for e in events]}")
            if line.strip():
                events.append(json.loads(line))
        return events

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        self._thread.join(5)
