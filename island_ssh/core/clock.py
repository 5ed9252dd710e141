"""Per-island clocks: what a user asks for, and what goes into the libfaketime file.

Pure: no I/O, no clock reads (the real "now" is passed in). libfaketime facts this relies on
(measured with 0.9.10, see DESIGN.md):

- ``@2021-09-18 23:30:07`` means "that date plus the time elapsed since the process started",
  not "the clock now reads this"; it is only right for the launch (``initial_clock_file``).
- ``+3600`` / ``-86400`` in FAKETIME_TIMESTAMP_FILE shift the real clock by that many seconds
  and keep it running; ``+0`` is real time. This is the only form a clock change writes.
- A plain ``2022-01-01 00:00:00`` freezes the clock and ``xN`` changes its speed: never written.

A request is one of: an absolute wall-clock time ``YYYY-MM-DD HH:MM:SS`` ("the island reads this
now"), a shift relative to the island's current offset (``+2d``, ``-1h``, ``+30m``, ``+90s``,
``+1d12h``, or plain seconds ``+90``), or ``reset`` / ``now`` (back to real time).

Issue 13 (freeze, speed, presets, timelines, restart) lives in sibling modules, re-exported here
so callers import everything clock from this one module:

- clock_state: ClockState (the stored clock), EARLIEST/LATEST (1970 .. 2038-01-19 03:14:07 UTC,
  32-bit time_t servers), format_reading.
- clock_commands: parse_clock_command, apply_command, ClockCommand, validate_presets, parse_wall_time.
- clock_files: file_spec, faketime_text, entry_clock_arg, ENTRY_ARG_PATTERNS, judge_reading.
- clock_timeline: parse_timeline, TimelineStep, format_timeline, steps_due.

The ``ClockRequest`` / ``ClockSetting`` forms below (offset only) are kept for today's callers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timezone, tzinfo

from island_ssh.core.clock_commands import (  # noqa: F401 (re-exported)
    ACCEPTED, KINDS, MAX_COMMAND, PRESET_NAME, UNIT_SECONDS, WEEKDAYS, ClockCommand, NextTime, apply_command,
    next_wall_time, parse_clock_command, parse_duration, parse_preset_expression, parse_wall_time, validate_presets,
)
from island_ssh.core.clock_files import (  # noqa: F401 (re-exported)
    ENTRY_ARG_PATTERNS, ENTRY_ARG_REGEX, ReadingVerdict, entry_clock_arg, faketime_text, file_spec, judge_reading,
    parse_entry_clock_arg, running_offset,
)
from island_ssh.core.clock_state import (  # noqa: F401 (re-exported)
    EARLIEST, LATEST, MAX_RATE, MIN_RATE, RANGE_TEXT, WALL_FORMAT, ClockState, format_reading, format_utc,
)
from island_ssh.core.clock_state import short as _short
from island_ssh.core.clock_timeline import (  # noqa: F401 (re-exported)
    MAX_HORIZON, MAX_STEPS, MAX_TIMELINE_TEXT, TimelineStep, format_timeline, parse_timeline, steps_due,
    timeline_end,
)
from island_ssh.core.errors import ClockError  # lives with the family; callers import it from here too

MAX_TEXT = 64
_SHIFT = re.compile(r"[+-](?:[0-9]+[smhdw]?)(?:[0-9]+[smhdw])*\Z")
_SHIFT_PART = re.compile(r"([0-9]+)([smhdw]?)")
_WALL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}\Z")


@dataclass(frozen=True)
class ClockRequest:
    kind: str
    """"absolute", "shift" or "reset"."""
    value: float
    """absolute: target epoch seconds; shift: seconds to add; reset: 0."""
    text: str

    def resolve(self, current_offset: int, real_now: float) -> "ClockSetting":
        """The offset to write, given the island's current offset and the real time now."""
        if self.kind == "reset":
            offset = 0
        elif self.kind == "shift":
            offset = int(current_offset) + int(self.value)
        else:
            offset = round(self.value - real_now)
        island_now = real_now + offset
        if not EARLIEST <= island_now <= LATEST:
            raise ClockError(
                f"clock: {self.text!r} would set the island to {island_now:.0f} s since 1970, "
                f"outside {RANGE_TEXT}; pick a nearer time"
            )
        return ClockSetting(offset, self.text)


