"""A StatusReport sink that keeps every report and lets a caller await a condition on them.

For driving a ``Kubelet`` without an API server (tests, debugging): pass ``recorder.report`` as the
kubelet's ``report`` and ``await recorder.wait_for(ns, name, predicate, timeout)``.
"""

from __future__ import annotations

import asyncio
from typing import Callable

Predicate = Callable[[dict], bool]


class StatusWaitTimeout(AssertionError):
    """The awaited status never came; the message carries the last one seen."""


class StatusRecorder:
    def __init__(self) -> None:
        self.history: dict[tuple[str, str], list[dict]] = {}
        self.by_uid: dict[str, list[dict]] = {}  # the same reports, per pod incarnation
        self._changed = asyncio.Condition()

    def report(self, namespace: str, name: str, status: dict, uid: str | None = None) -> None:
        self.history.setdefault((namespace, name), []).append(status)
        if uid is not None:
            self.by_uid.setdefault(uid, []).append(status)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def latest(self, namespace: str, name: str) -> dict | None:
        reports = self.history.get((namespace, name))
        return reports[-1] if reports else None

    async def wait_for(self, namespace: str, name: str, predicate: Predicate, timeout: float) -> dict:
        """The first report (already seen or yet to come) satisfying ``predicate``."""
        def match() -> dict | None:
            for status in self.history.get((namespace, name), []):
                if predicate(status):
                    return status
            return None

        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: match() is not None), timeout)
        except asyncio.TimeoutError:
            raise StatusWaitTimeout(f"{namespace}/{name}: no status matched within {timeout}s; "
                                    f"last: {self.latest(namespace, name)}") from None
        return match()  # type: ignore[return-value]


def container(status: dict, name: str) -> dict:
    """One container's status entry from a pod status."""
    for entry in status.get("containerStatuses") or []:
        if entry["name"] == name:
            return entry
    raise KeyError(f"no container status named {name!r}")


def state_of(status: dict, name: str) -> tuple[str, dict]:
    """("waiting" | "running" | "terminated", details) of one container."""
    ((kind, details),) = container(status, name)["state"].items()
    return kind, details
