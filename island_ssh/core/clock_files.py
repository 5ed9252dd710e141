"""What a ClockState becomes inside the container, and how to judge what the island reads.

Pure. libfaketime 0.9.10 facts (measured, DESIGN.md), with S the start time libfaketime recorded
for the process (shared by every process attached to the same shm segment):

- file ``+O xR`` (O decimal, may be fractional or negative): island(t) = S + (t - S)*R + O; for
  R = 1 that is t + O, whatever S is. ``xR`` sticks until another ``x`` is written, so every file
  we write carries an explicit ``xR`` (``x1`` included). ``+O x0`` would freeze at S + O: never used.
- a plain ``YYYY-MM-DD HH:MM:SS`` freezes the clock at that date, parsed in the process's own
  time zone (whatever S is). In a zone's DST fall-back hour that text is ambiguous; libfaketime
  (mktime) picks one, so a freeze inside that hour may read an hour off.
- ``@DATE`` is DATE + (t - S): right only for the launch (clock.initial_clock_file).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from island_ssh.core.clock_state import ClockState, check_reading, short
from island_ssh.core.errors import ClockError

ENTRY_ARG_PATTERNS = {
    "offset": r"^[+-][0-9]+\.[0-9]{6} x1$",
    "frozen": r"^=[0-9]{1,10}$",
    "rate": r"^~[0-9]+\.[0-9]{6} [0-9]+\.[0-9]{6} [0-9]{1,4}(\.[0-9]{1,3})?$",
}
"""The three forms ``entry_clock_arg`` returns (POSIX ERE, anchored; usable with ``grep -E`` and
Python's ``re``). The launch also passes ``""`` (real time) or the seed's ``YYYY-MM-DD HH:MM:SS``.

  offset  ``+O x1`` / ``-O x1``: running at normal speed, O seconds (6 decimals) from real time;
          the entry script writes it to the file as it is (island(t) = t + O, whatever S is).
  frozen  ``=EPOCH``: frozen at EPOCH (whole seconds since 1970, <= 2147483647); the entry
          script writes that date, ``date -d @EPOCH '+%Y-%m-%d %H:%M:%S'``, in the container's zone.
  rate    ``~F T R``: the island read F (6 decimals) at real time T (6 decimals), running at R
          (x0.001 .. x1000, at most 3 decimals): island(t) = F + (t - T)*R. At container start,
          with libfaketime start S, the script writes ``+O xR`` with O = F - S + (S - T)*R, so
          that S + (t - S)*R + O = F + (t - T)*R; the time the island was down counts at R.
"""
ENTRY_ARG_REGEX = {kind: re.compile(pattern[1:-1] + r"\Z") for kind, pattern in ENTRY_ARG_PATTERNS.items()}
"""ENTRY_ARG_PATTERNS compiled for Python's ``re.match`` (``\\Z``: Python's ``$`` would let a trailing newline in)."""
_ENTRY = ENTRY_ARG_REGEX


@dataclass(frozen=True)
class ReadingVerdict:
    """expected: what the state says the island reads at the middle of the read; diff: read minus
    expected (seconds, signed); bound: the largest |diff| that is right; ok: |diff| <= bound."""

    expected: float
    diff: float
    ok: bool
    bound: float


def running_offset(state: ClockState, server_start: float) -> float:
    """O for ``+O xR`` with libfaketime start S = ``server_start``: O = F0 - R*T0 - S*(1 - R)."""
    _finite(server_start, "server start")
    return state.island_epoch - state.rate * state.real_epoch - server_start * (1.0 - state.rate)


def file_spec(state: ClockState, server_start: float) -> str:
    """The SPEC the container's clock script takes: ``offset {O:+.6f} {R:g}`` for a running clock
    (the script writes ``+O xR``), ``frozen {int(F0)}`` for a frozen one (the script writes that
    date in the server's zone). ``server_start`` is S; it only matters when R != 1."""
    if state.frozen:
        return f"frozen {int(check_reading(state.island_epoch, 'a frozen clock'))}"
    return f"offset {running_offset(state, server_start):+.6f} {state.rate:g}"


def faketime_text(state: ClockState, server_start: float) -> str:
    """The exact file text for a running clock: ``+O xR`` (O with 6 decimals)."""
    if state.frozen:
        raise ClockError("clock: a frozen clock's file is a plain date in the server's zone; use file_spec")
    return f"{running_offset(state, server_start):+.6f} x{state.rate:g}"


def entry_clock_arg(state: ClockState, real_now: float) -> str:
    """entry.sh's 4th argument on restart/recover (grammar: ENTRY_ARG_PATTERNS): ``+O x1`` with
    O = island_at(real_now) - real_now for a running rate-1 clock (exact whenever the container
    starts), ``=EPOCH`` for a frozen one, ``~F T R`` otherwise (F = island_at(real_now), T = real_now)."""
    _finite(real_now, "real time")
    if real_now < 0:
        raise ClockError(f"clock: real time {real_now!r} is before 1970")
    if state.frozen:
        return f"={int(check_reading(state.island_epoch, 'a frozen clock'))}"
    reading = check_reading(state.island_at(real_now), "restarting this clock")
    if state.rate == 1.0:
        return f"{reading - real_now:+.6f} x1"
    return f"~{reading:.6f} {real_now:.6f} {state.rate:g}"


def parse_entry_clock_arg(text: str, real_now: float | None = None) -> ClockState:
    """The inverse of entry_clock_arg (tests, read-back): a state with the same readings.
    ``+O x1`` holds at every real time: it is anchored at ``real_now`` (default: the first real
    time its reading is in range) and ``=EPOCH`` at real time 0: compare ``island_at(t)``."""
    if not isinstance(text, str):
        raise ClockError(f"entry clock: expected text, got {type(text).__name__}")
    if _ENTRY["offset"].match(text):
        offset = float(text.split(" ")[0])
        return ClockState.from_offset(offset, max(0.0, -offset) if real_now is None else real_now)
    if _ENTRY["frozen"].match(text):
        return ClockState(int(text[1:]), 0.0, frozen=True)
    if _ENTRY["rate"].match(text):
        island, real, rate = (float(part) for part in text[1:].split(" "))
        return ClockState(island, real, rate)
    raise ClockError(f"entry clock: {short(text)} is not '+O x1', '=EPOCH' or '~F T R'")


def judge_reading(state: ClockState, island_read: float, real_before: float, real_after: float,
                  tolerance: float = 0.5, start_error: float = 0.0) -> ReadingVerdict:
    """Does ``island_read`` (what the island read, somewhere between real times ``real_before``
    and ``real_after``) agree with ``state``? Expected is ``island_at(mid)``; a frozen clock
    reads whole seconds, so it is compared with ``int(F0)``. The bound is ``tolerance`` plus,
    for a running clock, ``rate * (real_after - real_before) / 2`` (the read happened somewhere
    in that window, which the island crosses at ``rate``), plus ``|1 - rate| * start_error`` when
    the file was written with a server start S known only to within ``start_error`` seconds (an
    error dS in S moves a running ``+O xR`` clock by (1 - R) * dS). A reading in whole seconds
    (busybox ``date +%s``) needs ``tolerance >= 1``."""
    for name, value in (("island reading", island_read), ("real_before", real_before),
                        ("real_after", real_after), ("tolerance", tolerance), ("start_error", start_error)):
        _finite(value, name)
    if real_after < real_before:
        raise ClockError(f"clock reading: real_after {real_after!r} is before real_before {real_before!r}")
    if tolerance < 0 or start_error < 0:
        raise ClockError(f"clock reading: tolerance {tolerance!r} / start_error {start_error!r} is negative")
    if state.frozen:
        expected, bound = float(int(state.island_epoch)), float(tolerance)
    else:
        mid = (real_before + real_after) / 2.0
        expected = state.island_at(mid)
        bound = tolerance + abs(state.rate) * (real_after - real_before) / 2.0 + abs(1.0 - state.rate) * start_error
    diff = island_read - expected
    return ReadingVerdict(expected, diff, abs(diff) <= bound, bound)


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ClockError(f"clock: {name} {short(value)} is not a finite number of seconds")
    return float(value)

