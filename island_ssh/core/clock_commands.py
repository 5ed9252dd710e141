"""Clock commands a user types (one line), config presets, and what each does to a ClockState.

Pure: no I/O, no clock reads; ``real_now`` and the studio's ``tz`` (a tzinfo, e.g. a zoneinfo zone)
are passed in. Keywords are case-insensitive; every refusal is ClockError with one line that says
what is accepted.

Commands (at most 64 characters, one line):

  2021-09-18 04:59:50      set: the island reads this now (in ``tz``); keeps its rate and frozen-ness.
  set 2021-09-18 04:59:50  the same; the date may be quoted: set "2021-09-18 04:59:50" (or '...').
  +2d  -1h  +1d12h  +90    shift: relative to what the island reads NOW (not to real time);
                           units s m h d w, plain digits are seconds; keeps rate and frozen-ness.
  reset  (or now)          real time: rate 1, running.
  freeze                   stop at the current reading (the rate is kept for resume).
  resume                   run again from the frozen reading, at the stored rate.
  speed x10, speed 10, x10 run at 10x from the current reading (x0.001 .. x1000, at most 3
                           decimals; x1 is normal speed). Speed while frozen is stored and applies
                           on resume: the clock stays frozen.
  next 05:00[:SS] [+-DUR]  the next wall time 05:00 strictly after the island's reading, in ``tz``,
  next Monday 05:00 - 10s  then moved by DUR (so "next 05:00 - 10s" at 04:59:55 gives 04:59:50).
                           Weekdays in English, any case (mon .. sunday). DST-aware: a wall time
                           a DST jump skips is skipped that day; one that happens twice counts twice.
  preset NAME              the config's ``clock.presets[NAME]``, resolved when applied.

Preset expressions (config ``clock.presets: {name: expression}``) are any command but ``preset``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Mapping

from island_ssh.core.clock_state import (
    LATEST, MAX_RATE, MIN_RATE, RANGE_TEXT, WALL_FORMAT, ClockState, check_rate, check_reading, short,
)
from island_ssh.core.errors import ClockError, ConfigError

MAX_COMMAND = 64
MAX_PRESETS = 100
KINDS = ("set", "shift", "reset", "freeze", "resume", "speed", "next", "preset")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ACCEPTED = ("use 2021-09-18 04:59:50, +2d / -1h / +1d12h, reset, freeze, resume, speed x10, "
            "next 05:00 - 10s or preset NAME")
PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z")
DURATION = r"[0-9]{1,10}[smhdw]?(?:[0-9]{1,10}[smhdw])*"
_DURATION = re.compile(DURATION + r"\Z")
_DURATION_PART = re.compile(r"([0-9]+)([smhdw]?)")
_SHIFT = re.compile(r"([+-])(" + DURATION + r")\Z")
_WALL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}\Z")
_SET = re.compile(r"set\s+(?:\"([^\"]*)\"|'([^']*)'|([^\"']*))\Z")
_SPEED = re.compile(r"(?:speed\s+x?|x)([0-9]{1,4}(?:\.[0-9]{1,3})?)\Z")
_NEXT = re.compile(r"next\s+(?:([a-z]{3,9})\s+)?([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?"
                   r"(?:\s*([+-])\s*(" + DURATION + r"))?\Z")
_PRESET = re.compile(r"preset\s+(\S+)\Z")


@dataclass(frozen=True)
class NextTime:
    """``next [WEEKDAY] HH:MM[:SS] [+-DUR]``: weekday 0 = Monday (None: any day); adjust in seconds."""

    hour: int
    minute: int
    second: int = 0
    weekday: int | None = None
    adjust: int = 0


@dataclass(frozen=True)
class ClockCommand:
    """One parsed command. ``kind`` is one of KINDS; ``text`` is the canonical text (parses back
    to the same command); ``value``: set = target epoch, shift = seconds, speed = rate, else 0;
    ``name``: preset name; ``when``: the ``next`` wall time."""

    kind: str
    text: str
    value: float = 0.0
    name: str = ""
    when: NextTime | None = None


def parse_duration(text: str, what: str = "duration") -> int:
    """``90``, ``90s``, ``2m``, ``1h30m``, ``1d12h``, ``2w`` (no sign) as whole seconds."""
    if not isinstance(text, str) or not _DURATION.match(text):
        raise ClockError(f"clock: {what} {short(text)} is not a duration like 90, 90s, 2m, 1h30m, 1d12h, 2w")
    seconds = sum(int(n) * UNIT_SECONDS[u or "s"] for n, u in _DURATION_PART.findall(text))
    if seconds > LATEST:
        raise ClockError(f"clock: {what} {short(text)} is larger than any date the island can show ({RANGE_TEXT})")
    return seconds


def parse_wall_time(text: str, tz: tzinfo = timezone.utc, field: str = "start time") -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` (a ``T`` also separates) as an aware datetime in ``tz``, within the
    island's range. A wall time a DST jump skips in ``tz`` is refused; one that happens twice is
    the first (fold 0)."""
    if not isinstance(text, str):
        raise ClockError(f"{field}: expected text, got {type(text).__name__}")
    cleaned = text.strip(" ")
    if not _WALL.match(cleaned):
        raise ClockError(f"{field}: {short(text)} is not YYYY-MM-DD HH:MM:SS, e.g. 2021-09-18 23:30:07")
    try:
        naive = datetime.strptime(cleaned.replace("T", " "), WALL_FORMAT)
    except ValueError as exc:
        why = "" if str(exc).startswith("time data") else f" ({exc})"
        raise ClockError(f"{field}: {short(text)} is not a real date and time{why}; "
                         "use YYYY-MM-DD HH:MM:SS, e.g. 2021-09-18 23:30:07") from None
    if naive.year < 1970:
        raise ClockError(f"{field}: {short(text)} is before 1970; the island clock cannot go there ({RANGE_TEXT})")
    if naive.year > 2038:
        raise ClockError(f"{field}: {short(text)} is after 2038; the island clock stays within {RANGE_TEXT}")
    parsed = naive.replace(tzinfo=tz)
    epoch = parsed.timestamp()
    if not _exists(parsed, epoch, tz):
        raise ClockError(f"{field}: {cleaned} does not exist in the studio's time zone (a DST jump skips it)")
    if not 0 <= epoch <= LATEST:
        raise ClockError(f"{field}: {short(text)} is outside {RANGE_TEXT}; the island clock cannot go there")
    return parsed


