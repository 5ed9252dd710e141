"""One clock change, end to end (service.clocks' ``change`` and the timeline steps).

    owner check -> changeable? -> parse -> per-island lock (this process, then MySQL: across
    processes) -> probe.read (the island's reading now and S, its server's start) -> the current
    state (stored; or the reading's for an island with none) -> apply_command -> file_spec ->
    probe.write (writes and reads back in one exec) -> judge_reading
      ok:      state + proof + history + islands columns + ClockChanged event (one commit), audit
      not ok:  the previous state's spec written back, the failure in history (+ an event),
               ClockNotTaken "asked X, reads Y"

The island's real time is the node's: a change is anchored on this machine's time corrected by
the skew the probe's read measured (when larger than the exec's own bracket), so a node whose
clock differs from ours still reads what was asked.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import datetime, timezone

from island_ssh.core.clock_commands import apply_command, parse_clock_command
from island_ssh.core.clock_files import file_spec, judge_reading
from island_ssh.core.clock_state import ClockState
from island_ssh.core.audit import Actor
from island_ssh.core.errors import ClockNotTaken, InvalidInput, IslandError, StoreError
from island_ssh.core.names import CHANGEABLE_STATES
from island_ssh.core.identity import User
from island_ssh.service.clock_views import ClockProof, ClockView, timeline_dict
from island_ssh.store.clocks import ActorRef, Proof

log = logging.getLogger(__name__)

LOCK_PREFIX = "island_ssh.clock."


def actor_of(user: User | str | None) -> Actor:
    """None: the operator; a plain string: a user whose id and name are that string."""
    return Actor.of(user)


def ref(actor: Actor) -> ActorRef:
    return ActorRef(actor.kind, actor.id, actor.name)


def apply_change(clocks_svc, island_id: int, text: str, user, *, source: str | None = None, timeline=None):
    """``timeline``: the TimelineRow whose step this is (its creator was checked at its start)."""
    svc = clocks_svc.service
    if timeline is None:
        row = svc._owned(island_id, user)
        actor = actor_of(user)
    else:
        row = svc.get(island_id)
        actor = Actor("timeline", timeline.created_by.id, timeline.created_by.name)
    if not isinstance(text, str):
        raise InvalidInput(f"clock: expected text, got {type(text).__name__}")
    _check_changeable(row)
    settings = clocks_svc.settings
    command = parse_clock_command(text, settings.presets, clocks_svc.tz)
    if source is None:
        source = "preset" if getattr(command, "kind", "") == "preset" else "user"
    # a MySQL named lock: one change of an island at a time across threads AND processes (each
    # holder has its own connection); a process that dies holding it loses it with the connection
    with clocks_svc.store.named_lock(LOCK_PREFIX + str(island_id), timeout=settings.lock_wait) as acquired:
        if not acquired:
            raise StoreError(f"island {island_id}: another clock change has held it for {settings.lock_wait:g} s "
                             f"(clock.lock_wait); try again")
        row = svc.get(island_id)  # as it is now that no other change runs
        _check_changeable(row)
        return _locked_change(clocks_svc, row, text, command, actor, source, timeline)


def _check_changeable(row) -> None:
    if row.state not in CHANGEABLE_STATES:
        raise InvalidInput(f"island {row.island_id} is {row.state}; its clock can be changed once its server runs",
                           island_id=row.island_id)


def learn_anchor(clocks_svc, row) -> None:
    """An island whose stored clock counts from its server's start (launched with a start time)
    and nobody probed yet: measure S now, once (the page's first look), so what is stored and
    shown is exact. Never raises: the view is shown as stored if the island cannot be read."""
    record = clocks_svc.store.clock(row.island_id)
    if record is None or record.anchor != "start" or record.generation != row.generation \
            or row.state not in CHANGEABLE_STATES:
        return
    try:
        current_state(clocks_svc, row, clocks_svc.probe.read(row.pod_name, row.island_id))
    except IslandError as exc:
        log.info("island %s: its clock's start could not be measured yet: %s", row.island_id, exc)


def current_state(clocks_svc, row, reading):
    """The island's clock now, as a ClockState: the stored one (re-anchored on the measured server
    start S when it was only known roughly: launched or restarted with an ``@`` clock), else what
    the island reads (an island from before clocks were stored)."""
    record = clocks_svc.store.clock(row.island_id)
    if record is not None and record.generation == row.generation:
        state = ClockState.from_dict(record.state)
        if record.anchor == "start":
            state = ClockState(island_epoch=state.island_epoch, real_epoch=reading.server_start,
                               rate=state.rate, frozen=state.frozen)
            clocks_svc.store.learn_server_start(row.island_id, row.generation, reading.server_start, state.as_dict())
        elif record.server_start is None or abs(record.server_start - reading.server_start) > 0.5:
            clocks_svc.store.learn_server_start(row.island_id, row.generation, reading.server_start)
        return state
    return ClockState(island_epoch=reading.island, real_epoch=reading.real_mid)


def _plan(clocks_svc, row, command):
    """(current state, new state, server start S for the file). One exec fewer when the stored
    clock is exact (anchored on real time, S known) and the new one is frozen or at rate 1, whose
    file does not depend on S: the write's own read-back proves it all the same."""
    record = clocks_svc.store.clock(row.island_id)
    tz, presets = clocks_svc.tz, clocks_svc.settings.presets
    if record is not None and record.generation == row.generation and record.anchor == "real" \
            and record.server_start is not None:
        current = ClockState.from_dict(record.state)
        new = apply_command(command, current, time.time(), tz, presets)
        if new.frozen or new.rate == 1.0:
            return current, new, record.server_start
    asked_at = time.time()
    before = clocks_svc.probe.read(row.pod_name, row.island_id)
    # the node's real time is the island's: anchor the change on it, as near the write as we can
    read_at = time.time()
    skew = before.real_mid - (asked_at + read_at) / 2
    if abs(skew) <= (read_at - asked_at) / 2:
        skew = 0.0  # within what one exec can tell apart: the clocks agree (NTP)
    current = current_state(clocks_svc, row, before)
    return current, apply_command(command, current, time.time() + skew, tz, presets), before.server_start


