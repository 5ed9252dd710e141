"""Notifications: webhooks on ready, failed, lease-warning, expired, deleted-by-other and idle.

Nothing here runs on a caller's thread beyond a queue put. Two sources feed one outbox table
(store/notify.py, migration 0008), one row per (notification, webhook):

* ``emit(event, row, **fields)`` (lease, idle and delete code): puts the event on an in-process
  queue and returns; a writer thread inserts the outbox rows (``close()`` flushes it, so a CLI
  process that emits before it exits loses nothing it could write).
* ready / failed: the tracker only stores transitions (island_events); the delivery worker reads
  island_events after a cursor stored in notify_cursor and inserts the outbox rows and the new
  cursor position in ONE commit. The tracker thread never waits for HTTP.

The delivery worker runs in long-lived processes (the web app; ``start()``), and only the one
holding the MySQL named lock ``notify.lock_name`` acts, so each notification is sent by one
process. It makes at most ``notify.concurrency`` calls at once, each limited to the webhook's
``timeout`` in all; a failed call is retried after backoff, 2x backoff, ... up to backoff_max,
and after ``notify.attempts`` calls it is recorded as failed (doctor, /api/notifications, the log).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from island_ssh.core import notify_payload as payloads
from island_ssh.core.errors import IslandError
from island_ssh.core.settings import NotifySettings
from island_ssh.service.feed import FeedCursor
from island_ssh.service.notify_http import CallResult, post
from island_ssh.store.notify import NewNotification, NotifyStore

log = logging.getLogger(__name__)

CURSOR = "events"
EVENT_BATCH = 500
QUEUE_MAX = 10000
PRUNE_EVERY = 3600.0
_REFUSALS = {1048, 1366, 1406, 3140, 4025}  # null, bad value, too long, invalid JSON, CHECK failed


def _iso(t: datetime | None = None) -> str:
    t = t or datetime.now(timezone.utc)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Notifier:
    """``IslandService.notify``. With no ``notify.webhooks`` every method is a no-op."""

    def __init__(self, settings: NotifySettings | None, store=None) -> None:
        self.settings = settings or NotifySettings()
        self.hooks = {h.name: h for h in self.settings.webhooks}
        self.enabled = bool(self.hooks) and store is not None and hasattr(store, "db")
        self.store = store
        self.outbox = NotifyStore(store) if self.enabled else None
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_MAX)
        self._writer: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._wake_factory = None
        self._wake: queue.Queue | None = None
        self._lock = None
        self._cursor: FeedCursor | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: set[int] = set()
        self._inflight_lock = threading.Lock()
        self._last_prune = 0.0
        self.last_error: BaseException | None = None
        self.acting = threading.Event()
        """Set while this process holds the delivery lock."""

    # -- the API other code calls -----------------------------------------------------------------
    def emit(self, event: str, row=None, **fields) -> None:
        """Queue a notification about island ``row`` (an IslandRow or None); returns at once and
        never raises. ``fields``: actor, actor_id, expires_at, idle_since, detail, reason,
        message... (the template placeholders); ``key``: a dedupe key (the same key from two
        processes notifies once); without it every call notifies."""
        if not self.enabled:
            return
        try:
            if event not in payloads.EVENTS:
                log.warning("notify: unknown event %r ignored (known: %s)", event, ", ".join(payloads.EVENTS))
                return
            key = str(fields.pop("key", "") or uuid.uuid4().hex)
            values = payloads.event_fields(event, row, at=_iso(), page_url=self.settings.page_url, **fields)
            self._queue.put_nowait((event, key, values))
            self._ensure_writer()
        except queue.Full:
            log.error("notify: %d notifications wait to be written; %s for island %s dropped",
                      QUEUE_MAX, event, getattr(row, "island_id", "-"))
        except Exception:  # noqa: BLE001 -- a notification must never break the caller's action
            log.exception("notify: could not queue %s", event)

    def start(self, wake=None) -> "Notifier":
        """Run the delivery worker in this process (a long-lived one: the web app). ``wake``: a
        callable returning a queue (tracker.subscribe) whose items make it look at once."""
        if not self.enabled:
            return self
        with self._thread_lock:
            self._wake_factory = wake
            if self._worker is None:
                self._stop.clear()
                self._pool = ThreadPoolExecutor(max_workers=self.settings.concurrency,
                                                thread_name_prefix="island-notify-call")
                self._worker = threading.Thread(target=self._run, name="island-notify", daemon=True)
                self._worker.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Write what was emitted (up to ``timeout``), stop the worker, give the lock back."""
        if not self.enabled:
            return
        deadline = time.monotonic() + timeout
        writer = self._writer
        if writer is not None and writer.is_alive():
            try:
                self._queue.put(None, timeout=max(0.1, deadline - time.monotonic()))
            except queue.Full:
                pass
            writer.join(max(0.1, deadline - time.monotonic()))
            if not self._queue.empty():
                log.warning("notify: %d notifications were not written before exit", self._queue.qsize())
        self._stop.set()
        self._kick.set()
        if self._worker is not None:
            self._worker.join(max(0.1, deadline - time.monotonic()))
            self._worker = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self.acting.clear()

    # -- the writer thread: emitted events into the outbox -----------------------------------------
    def _ensure_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._thread_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="island-notify-writer", daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event, key, values = item
            items = self._outbox_items(event, f"emit:{key}", values)
            written = False
            for attempt in range(5):
                try:
                    self.outbox.enqueue(items)
                    self._kick.set()
                    written = True
                    break
                except IslandError as exc:
                    log.warning("notify: writing %s for island %s failed (%s); attempt %d of 5", event,
                                values.get("island_id") or "-", exc, attempt + 1)
                    # the database refusing this row answers the same again; a closing process stops
                    if getattr(exc, "mysql_code", None) in _REFUSALS or self._stop.wait(min(8.0, 0.5 * 2 ** attempt)):
                        break
            if not written:
                log.error("notify: %s for island %s dropped: the database did not take it", event,
                          values.get("island_id") or "-")

    def _outbox_items(self, event: str, key: str, values: dict) -> list[NewNotification]:
        island = values.get("island_id")
        generation = values.get("generation")
        return [NewNotification(f"{key}:{name}", name, event, island if island != "" else None,
                                generation if generation != "" else None, values)
                for name, hook in self.hooks.items() if payloads.wants(hook.events, event)]

    # -- the delivery worker ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._hold_lock():
                    self.deliver_once()
                self.last_error = None
            except IslandError as exc:
                if self.last_error is None:
                    log.warning("notify: delivery paused: %s", exc)
                self.last_error = exc
            except Exception as exc:  # noqa: BLE001 -- the worker must outlive any one bad row
                log.exception("notify: delivery worker error")
                self.last_error = exc
            self._pause()

    def _hold_lock(self) -> bool:
        if self._lock is None:
            self._lock = self.store.lock(self.settings.lock_name)
        if self._lock.held and self._lock.still_held():
            return True
        if self._lock.held:
            log.warning("notify: lost the delivery lock (database connection gone); taking it again")
            self._lock.release()
            self._cursor = None
        self.acting.clear()
        if self._lock.acquire(0):
            self.acting.set()
            return True
        return False

    def _pause(self) -> None:
        interval = self.settings.poll_interval if self.acting.is_set() else max(5.0, self.settings.poll_interval)
        if self._wake is None and self._wake_factory is not None:
            try:
                self._wake = self._wake_factory()
            except Exception:  # noqa: BLE001
                self._wake_factory = None
        deadline = time.monotonic() + interval
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._kick.is_set():
                break
            if self._wake is not None:
                try:
                    self._wake.get(timeout=min(left, 0.25))
                    while True:
                        self._wake.get_nowait()
                except queue.Empty:
                    continue
                break
            self._kick.wait(left)
        self._kick.clear()

    def deliver_once(self) -> int:
        """One round (the caller holds the lock, or a test drives it): island events into the
        outbox, then start the due calls this round has room for. Returns how many started."""
        self.pump_events()
        started = self._send_due()
        now = time.monotonic()
        if now - self._last_prune > PRUNE_EVERY:
            self._last_prune = now
            self.outbox.prune(self.settings.retention)
        return started

    def pump_events(self) -> int:
        """New ready/failed transitions from island_events into the outbox; returns how many rows."""
        if self._cursor is None:
            self._cursor = FeedCursor(position=self.outbox.start_cursor(CURSOR))
        events = self.store.events_since(self._cursor.poll_from(), EVENT_BATCH)
        fresh = set(self._cursor.accept([e.id for e in events], time.monotonic()))
        picked = [(e, kind) for e in events if e.id in fresh
                  for kind in [payloads.event_notification(e.from_state, e.to_state, e.reason)] if kind]
        rows = {}
        if picked:
            ids = sorted({e.island_id for e, _ in picked})
            rows = dict(zip(ids, self.store.get_many(ids)))
        items = []
        for event, kind in picked:
            values = payloads.event_fields(kind, rows.get(event.island_id), at=_iso(event.at),
                                           page_url=self.settings.page_url, state=event.to_state,
                                           reason=event.reason, message=event.message or "",
                                           generation=event.generation)
            # once per island generation and kind, whichever event or process saw it first
            key = f"{kind}:{event.island_id}:{event.generation}"
            items.extend(self._outbox_items(kind, key, values))
        if items or fresh:
            self.outbox.enqueue_and_advance(items, CURSOR, self._cursor.poll_from())
        return len(items)

    def _send_due(self) -> int:
        with self._inflight_lock:
            room = self.settings.concurrency - len(self._inflight)
            busy = set(self._inflight)
        if room <= 0:
            return 0
        rows = [r for r in self.outbox.due(room + len(busy)) if r.id not in busy][:room]
        for row in rows:
            with self._inflight_lock:
                self._inflight.add(row.id)
            if self._pool is None:
                self._deliver_row(row)
            else:
                self._pool.submit(self._deliver_row, row)
        return len(rows)

    def _deliver_row(self, row) -> None:
        try:
            hook = self.hooks.get(row.webhook)
            if hook is None:
                self.outbox.record(row.id, delivered=False, give_up=True, status=None, retry_in=0,
                                   error=f"webhook {row.webhook!r} is no longer in notify.webhooks")
                return
            try:
                result = self.call(hook, row.event, row.fields)
            except Exception as exc:  # noqa: BLE001 -- recorded, so one bad row cannot loop forever
                log.exception("notify: notification %s could not be sent", row.id)
                result = CallResult(False, None, f"could not be sent: {type(exc).__name__}: {exc}")
            attempts = row.attempts + 1
            give_up = not result.ok and (not result.retry or attempts >= self.settings.attempts)
            delay = payloads.backoff_delay(attempts, self.settings.backoff, self.settings.backoff_max)
            what = f"notification {row.id} ({row.event}, island {row.island_id or '-'}) to webhook {row.webhook!r}"
            if result.ok:
                log.info("notify: %s delivered (attempt %d)", what, attempts)
            elif give_up:
                log.error("notify: %s FAILED after %d attempt(s), given up: %s", what, attempts, result.error)
            else:
                log.warning("notify: %s attempt %d of %d failed: %s; retry in %.3g s", what, attempts,
                            self.settings.attempts, result.error, delay)
            self.outbox.record(row.id, delivered=result.ok, give_up=give_up, status=result.status,
                               error=result.error, retry_in=delay)
        except IslandError as exc:
            log.warning("notify: recording notification %s failed: %s", row.id, exc)
        except Exception:  # noqa: BLE001
            log.exception("notify: delivering notification %s failed", row.id)
        finally:
            with self._inflight_lock:
                self._inflight.discard(row.id)
            self._kick.set()

    def call(self, hook, event: str, fields: dict) -> CallResult:
        """One HTTP call of ``hook`` with the body its template makes of ``fields``."""
        body = payloads.render(hook.template, hook.preset, fields)
        return post(hook, body, self.settings.max_response_bytes)

    # -- faces: notify test, doctor, /api/notifications ---------------------------------------------
    def send_test(self) -> list[dict]:
        """Call every webhook once now with a ``test`` event (no retry); each one's outcome, also
        kept in the outbox so doctor and the API show it."""
        results = []
        values = payloads.event_fields(payloads.TEST_EVENT, None, at=_iso(), page_url=self.settings.page_url)
        for name, hook in self.hooks.items():
            started = time.monotonic()
            result = self.call(hook, payloads.TEST_EVENT, values)
            results.append({"webhook": name, "url": payloads.redact_url(hook.url), "ok": result.ok,
                            "status": result.status, "error": result.error,
                            "seconds": round(time.monotonic() - started, 3)})
            if self.outbox is not None:
                try:
                    self.outbox.record_finished(
                        NewNotification(f"test:{uuid.uuid4().hex}:{name}", name, payloads.TEST_EVENT, None, None,
                                        values), delivered=result.ok, status=result.status, error=result.error)
                except IslandError as exc:
                    log.warning("notify: the test of %s was not recorded: %s", name, exc)
        return results

    def webhooks(self) -> list[dict]:
        return [{"name": h.name, "url": payloads.redact_url(h.url), "preset": h.preset,
                 "events": list(h.events) or list(payloads.EVENTS), "timeout": h.timeout,
                 "template": "custom" if h.template else h.preset, "signed": bool(h.secret)}
                for h in self.hooks.values()]

    def overview(self, limit: int = 50, state: str | None = None, webhook: str | None = None) -> dict:
        """Configured webhooks with their counts, the latest notifications and the latest failures."""
        if not self.enabled:
            return {"enabled": False, "webhooks": [], "recent": [], "failures": []}
        summary = self.outbox.summary()
        hooks = [{**h, **summary.get(h["name"], {"pending": 0, "delivered": 0, "failed": 0,
                                                  "oldest_pending_seconds": None})} for h in self.webhooks()]
        recent = [r.as_dict() for r in self.outbox.recent(limit, webhook=webhook, state=state)]
        failures = [r.as_dict() for r in self.outbox.recent(limit, webhook=webhook, state="failed")]
        return {"enabled": True, "webhooks": hooks, "recent": recent, "failures": failures}


def open_notifier(settings) -> Notifier:
    """A Notifier on its own Store, for the CLI's ``notify`` commands (no SSH); close() it."""
    from island_ssh.store import Store
    notifier = Notifier(settings.notify, Store(settings.database))
    if notifier.store is not None:
        closing = notifier.close

        def close(timeout: float = 5.0) -> None:
            closing(timeout)
            notifier.store.close()
        notifier.close = close
    return notifier