@dataclass(frozen=True)
class ClockSetting:
    offset_seconds: int
    """Island time minus real time."""
    text: str
    """What the user asked for."""

    @property
    def file_content(self) -> str:
        return faketime_file_content(self.offset_seconds)


def parse_clock_request(text: str, tz: tzinfo = timezone.utc) -> ClockRequest:
    """Understand what a user typed in the clock box; raises ClockError saying what is accepted."""
    if not isinstance(text, str):
        raise ClockError(f"clock: expected text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ClockError(f"clock: {len(text)} characters; at most {MAX_TEXT}")
    cleaned = text.strip()
    lowered = cleaned.lower()
    if lowered in ("reset", "now", "real", "0", "+0", "-0"):
        return ClockRequest("reset", 0, cleaned)
    if _SHIFT.match(lowered):
        sign = -1 if lowered[0] == "-" else 1
        seconds = sum(int(n) * UNIT_SECONDS[u or "s"] for n, u in _SHIFT_PART.findall(lowered[1:]))
        if seconds > LATEST:
            raise ClockError(f"clock: shift {cleaned!r} is larger than any date the island can show ({RANGE_TEXT})")
        return ClockRequest("shift", sign * seconds, cleaned)
    if _WALL.match(cleaned):
        target = parse_wall_time(cleaned, tz, field="clock")
        return ClockRequest("absolute", target.timestamp(), cleaned)
    raise ClockError(
        f"clock: {_short(text)} not understood; use a time like 2021-09-18 23:30:07, "
        "a shift like +2d, -1h, +30m, +90s, or reset"
    )


def resolve_clock(text: str, current_offset: int, real_now: float, tz: tzinfo = timezone.utc) -> ClockSetting:
    """parse_clock_request + resolve in one call."""
    return parse_clock_request(text, tz).resolve(current_offset, real_now)


def parse_clock(text: str, *, real_now: float, current_offset: int = 0, tz: tzinfo = timezone.utc) -> ClockSetting:
    """Keyword form of resolve_clock (what the service calls)."""
    return resolve_clock(text, current_offset, real_now, tz)


def faketime_file_content(offset_seconds: int) -> str:
    """The FAKETIME_TIMESTAMP_FILE text for a running clock ``offset_seconds`` from real time."""
    if isinstance(offset_seconds, bool) or not isinstance(offset_seconds, int):
        raise ClockError(f"clock offset: expected whole seconds, got {offset_seconds!r}")
    return f"{offset_seconds:+d}"


def initial_clock_file(start_time: str) -> str:
    """The clock file written at container start: the seed's ``@YYYY-MM-DD HH:MM:SS``, or ``+0``.

    ``@`` is right here because the server process starts right after the file is written, so
    "that date plus time since the process started" is the date the user asked to start at.
    """
    if not start_time or not start_time.strip():
        return "+0"
    parsed = parse_wall_time(start_time)
    return "@" + parsed.strftime(WALL_FORMAT)


def initial_offset(start_time: str, started_at: float, tz: tzinfo = timezone.utc) -> int:
    """The offset an island launched with ``start_time`` has, its server having started at ``started_at``.

    Needed to apply a relative shift to an island whose file still holds the ``@`` form.
    """
    if not start_time or not start_time.strip():
        return 0
    return round(parse_wall_time(start_time, tz).timestamp() - started_at)


def initial_state(start_time: str, started_at: float, tz: tzinfo = timezone.utc) -> ClockState:
    """The ClockState of an island launched with ``start_time`` (empty: real time) whose server
    started at ``started_at``: it read ``start_time`` then, running at rate 1."""
    if not start_time or not start_time.strip():
        return ClockState.real(started_at)
    return ClockState(parse_wall_time(start_time, tz).timestamp(), started_at)


def describe_offset(offset_seconds: int) -> str:
    """``"real time"``, ``"2 d 3 h ahead of real time"``, ``"1 h 30 min behind real time"``."""
    if offset_seconds == 0:
        return "real time"
    rest = abs(int(offset_seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {unit}")
    direction = "ahead of" if offset_seconds > 0 else "behind"
    return f"{' '.join(parts)} {direction} real time"