def _locked_change(clocks_svc, row, text: str, command, actor: Actor, source: str, timeline):
    store, probe, settings = clocks_svc.store, clocks_svc.probe, clocks_svc.settings
    island_id, generation = row.island_id, row.generation
    timeline_id = getattr(timeline, "id", None)
    current, new, server_start = _plan(clocks_svc, row, command)
    if new.frozen:
        # a frozen island reads whole seconds (the file is a plain date): store what it reads, so
        # a resume runs on from exactly there
        new = dataclasses.replace(new, island_epoch=float(int(new.island_epoch)))
    spec = file_spec(new, server_start)
    try:
        after = probe.write(row.pod_name, island_id, spec)
    except ClockNotTaken as exc:
        # written nowhere (unwritable), or written where the server does not look (mismatch)
        _record_failure(store, row, actor, source, text, new, None, exc.message, timeline_id)
        raise
    verdict = judge_reading(new, after.island, after.real_before, after.real_after,
                            tolerance=settings.readback_tolerance)
    if not verdict.ok:
        # not yet: the bound of a change is the cache duration + 1 s (issue 13); read again until then
        log.info("island %s: read-back %+.2f s off (bound %.2f s; %s); reading again", island_id, verdict.diff,
                 verdict.bound, after.as_dict())
        after, verdict = _read_again(clocks_svc, row, new, after)
    asked = verdict.expected
    proof = Proof(asked_epoch=asked, read_epoch=after.island, read_diff=float(verdict.diff),
                  read_real_at=after.real_mid)
    if not verdict.ok:
        message = (f"island {island_id}: asked {_wall(asked, clocks_svc.tz)}, reads {_wall(after.island, clocks_svc.tz)} "
                   f"({verdict.diff:+.1f} s, beyond {verdict.bound:.1f} s); the clock did not take, the "
                   f"previous setting was written back")
        _write_back(probe, row, current, after.server_start)
        _record_failure(store, row, actor, source, text, new, proof, message, timeline_id)
        raise ClockNotTaken(message, island_id=island_id)
    setting = text.strip()[:255]
    done = store.record_clock_change(
        island_id, generation, state=new.as_dict(), setting=setting, actor=ref(actor), source=source, request=text,
        offset_seconds=new.island_at(after.real_mid) - after.real_mid, server_start=after.server_start,
        anchor="real", proof=proof, timeline_id=timeline_id,
        event_message=f"clock {setting} by {_label(actor, timeline_id)}; asked {_wall(asked, clocks_svc.tz)}, "
                      f"reads {_wall(after.island, clocks_svc.tz)} ({verdict.diff:+.2f} s)")
    if not done:
        raise StoreError(f"island {island_id} was deleted or restarted during its clock change; look again")
    audit(clocks_svc.service, actor, "clock", island_id, generation,
          f"{text.strip()[:200]} ({source}); reads {_wall(after.island, clocks_svc.tz)}")
    return make_view(clocks_svc, clocks_svc.service.get(island_id))


