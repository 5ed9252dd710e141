"""Clock timelines: a list of clock commands applied to an island at set times after it starts.

Pure. Syntax: steps separated by ``;`` or line breaks, each ``at +DURATION COMMAND``::

    at +0 set "2021-09-18 04:59:50"; at +2m preset weekly-reset; at +3m freeze

DURATION is a duration like 0, 90, 90s, 2m, 1h30m, 1d (the ``+`` may be left out), counted in
real time from the timeline's start; COMMAND is any clock command (clock_commands: a date, set
"DATE", a shift, reset, freeze, resume, speed x10, next ..., preset NAME). Steps are in
non-decreasing ``at`` order, at most 50, the last at most 7 days in; the text at most 2000
characters of plain ASCII. Presets are checked when the timeline is parsed and looked up again
when each step runs (a preset removed in between makes that step fail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timezone, tzinfo
from typing import Mapping, Sequence

from island_ssh.core.clock_commands import DURATION, parse_clock_command, parse_duration
from island_ssh.core.clock_state import short
from island_ssh.core.errors import ClockError

MAX_TIMELINE_TEXT = 2000
MAX_STEPS = 50
MAX_HORIZON = 7 * 86400
TIMELINE_SYNTAX = "steps like 'at +0 set \"2021-09-18 04:59:50\"; at +2m preset weekly-reset; at +3m freeze'"
_STEP = re.compile(r"at\s+\+?(" + DURATION + r")\s+(\S.*)\Z", re.IGNORECASE | re.DOTALL)
_SEPARATORS = re.compile(r"[;\n]")


@dataclass(frozen=True)
class TimelineStep:
    """Run ``command`` (canonical clock command text) ``at_seconds`` real seconds after the start."""

    at_seconds: float
    command: str


def parse_timeline(text: str, presets: Mapping[str, str] | None = None,
                   tz: tzinfo = timezone.utc) -> list[TimelineStep]:
    """The steps of a timeline (module docstring); ClockError (one line, naming the step) otherwise."""
    if not isinstance(text, str):
        raise ClockError(f"timeline: expected text, got {type(text).__name__}; {TIMELINE_SYNTAX}")
    if len(text) > MAX_TIMELINE_TEXT:
        raise ClockError(f"timeline: {len(text)} characters; at most {MAX_TIMELINE_TEXT}; {TIMELINE_SYNTAX}")
    outside = next((c for c in text if not (c.isascii() and (c.isprintable() or c in "\n\r"))), None)
    if outside is not None:
        raise ClockError(f"timeline: {short(outside)} is not allowed: plain ASCII only; {TIMELINE_SYNTAX}")
    pieces = [piece.strip() for piece in _SEPARATORS.split(text)]
    pieces = [piece for piece in pieces if piece]
    if not pieces:
        raise ClockError(f"timeline: no steps; {TIMELINE_SYNTAX}")
    if len(pieces) > MAX_STEPS:
        raise ClockError(f"timeline: {len(pieces)} steps; at most {MAX_STEPS}")
    steps: list[TimelineStep] = []
    for number, piece in enumerate(pieces, start=1):
        match = _STEP.match(piece)
        if not match:
            raise ClockError(f"timeline step {number}: {short(piece)} is not 'at +DURATION COMMAND'; {TIMELINE_SYNTAX}")
        try:
            at = parse_duration(match.group(1), "time")
            command = parse_clock_command(match.group(2), presets or {}, tz)
        except ClockError as exc:
            raise ClockError(f"timeline step {number}: {str(exc).split(': ', 1)[-1]}") from None
        if at > MAX_HORIZON:
            raise ClockError(f"timeline step {number}: at +{match.group(1)} is more than 7 days in; at most +7d")
        if steps and at < steps[-1].at_seconds:
            raise ClockError(f"timeline step {number}: at +{match.group(1)} comes before step {number - 1}; "
                             "steps must be in time order")
        steps.append(TimelineStep(float(at), command.text))
    return steps


def format_timeline(steps: Sequence[TimelineStep]) -> str:
    """Canonical text (``at +120s preset weekly-reset; ...``) that parse_timeline reads back."""
    return "; ".join(f"at +{int(step.at_seconds)}s {_quoted(step.command)}" for step in steps)


def steps_due(steps: Sequence[TimelineStep], started_at: float, done: int, real_now: float) -> list[int]:
    """Indices of the steps not yet done (``done`` steps ran, in order) whose time has come."""
    return [i for i in range(max(0, done), len(steps)) if started_at + steps[i].at_seconds <= real_now]


def timeline_end(steps: Sequence[TimelineStep], started_at: float) -> float:
    """Real time of the last step."""
    return started_at + (steps[-1].at_seconds if steps else 0.0)


def _quoted(command: str) -> str:
    if command[:1].isdigit():  # a date: written as set "DATE" so it reads as one
        return f'set "{command}"'
    return command
