"""The clock across an island's life: launch, registration, restart, recover's re-apply.

Launch with a start time T: the entry script writes ``@T``, which libfaketime reads as "T at the
moment libfaketime started in the container (S: the entry script, whose exec becomes the
server), running on". S is not known at launch, so the stored state is anchored on S:
``ClockState(T, real_epoch=launch time)`` with anchor ``start``, a guess; the island's
registration call (made by the entry script just before it execs the server) moves real_epoch
to the registration time, within that call's duration of S; the first probe (any clock change,
or the first ``ClockService.state`` look) measures S exactly and stores the state re-anchored on
it (anchor ``real``). Chosen over anchoring only at the first probe so the page shows the right
time from the start, and over anchoring only at registration so what is stored is exact once
anything was read back.

Restart and recover re-apply: the new pod's entry script gets ``entry_clock_arg(state, now)``
(core.clock_files: ``+O x1``, ``=EPOCH`` or ``~F T R``, which the entry script turns into the
file with its own S) as its 4th argument instead of the launch's start time, so a restarted
island reads what it read before plus the time that passed, at its speed (or its frozen time).
Those forms are exact whenever the container starts: the stored state stays anchored on real
time. (Were it ever the ``@`` form again, it would be anchored on the new server's start as at
launch.)
"""

from __future__ import annotations

import logging
import time

from island_ssh.core.clock_commands import parse_wall_time
from island_ssh.core.clock_files import entry_clock_arg
from island_ssh.core.clock_state import ClockState
from island_ssh.core.errors import IslandError
from island_ssh.service.clock_change import actor_of, ref
from island_ssh.store.clocks import ActorRef

log = logging.getLogger(__name__)


def on_launch(clocks_svc, row, start_time: str) -> None:
    """Store the clock of a new island (none when it starts at real time)."""
    if not start_time:
        return
    island_epoch = parse_wall_time(start_time).timestamp()
    state = ClockState(island_epoch=island_epoch, real_epoch=time.time())
    clocks_svc.store.set_initial_clock(
        row.island_id, row.generation, state=state.as_dict(), setting=start_time, anchor="start",
        actor=ActorRef("user", row.owner_id or row.owner, row.owner), request=f"launch with start time {start_time}")


def stored_state(clocks_svc, row):
    """The ClockState stored for this generation of the island, or None."""
    record = clocks_svc.store.clock(row.island_id)
    if record is None or record.generation != row.generation:
        return None
    return ClockState.from_dict(record.state)


def entry_arg(clocks_svc, row, default: str, state=None, now: float | None = None, reanchor: bool = False) -> str:
    """The entry script's clock argument for (re)applying ``row``: from the stored state when the
    island has one, else ``default`` (the launch's start time). ``reanchor`` (a re-apply of this
    very generation): when the argument counts from the server's start, the stored state is
    anchored on that start again (the same clock, re-expressed; made exact at registration)."""
    state = stored_state(clocks_svc, row) if state is None else state
    now = time.time() if now is None else now
    if state is None:
        if row.clock_offset_seconds is None or not row.clock_setting:
            return default
        # an island whose clock was set before clocks were stored (offset only): keep its offset
        return entry_clock_arg(ClockState.from_offset(float(row.clock_offset_seconds), now), now)
    arg = entry_clock_arg(state, now)
    if reanchor:
        # the new pod reads exactly what ``arg`` says: store the state in those terms
        anchored = state.anchored(now)
        clocks_svc.store.carry_clock(row.island_id, row.generation, row.generation, anchored.as_dict(),
                                     "start" if start_anchored(arg) else "real")
    return arg


def start_anchored(arg: str) -> bool:
    """Whether the entry script's argument counts from the server's start (``@``/wall time)."""
    text = arg.strip()
    return text.startswith("@") or (len(text) >= 19 and text[:4].isdigit() and text[4] == "-")


def restarted(clocks_svc, island_id: int, generation: int, state, arg: str, rendered_at: float, actor) -> None:
    """After a restart's commit (which carried the clock to ``generation``): anchor the carried
    state on the new server's start when the argument counts from it; a history row."""
    if state is None:
        return
    try:
        if start_anchored(arg):
            clocks_svc.store.carry_clock(island_id, generation, generation, state.anchored(rendered_at).as_dict(),
                                         "start")
        clocks_svc.store.note_clock(island_id, generation, actor=actor, source="restart",
                                    request=f"restart: clock re-applied ({arg})", state=state.as_dict())
    except IslandError as exc:
        log.warning("island %s: recording its clock after the restart failed: %s", island_id, exc)


def registered(clocks_svc, island_id: int) -> None:
    """The entry script registered: its server starts now. A start-anchored state's guess of S
    becomes now (the first probe makes it exact)."""
    try:
        record = clocks_svc.store.clock(island_id)
        if record is None or record.anchor != "start":
            return
        state = ClockState.from_dict(record.state)
        anchored = ClockState(island_epoch=state.island_epoch, real_epoch=time.time(), rate=state.rate,
                              frozen=state.frozen)
        clocks_svc.store.anchor_clock(island_id, record.generation, anchored.as_dict())
    except IslandError as exc:
        log.warning("island %s: anchoring its clock at registration failed: %s", island_id, exc)


def reapplied(clocks_svc, island_id: int, generation: int, source: str, actor) -> None:
    """recover (or start-up) applied the island again: the stored clock went with it."""
    try:
        record = clocks_svc.store.clock(island_id)
        if record is None or record.generation != generation:
            return
        clocks_svc.store.note_clock(island_id, generation, actor=actor, source=source,
                                    request=f"{source}: applied again with its stored clock", state=record.state)
    except IslandError as exc:
        log.warning("island %s: recording its clock after %s failed: %s", island_id, source, exc)


def actor_ref(user) -> ActorRef:
    """Who restarted (None: the operator)."""
    return ref(actor_of(user))
