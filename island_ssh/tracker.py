"""The tracker: one reader per database turns `kubectl get pods -w` into stored transitions.

Layers (STYLE.md 2 and 4): the SSH stream's reader thread only moves bytes into lines; here each
line is parsed (island_ssh.watch), classified (island_ssh.podstate) and fed to the pure state
machine (island_ssh.statemachine); a transition is stored with its event in one transaction
(store.transition) and then announced to in-process subscribers. ``run_watch`` handles one watch;
``_run`` is the restart loop around it (a silent end of ``kubectl -w`` is normal, not an error).

Only the process holding the MySQL named lock acts, so several web workers never write duplicate
transitions. Other processes read transitions back from island_events (island_ssh.feed).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from .config import IslandSettings, TrackerSettings
from .errors import IslandError
from .kube import Kubectl, MANAGED_SELECTOR
from .podstate import classify
from .ssh import StreamTimeout
from .statemachine import IslandSnapshot, check_timeout, next_transition, on_relist
from .watch import WatchParseError, parse_watch_line

log = logging.getLogger(__name__)

SERVER_CONTAINER = "altraserver"
GENERATION_LABEL = "island-ssh/generation"
WAITING_STATES = ("allocated", "applying", "pending", "unschedulable", "creating", "starting")
FIRST_LINE_WAIT = 2.0  # seconds to let kubectl start its own list before we list (see _relist)


@dataclass(frozen=True)
class Announcement:
    island_id: int
    generation: int
    from_state: str | None
    to_state: str
    reason: str | None
    message: str | None
    at: float


def snapshot(row) -> IslandSnapshot:
    return IslandSnapshot(state=row.state, reason=row.reason, message=row.message,
                          resource_version=row.resource_version, generation=row.generation)


def _next_line(stream, timeout: float) -> str | None:
    """The first line if one comes within timeout, else None (also at a quick end)."""
    try:
        return stream.get_line(timeout=timeout)
    except StreamTimeout:
        return None


class Tracker:
    def __init__(self, kubectl: Kubectl, store, islands: IslandSettings, settings: TrackerSettings,
                 server_container: str = SERVER_CONTAINER, selector: str = MANAGED_SELECTOR) -> None:
        self.kubectl = kubectl
        self.store = store
        self.islands = islands
        self.settings = settings
        self.server_container = server_container
        self.selector = selector
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscribers: list[queue.Queue] = []
        self._sub_lock = threading.Lock()
        self.acting = threading.Event()
        """Set while this process holds the tracker lock and follows the watch."""
        self.watch_started = threading.Event()
        self.watches = 0
        self.last_error: BaseException | None = None
        self._last_timeout_check = 0.0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Tracker":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="island-tracker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise IslandError(f"tracker thread did not stop within {timeout:.0f}s")
            self._thread = None

    def __enter__(self) -> "Tracker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- subscribers ---------------------------------------------------------------------------
    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=10000)
        with self._sub_lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._sub_lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def _announce(self, a: Announcement) -> None:
        with self._sub_lock:
            subs = list(self._subscribers)
        for q in subs:
            try:
                q.put_nowait(a)
            except queue.Full:
                log.warning("tracker subscriber queue full; dropping an announcement")

    # -- the restart loop ----------------------------------------------------------------------
    def _run(self) -> None:
        backoff = self.settings.restart_backoff
        while not self._stop.is_set():
            try:
                with self.store.named_lock(self.settings.lock_name, timeout=0) as acquired:
                    if not acquired:
                        self.acting.clear()
                        self._stop.wait(2.0)
                        continue
                    self.acting.set()
                    while not self._stop.is_set():
                        started = time.monotonic()
                        try:
                            self.run_watch()
                        except IslandError as exc:
                            self.last_error = exc
                            log.warning("tracker watch failed: %s", exc)
                        if time.monotonic() - started > 5 * self.settings.restart_backoff_max:
                            backoff = self.settings.restart_backoff
                        if self._stop.wait(backoff):
                            break
                        backoff = min(backoff * 2, self.settings.restart_backoff_max)
            except IslandError as exc:  # lost the database: the lock is gone with its connection
                self.last_error = exc
                log.warning("tracker lost its lock connection: %s", exc)
                self.acting.clear()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.restart_backoff_max)
        self.acting.clear()

    def run_watch(self) -> None:
        """Follow one `kubectl get pods -w` until it ends, goes stale, or we are stopped."""
        stream = self.kubectl.watch_pods(self.selector)
        self.watches += 1
        try:
            first = _next_line(stream, FIRST_LINE_WAIT)
            self._relist()
            self.watch_started.set()
            if first is not None:
                self.handle_line(first)
            last_line = last_relist = time.monotonic()
            while not self._stop.is_set():
                try:
                    line = stream.get_line(timeout=0.25)
                except StreamTimeout:
                    line = ""
                now = time.monotonic()
                if line is None:  # the watch ended; get_line raised instead if the connection dropped
                    log.info("kubectl watch ended (exit %s); restarting", stream.exit_code)
                    return
                if line:
                    last_line = now
                    self.handle_line(line)
                elif now - last_line > self.settings.stale_after:
                    log.info("kubectl watch silent for %.0fs; restarting", now - last_line)
                    return
                if now - last_relist > self.settings.relist_interval:
                    last_relist = now
                    self._relist()
                self.check_timeouts()
        finally:
            stream.close()

    # -- turning lines into transitions --------------------------------------------------------
    def handle_line(self, line: str) -> None:
        try:
            event = parse_watch_line(line, slim=True)  # only what classify and the labels need
        except WatchParseError as exc:
            log.warning("unparseable watch line skipped: %s", exc)
            return
        if event.type not in ("ADDED", "MODIFIED", "DELETED"):
            return
        self.handle_pod(event.type, event.object)

    def handle_pod(self, event_type: str, pod: dict) -> None:
        view = classify(pod, self.server_container)
        if view.island_id is None:
            return
        row = self.store.get(view.island_id)
        if row is None or not self._same_incarnation(row, pod):
            return
        transition = next_transition(snapshot(row), event_type, view)
        if transition is not None:
            self._store(row, transition)

    @staticmethod
    def _same_incarnation(row, pod: dict) -> bool:
        meta = pod.get("metadata") or {}
        if row.pod_name and meta.get("name") != row.pod_name:
            return False
        generation = (meta.get("labels") or {}).get(GENERATION_LABEL)
        return generation is None or str(row.generation) == str(generation)

    def _store(self, row, t) -> None:
        ok = self.store.transition(
            row.island_id, row.generation, t.to_state, t.reason, t.message,
            node=t.node, host_ip=t.host_ip, resource_version=t.resource_version, expected_from=row.state)
        if ok:
            self._announce(Announcement(row.island_id, row.generation, row.state, t.to_state,
                                        t.reason, t.message, time.time()))

    def _relist(self) -> None:
        """Derive what the gap between two watches hid: pods gone -> deleted or lost.

        Listing after kubectl started its own list+watch means a pod deleted in between shows
        up in one of the two; the recover job covers anything a crash of ours loses."""
        listing = self.kubectl.pods(self.selector)
        by_id: dict[int, dict] = {}
        for pod in listing.get("items") or []:
            view = classify(pod, self.server_container)
            if view.island_id is not None:
                by_id[view.island_id] = pod
        for row in self.store.active():
            if row.state in ("allocated",):
                continue  # nothing applied yet: not ours to judge
            pod = by_id.get(row.island_id)
            if pod is not None and not self._same_incarnation(row, pod):
                pod = None
            view = classify(pod, self.server_container) if pod is not None else None
            if view is None and row.state == "applying":
                continue  # apply may still be in flight; recover decides for stuck rows
            transition = on_relist(snapshot(row), view)
            if transition is not None:
                self._store(row, transition)

    def check_timeouts(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_timeout_check < 1.0:
            return
        self._last_timeout_check = now
        for row in self.store.active():
            if row.state not in WAITING_STATES or row.state == "allocated":
                continue
            started = row.applied_at.timestamp() if getattr(row, "applied_at", None) else row.created_at.timestamp()
            transition = check_timeout(snapshot(row), started, now, self.islands.ready_timeout)
            if transition is not None:
                self._store(row, transition)
