"""Clock timelines: stored in MySQL, run by the service (issue 13).

A timeline is a list of steps (``at +0 set "2021-09-18 04:59:50"; at +2m preset weekly-reset``)
whose times count from its start. It is stored (clock_timelines) with ``next_step`` and
``next_due`` (epoch seconds); every step applied is an ordinary clock change (proof, history
row with source ``timeline``, ClockChanged event, audit), made as "timeline N of <its creator>".

Who applies the steps:
- ``start_timeline`` applies the steps due at once (``at +0``) before it returns;
- every long-running service process (the web app, wiring.build_runtime(with_tracker=True))
  runs a ``TimelineRunner`` thread that sleeps on an Event until the next due step (or at most
  ``clock.timeline_poll`` seconds, to see timelines other processes started), never time.sleep;
- ``island-ssh recover`` (cron) applies due steps too: the fallback when no service runs.
Several of them may look at once: each step is claimed with ONE conditional UPDATE
(``... WHERE id = %s AND next_step = %s``), so exactly one process applies it. A process that
dies between the claim and the change loses that step (at most once: a "+1h" applied twice
would be worse); the history shows the gap. Claiming the last step marks the timeline ``done``
(its change follows within an exec; a failure then turns it ``failed``), so a crash never leaves
a timeline active with nothing left to run.

A step waits while its island is not changeable (a restart in progress) and is applied late
when it is again; a timeline whose island was deleted (or whose id went to another island) is
cancelled; a step that fails ends its timeline ``failed`` with the error, and an island event.
"""

from __future__ import annotations

import logging
import threading
import time

from island_ssh.core.clock_timeline import parse_timeline
from island_ssh.core.errors import InvalidInput, IslandError, IslandNotFound
from island_ssh.core.names import CHANGEABLE_STATES
from island_ssh.service.clock_change import actor_of, audit, ref
from island_ssh.service.clock_views import timeline_dict

log = logging.getLogger(__name__)

MAX_PASSES = 50


class TimelineRunner:
    def __init__(self, clocks_svc) -> None:
        self.clocks = clocks_svc
        self.store = clocks_svc.store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._blocked = False

    # -- use cases -------------------------------------------------------------------------------
    def start(self, island_id: int, text: str, user) -> dict:
        svc = self.clocks.service
        row = svc._owned(island_id, user)
        if row.state not in CHANGEABLE_STATES:
            raise InvalidInput(f"island {island_id} is {row.state}; a clock timeline can start once its server runs",
                               island_id=island_id)
        if not isinstance(text, str):
            raise InvalidInput(f"timeline: expected text, got {type(text).__name__}")
        settings = self.clocks.settings
        steps = parse_timeline(text, settings.presets, self.clocks.tz)
        active = self.store.timelines(island_id, 5, active_only=True)
        if active:
            raise InvalidInput(f"island {island_id} already runs clock timeline {active[0].id}; cancel it first",
                               island_id=island_id)
        actor = actor_of(user)
        timeline_id = self.store.add_timeline(
            island_id, row.generation, actor=ref(actor), request=text.strip(),
            steps=[{"at_seconds": float(s.at_seconds), "command": str(s.command)} for s in steps],
            started_at=time.time())
        if timeline_id is None:
            raise IslandNotFound(f"island {island_id} changed meanwhile; look again", island_id=island_id)
        audit(svc, actor, "clock-timeline", island_id, row.generation,
              f"timeline {timeline_id}: {text.strip()[:300]}")
        self.run_due(time.time(), island_id=island_id)
        self._wake.set()
        return timeline_dict(self.store.timeline(timeline_id))

    def cancel(self, island_id: int, timeline_id: int, user) -> dict:
        svc = self.clocks.service
        row = svc._owned(island_id, user, deleted_ok=True)
        if isinstance(timeline_id, bool) or not isinstance(timeline_id, int) or timeline_id < 1:
            raise InvalidInput(f"timeline id must be a whole number above 0, got {str(timeline_id)[:40]!r}")
        found = self.store.timeline(timeline_id)
        if found is None or found.island_id != island_id:
            raise IslandNotFound(f"island {island_id} has no clock timeline {timeline_id}", island_id=island_id)
        actor = actor_of(user)
        if not self.store.end_timeline(timeline_id, "cancelled", expected=("active",),
                                       event=("ClockTimelineCancelled",
                                              f"timeline {timeline_id} cancelled by {actor.label()}")):
            raise InvalidInput(f"clock timeline {timeline_id} is {self.store.timeline(timeline_id).state}; "
                               f"only an active one can be cancelled", island_id=island_id)
        audit(svc, actor, "clock-timeline-cancel", island_id, row.generation, f"timeline {timeline_id}")
        self._wake.set()
        return timeline_dict(self.store.timeline(timeline_id))

    def run_due(self, now: float, island_id: int | None = None) -> int:
        """Apply every step due at ``now`` (of one island's timelines if given); steps applied."""
        applied, self._blocked = 0, False
        for _ in range(MAX_PASSES):
            progressed = False
            for t in self.store.due_timelines(now):
                if island_id is not None and t.island_id != island_id:
                    continue
                outcome = self._one(t)
                applied += outcome == "applied"
                progressed |= outcome in ("applied", "failed", "cancelled")
            if not progressed:
                break
        return applied

    def _one(self, t) -> str:
        step = t.next_step
        if step >= len(t.steps):
            return "skipped"
        row = self.store.get(t.island_id)
        if row is None or row.state == "deleted" or row.generation != t.generation:
            self.store.end_timeline(t.id, "cancelled", "the island was deleted", expected=("active",))
            return "cancelled"
        if row.state not in CHANGEABLE_STATES:
            self._blocked = True  # a restart in progress: applied (late) once the island runs again
            return "waiting"
        if not self.store.claim_timeline_step(t.id, step):
            return "skipped"  # another process took it
        command = t.steps[step]["command"]
        try:
            self.clocks.change(t.island_id, command, None, _source="timeline", _timeline=t)
        except IslandError as exc:
            message = f"step {step + 1} ({command}): {exc.message}"
            log.warning("island %s: clock timeline %s failed at %s", t.island_id, t.id, message)
            self.store.end_timeline(t.id, "failed", message, expected=("active", "done"),
                                    event=("ClockTimelineFailed", f"timeline {t.id} failed at {message}"))
            return "failed"
        if step + 1 >= len(t.steps):
            self.store.end_timeline(t.id, "done", expected=("done",),
                                    event=("ClockTimelineDone", f"timeline {t.id}: all {len(t.steps)} steps applied"))
        return "applied"

    # -- the runner thread -----------------------------------------------------------------------
    def start_thread(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="clock-timelines", daemon=True)
        self._thread.start()

    def stop_thread(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        poll = max(0.05, float(self.clocks.settings.timeline_poll))
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_due(time.time())
                due = self.store.next_timeline_due()
            except Exception as exc:  # noqa: BLE001 - the runner outlives MySQL or SSH outages
                log.warning("clock timelines: %s; trying again in %.0f s", exc, poll)
                due = None
            wait = poll if due is None or self._blocked else min(poll, max(0.0, due - time.time()))
            self._wake.wait(wait)