def _read_again(clocks_svc, row, state, first):
    """Read the island back until it agrees with ``state`` or its bound (cache duration + 1 s
    after the write) has passed; the last reading and its verdict."""
    deadline = time.monotonic() + first.cache_bound + 1.0
    pause = threading.Event()
    reading, verdict = first, None
    while True:
        pause.wait(0.2)
        reading = clocks_svc.probe.read(row.pod_name, row.island_id)
        verdict = judge_reading(state, reading.island, reading.real_before, reading.real_after,
                                tolerance=clocks_svc.settings.readback_tolerance)
        if verdict.ok or time.monotonic() >= deadline:
            return reading, verdict


def _write_back(probe, row, previous, server_start: float) -> None:
    try:
        probe.write(row.pod_name, row.island_id, file_spec(previous, server_start))
    except IslandError as exc:
        log.warning("island %s: writing its previous clock back failed too: %s", row.island_id, exc)


def _record_failure(store, row, actor, source, text, state, proof, error, timeline_id) -> None:
    try:
        store.record_clock_failure(row.island_id, row.generation, actor=ref(actor), source=source, request=text,
                                   state=state.as_dict() if state is not None else None, proof=proof, error=error,
                                   timeline_id=timeline_id)
    except IslandError as exc:
        log.warning("island %s: recording the failed clock change failed: %s", row.island_id, exc)


def _label(actor: Actor, timeline_id) -> str:
    if actor.kind == "timeline":
        who = Actor("user", actor.id, actor.name).label() if actor.id else "an operator"
        return f"timeline {timeline_id} of {who}"
    return actor.label()


def audit(service, actor: Actor, action: str, island_id: int | None, generation: int | None, detail: str) -> None:
    """service.audit.record (issue 12's AuditLog) if this service has one; never raises."""
    log_ = getattr(service, "audit", None)
    if log_ is None:
        return
    try:
        log_.record(actor, action, island_id=island_id, generation=generation, detail=detail)
    except Exception as exc:  # noqa: BLE001 - the audit never undoes the action it records
        log.warning("audit of %s on island %s failed: %s", action, island_id, exc)


def make_view(clocks_svc, row, record=None):
    record = clocks_svc.store.clock(row.island_id) if record is None else record
    now = time.time()
    if record is not None and record.generation == row.generation:
        state = ClockState.from_dict(record.state)
        island_now = state.island_at(now)
        proof = None
        if record.read_epoch is not None:
            proof = ClockProof(asked_epoch=record.asked_epoch, read_epoch=record.read_epoch, diff=record.read_diff,
                               read_real_at=record.read_real_at, proved_at=record.proved_at,
                               age_seconds=max(0.0, now - record.read_real_at) if record.read_real_at else None)
        set_by = {"kind": record.set_by.kind, "id": record.set_by.id, "name": record.set_by.name,
                  "label": record.set_by.label()}
        view = ClockView(island_id=row.island_id, generation=row.generation, state=record.state,
                         setting=record.setting_text, island_now=island_now, offset_seconds=island_now - now,
                         rate=float(state.rate), frozen=bool(state.frozen), timezone=clocks_svc.settings.timezone,
                         set_by=set_by, set_at=record.set_at, proof=proof)
    else:
        offset = float(row.clock_offset_seconds or 0)
        view = ClockView(island_id=row.island_id, generation=row.generation, state=None,
                         setting=row.clock_setting or "", island_now=now + offset, offset_seconds=offset,
                         rate=1.0, frozen=False, timezone=clocks_svc.settings.timezone)
    active = [timeline_dict(t) for t in clocks_svc.store.timelines(row.island_id, 20, active_only=True)]
    return _with(view, timelines=active)


def _with(view, **changes):
    return dataclasses.replace(view, **changes)


def _wall(epoch: float, tz) -> str:
    try:
        return datetime.fromtimestamp(float(epoch), tz or timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{epoch!r}"