def parse_clock_command(text: str, presets: Mapping[str, str] | None = None,
                        tz: tzinfo = timezone.utc) -> ClockCommand:
    """What a user typed (see the module docstring); ``preset NAME`` must name one of ``presets``."""
    return _parse(text, presets or {}, tz, allow_preset=True, field="clock")


def parse_preset_expression(expression: str, tz: tzinfo = timezone.utc) -> ClockCommand:
    """A preset's expression: any command but ``preset`` (presets do not nest)."""
    return _parse(expression, {}, tz, allow_preset=False, field="preset")


def validate_presets(mapping: object, tz: tzinfo = timezone.utc) -> dict[str, str]:
    """Config load time: ``{name: expression}`` checked; returns ``{name: canonical expression}``.

    Names: ``[a-z0-9][a-z0-9-]{0,31}``; expressions: see parse_preset_expression. None is {}.
    Raises ConfigError naming the preset (one line)."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"clock.presets: expected a mapping of name: expression, got {type(mapping).__name__}")
    if len(mapping) > MAX_PRESETS:
        raise ConfigError(f"clock.presets: {len(mapping)} presets; at most {MAX_PRESETS}")
    result: dict[str, str] = {}
    for name, expression in mapping.items():
        if not isinstance(name, str) or not PRESET_NAME.match(name):
            raise ConfigError(f"clock.presets: preset name {short(name)} must be lower-case letters, digits "
                              "and '-' (up to 32, starting with a letter or digit), e.g. daily-reset")
        if not isinstance(expression, str):
            raise ConfigError(f"clock.presets.{name}: expected text like 'next 05:00 - 10s', "
                              f"got {type(expression).__name__}")
        try:
            result[name] = parse_preset_expression(expression, tz).text
        except ClockError as exc:
            raise ConfigError(f"clock.presets.{name}: {str(exc).split(': ', 1)[-1]}") from None
    return result


def apply_command(cmd: ClockCommand, current: ClockState, real_now: float, tz: tzinfo = timezone.utc,
                  presets: Mapping[str, str] | None = None) -> ClockState:
    """The new state, anchored at ``real_now`` (``real_epoch == real_now``). The reading is
    continuous at ``real_now`` for freeze, resume and speed; set, next and shift jump it; reset
    goes to real time. ClockError if the reading at ``real_now`` would leave the range."""
    reading = current.island_at(real_now)
    kind = cmd.kind
    if kind == "preset":
        expression = (presets or {}).get(cmd.name)
        if expression is None:
            raise ClockError(f"clock: no preset {cmd.name!r} (any more); {_known(presets or {})}")
        return apply_command(parse_preset_expression(expression, tz), current, real_now, tz, None)
    if kind == "reset":
        return ClockState(check_reading(real_now, "reset"), real_now)
    if kind in ("freeze", "resume"):
        return ClockState(reading, real_now, current.rate, kind == "freeze")
    if kind == "speed":
        return ClockState(reading, real_now, check_rate(cmd.value), current.frozen)
    if kind == "set":
        target = cmd.value
    elif kind == "shift":
        target = reading + cmd.value
    elif kind == "next" and cmd.when is not None:
        target = next_wall_time(cmd.when, reading, tz) + cmd.when.adjust
    else:
        raise ClockError(f"clock: unknown command kind {short(kind)}; {ACCEPTED}")
    return ClockState(check_reading(target, repr(cmd.text)), real_now, current.rate, current.frozen)


def next_wall_time(when: NextTime, after: float, tz: tzinfo) -> float:
    """The first epoch strictly after ``after`` at which the wall clock in ``tz`` shows
    ``when``'s HH:MM:SS (on ``when.weekday`` if set); ``when.adjust`` is not applied."""
    if not math.isfinite(after):
        raise ClockError(f"clock: the island's reading {after!r} is not a time")
    start = datetime.fromtimestamp(math.floor(after), tz).date() - timedelta(days=1)
    for day in range(0, 10):
        date = start + timedelta(days=day)
        if when.weekday is not None and date.weekday() != when.weekday:
            continue
        found = []
        for fold in (0, 1):
            wall = datetime(date.year, date.month, date.day, when.hour, when.minute, when.second, tzinfo=tz, fold=fold)
            epoch = wall.timestamp()
            if _exists(wall, epoch, tz) and epoch > after:
                found.append(epoch)
        if found:
            return min(found)
    raise ClockError(f"clock: no {when.hour:02d}:{when.minute:02d}:{when.second:02d} within a week after the reading")


