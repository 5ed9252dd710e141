"""The island's clock as state (issue 13): change it, prove it, keep its history, run timelines.

``IslandService.clocks`` is a ``ClockService``; the faces (web page, REST API, CLI) call ONLY
the public methods below, with the acting user (``User``, a plain id string, or None for the
operator), and render what they return:

    change(island_id, text, user)            -> ClockView   ("+2d", "2021-09-18 04:59:50", "reset",
                                                              "freeze", "resume", "speed x10",
                                                              "preset daily-reset", ...)
    state(island_id, user=None)              -> ClockView
    history(island_id, limit=100)            -> list[dict]  (newest first; ClockChange.as_dict)
    presets()                                -> list[tuple[str, str]]  (name, expression)
    start_timeline(island_id, text, user)    -> dict        (timeline, as timelines() lists it)
    cancel_timeline(island_id, timeline_id, user) -> dict
    timelines(island_id)                     -> list[dict]  (newest first)
    run_due_timelines(now=None)              -> int         (steps applied; the runner and recover)

Errors (core.errors family): InvalidInput/ClockError (bad text, out of range: one line saying
what is accepted), PermissionDenied, IslandNotFound, ClockNotTaken (the island's read-back
differs from what was asked: "asked X, reads Y"; the previous clock was written back),
PreloadMissing / ClockFileMismatch / ClockFileUnwritable (from the probe), KubectlError,
SSHError, StoreError (also: another change of the same island held the lock too long).

One change at a time per island, across processes: a MySQL named lock per island
(``island_ssh.clock.<id>``), waited for at most ``clock.lock_wait`` seconds. A process that
dies holding it loses it with its connection.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from island_ssh.core.errors import InvalidInput
from island_ssh.core.settings import ClockSettings
from island_ssh.kube.clock_probe import ClockProbe
from island_ssh.service.clock_change import apply_change, learn_anchor, make_view
from island_ssh.service.clock_timelines import TimelineRunner
from island_ssh.service.clock_views import ClockProof, ClockView, Preset, change_dict, timeline_dict, zone

log = logging.getLogger(__name__)

__all__ = ["ClockProof", "ClockService", "ClockView", "Preset"]


class ClockService:
    """``IslandService.clocks``: every clock use case; the faces call only these methods."""

    def __init__(self, service) -> None:
        self.service = service
        self.store = service.store
        self.settings = getattr(service.settings, "clock", None) or _default_settings()
        self.tz = zone(self.settings.timezone)
        self.probe = ClockProbe(service.kubectl, service.islands.faketime_file)
        self.runner = TimelineRunner(self)

    # -- the faces' API --------------------------------------------------------------------------
    def change(self, island_id: int, text: str, user=None, *, _source: str | None = None,
               _timeline: Any = None) -> ClockView:
        """Change the island's clock (``text``: what the clock box accepts, "preset NAME" too),
        prove it by reading it back, store it. ClockNotTaken when the island does not read it."""
        return apply_change(self, island_id, text, user, source=_source, timeline=_timeline)

    def state(self, island_id: int, user=None) -> ClockView:
        """The island's clock as stored, with its last proof and its active timelines.
        ``user``: the reader (anyone may read an island's clock; kept for the faces' symmetry)."""
        row = self.service.get(island_id)
        learn_anchor(self, row)
        return self.view(row)

    def history(self, island_id: int, limit: int = 100) -> list[dict]:
        """Clock changes, newest first: who, when, what was asked, what the island read, ok/error."""
        self.service.get(island_id)
        return [change_dict(c, self.tz) for c in self.store.clock_history(island_id, _limit(limit))]

    def presets(self) -> list[tuple[str, str]]:
        """(name, expression) of each configured preset, in config order."""
        return [Preset(name, expr) for name, expr in self.settings.presets.items()]

    def start_timeline(self, island_id: int, text: str, user=None) -> dict:
        """Store a timeline (``at +0 set "2021-09-18 04:59:50"; at +2m preset weekly-reset``) and
        apply its due steps now; the service's runner applies the rest at their times."""
        return self.runner.start(island_id, text, user)

    def cancel_timeline(self, island_id: int, timeline_id: int, user=None) -> dict:
        return self.runner.cancel(island_id, timeline_id, user)

    def timelines(self, island_id: int, limit: int = 50) -> list[dict]:
        """The island's timelines, newest first (active, done, cancelled, failed)."""
        self.service.get(island_id)
        return [timeline_dict(t) for t in self.store.timelines(island_id, _limit(limit))]

    def run_due_timelines(self, now: float | None = None) -> int:
        """Apply every timeline step due at ``now`` (default: now); the number applied. The
        runner thread calls it; so does ``recover`` (a fallback when no service runs)."""
        return self.runner.run_due(time.time() if now is None else now)

    # -- the service's own uses ------------------------------------------------------------------
    def view(self, row, record=None) -> ClockView:
        return make_view(self, row, record)

    def start(self) -> None:
        """Start the timeline runner thread (a long-running service: wiring with_tracker)."""
        self.runner.start_thread()

    def stop(self) -> None:
        self.runner.stop_thread()


def _default_settings() -> ClockSettings:
    return ClockSettings()


def _limit(limit: object, most: int = 1000) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise InvalidInput(f"limit: expected a whole number from 1 to {most}, got {str(limit)[:40]!r}")
    return limit