def _exists(wall: datetime, epoch: float, tz: tzinfo) -> bool:
    """The wall time really shows in ``tz`` (a DST gap's times map to another wall time)."""
    back = datetime.fromtimestamp(epoch, tz)
    return back.replace(tzinfo=None, fold=0) == wall.replace(tzinfo=None, fold=0)


def _known(presets: Mapping[str, str]) -> str:
    names = sorted(presets)
    if not names:
        return "no presets are configured (clock.presets)"
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f"presets: {shown}"


def _parse(text: object, presets: Mapping[str, str], tz: tzinfo, *, allow_preset: bool, field: str) -> ClockCommand:
    if not isinstance(text, str):
        raise ClockError(f"{field}: expected text, got {type(text).__name__}; {ACCEPTED}")
    if len(text) > MAX_COMMAND:
        raise ClockError(f"{field}: {len(text)} characters; at most {MAX_COMMAND}; {ACCEPTED}")
    if not text.isascii() or not text.isprintable():
        raise ClockError(f"{field}: {short(text)} has characters other than plain ASCII on one line; {ACCEPTED}")
    cleaned = " ".join(text.split())
    lowered = cleaned.lower()
    if lowered in ("reset", "now"):
        return ClockCommand("reset", "reset")
    if lowered in ("freeze", "resume"):
        return ClockCommand(lowered, lowered)
    shift = _SHIFT.match(lowered)
    if shift:
        seconds = parse_duration(shift.group(2), "shift")
        return ClockCommand("shift", lowered, float(-seconds if shift.group(1) == "-" else seconds))
    if lowered.startswith("set ") or _WALL.match(cleaned):
        set_match = _SET.match("set " + cleaned[4:]) if lowered.startswith("set ") else None
        if lowered.startswith("set ") and not set_match:
            raise ClockError(f"{field}: {short(text)} is not set YYYY-MM-DD HH:MM:SS (the date may be in \"...\")")
        wall = next((g for g in set_match.groups() if g is not None), "") if set_match else cleaned
        parsed = parse_wall_time(wall.strip(), tz, field=field)
        return ClockCommand("set", parsed.strftime(WALL_FORMAT), parsed.timestamp())
    if lowered.startswith(("speed", "x")):
        speed = _SPEED.match(lowered)
        if not speed:
            raise ClockError(f"{field}: {short(text)} is not a speed; use speed x10, speed 0.5 or x2 "
                             f"(x{MIN_RATE:g} .. x{MAX_RATE:g}, at most 3 decimals; x1 is normal)")
        rate = float(speed.group(1))
        if rate == 0:
            raise ClockError(f"{field}: speed 0 would stop the clock; use freeze, or a speed from x{MIN_RATE:g} to x{MAX_RATE:g}")
        check_rate(rate)
        return ClockCommand("speed", f"speed x{rate:g}", rate)
    if lowered.startswith("next"):
        return _parse_next(lowered, text, field)
    if lowered.startswith("preset"):
        if not allow_preset:
            raise ClockError(f"{field}: {short(text)}: a preset cannot name another preset; {ACCEPTED}")
        match = _PRESET.match(lowered)
        name = match.group(1) if match else ""
        if not PRESET_NAME.match(name):
            raise ClockError(f"{field}: {short(text)} is not 'preset NAME' (NAME: lower-case letters, digits, '-')")
        if name not in presets:
            raise ClockError(f"{field}: no preset {name!r}; {_known(presets)}")
        return ClockCommand("preset", f"preset {name}", name=name)
    raise ClockError(f"{field}: {short(text)} not understood; {ACCEPTED}")


def _parse_next(lowered: str, text: str, field: str) -> ClockCommand:
    match = _NEXT.match(lowered)
    if not match:
        raise ClockError(f"{field}: {short(text)} is not like 'next 05:00', 'next 05:00:00 - 10s' or "
                         "'next monday 05:00 + 1m'")
    day, hour, minute, second, sign, duration = match.groups()
    weekday = None
    if day is not None:
        weekday = next((i for i, name in enumerate(WEEKDAYS) if name == day or name[:3] == day), None)
        if weekday is None:
            raise ClockError(f"{field}: {short(day)} is not a weekday; use monday .. sunday (or mon .. sun)")
    h, m, s = int(hour), int(minute), int(second or 0)
    if h > 23 or m > 59 or s > 59:
        raise ClockError(f"{field}: {hour}:{minute}:{second or '00'} is not a time of day (00:00:00 .. 23:59:59)")
    adjust = 0
    if sign:
        adjust = parse_duration(duration, "adjustment") * (-1 if sign == "-" else 1)
        if abs(adjust) > 7 * 86400:
            raise ClockError(f"{field}: adjustment {sign}{duration} is more than a week; at most 7d")
    when = NextTime(h, m, s, weekday, adjust)
    canonical = "next " + (WEEKDAYS[weekday] + " " if weekday is not None else "") + f"{h:02d}:{m:02d}:{s:02d}"
    if adjust:
        canonical += f" {'-' if adjust < 0 else '+'} {abs(adjust)}s"
    return ClockCommand("next", canonical, when=when)
