"""An island's clock as state: what it read at a given real time, and how fast it runs.

Pure: no I/O, no clock reads; the real time and the studio's ``tzinfo`` are passed in.

The island's reading must stay within ``EARLIEST`` .. ``LATEST``: 1970-01-01 00:00:00 UTC to
2038-01-19 03:14:07 UTC (``2**31 - 1``), the last second a signed 32-bit ``time_t`` holds. Some
game servers (and their tools, MySQL's TIMESTAMP columns among them) still keep time in 32 bits;
past that second they wrap to 1901 or refuse, so the island never goes there. (Before issue 13
the bound was 9999-12-31, which only Java and MySQL DATETIME agree with.) A clock running faster
than real time can drift past LATEST by itself; ``ClockState.overflows_at`` says when.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from island_ssh.core.errors import ClockError

EARLIEST = 0
"""1970-01-01 00:00:00 UTC."""
LATEST = 2**31 - 1
"""2038-01-19 03:14:07 UTC: the last second of a signed 32-bit time_t (see the module docstring)."""
RANGE_TEXT = "1970-01-01 00:00:00 .. 2038-01-19 03:14:07 UTC"
MIN_RATE = 0.001
"""Slowest speed: x0.001 (speeds carry at most 3 decimals, so the file never needs an exponent)."""
MAX_RATE = 1000.0
"""Fastest speed: x1000 (a 7-day event ends in about 10 minutes)."""
WALL_FORMAT = "%Y-%m-%d %H:%M:%S"
_STATE_KEYS = ("island_epoch", "real_epoch", "rate", "frozen")


def short(text: object) -> str:
    """``repr`` of what a user typed, cut to 50 characters: one line, whatever it holds."""
    shown = repr(text)
    return shown if len(shown) <= 50 else shown[:47] + "..."


def in_range(epoch: float) -> bool:
    return math.isfinite(epoch) and EARLIEST <= epoch <= LATEST


def check_reading(epoch: float, what: str) -> float:
    """``epoch`` if the island may read it; else ClockError naming ``what`` and the range."""
    if not in_range(epoch):
        shown = format_utc(epoch) if math.isfinite(epoch) and -1e11 < epoch < 1e11 else f"{epoch!r} s"
        raise ClockError(f"clock: {what} would make the island read {shown}, outside {RANGE_TEXT}; pick a nearer time")
    return epoch


def check_rate(rate: object, what: str = "speed") -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
        raise ClockError(f"clock: {what} {short(rate)} is not a number; use a speed from x{MIN_RATE:g} to x{MAX_RATE:g}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ClockError(f"clock: {what} x{rate:g} is out of range; use a speed from x{MIN_RATE:g} to x{MAX_RATE:g}")
    return float(rate)


def format_utc(epoch: float) -> str:
    return datetime.fromtimestamp(int(math.floor(epoch)), timezone.utc).strftime(WALL_FORMAT) + " UTC"


def format_reading(epoch: float, tz: tzinfo = timezone.utc) -> str:
    """``YYYY-MM-DD HH:MM:SS`` of ``epoch`` (whole seconds, floored) in ``tz``."""
    return datetime.fromtimestamp(int(math.floor(epoch)), tz).strftime(WALL_FORMAT)


@dataclass(frozen=True)
class ClockState:
    """The island read ``island_epoch`` at node real time ``real_epoch``, running at ``rate``
    (or frozen, at ``island_epoch``, whatever the rate).

    A frozen clock keeps its rate: ``resume`` continues from the frozen reading at that rate, and
    ``speed`` while frozen stores the new rate for the resume. Constructing one validates it
    (finite numbers, ``real_epoch >= 0``, the reading in range, ``MIN_RATE <= rate <= MAX_RATE``).
    """

    island_epoch: float
    real_epoch: float
    rate: float = 1.0
    frozen: bool = False

    def __post_init__(self) -> None:
        for name in ("island_epoch", "real_epoch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ClockError(f"clock state: {name} {short(value)} is not a finite number of seconds")
        if self.real_epoch < 0:
            raise ClockError(f"clock state: real_epoch {self.real_epoch!r} is before 1970")
        check_reading(self.island_epoch, "this clock state")
        check_rate(self.rate, "clock state rate")
        if not isinstance(self.frozen, bool):
            raise ClockError(f"clock state: frozen {short(self.frozen)} is not true or false")

    @classmethod
    def real(cls, real_now: float) -> "ClockState":
        """Real time: reads ``real_now`` at ``real_now``, rate 1, running."""
        return cls(real_now, real_now)

    @classmethod
    def from_offset(cls, offset_seconds: float, real_now: float) -> "ClockState":
        """A running rate-1 clock ``offset_seconds`` from real time (the pre-issue-13 stored form)."""
        return cls(real_now + offset_seconds, real_now)

    def island_at(self, real: float) -> float:
        """What the island reads at node real time ``real``."""
        if self.frozen:
            return self.island_epoch
        return self.island_epoch + self.rate * (real - self.real_epoch)

    def offset_at(self, real: float) -> float:
        """Island reading minus real time at ``real`` (constant only for a running rate-1 clock)."""
        return self.island_at(real) - real

    def anchored(self, real_now: float) -> "ClockState":
        """The same clock, described from ``real_now`` (equal readings at every real time)."""
        return ClockState(self.island_at(real_now), real_now, self.rate, self.frozen)

    @property
    def is_real_time(self) -> bool:
        """Running at rate 1 with no offset (to the microsecond)."""
        return not self.frozen and self.rate == 1.0 and abs(self.island_epoch - self.real_epoch) < 1e-6

    def overflows_at(self) -> float | None:
        """The real time the reading passes LATEST (running clocks; None if frozen)."""
        if self.frozen:
            return None
        return self.real_epoch + (LATEST - self.island_epoch) / self.rate

    def describe(self, real_now: float, tz: tzinfo = timezone.utc) -> str:
        """``reads 2021-09-18 04:59:50``, plus ``, frozen`` / ``, running x10`` / ``, frozen (x10 on resume)``."""
        text = f"reads {format_reading(self.island_at(real_now), tz)}"
        speed = f"x{self.rate:g}"
        if self.frozen:
            return text + (", frozen" if self.rate == 1.0 else f", frozen ({speed} on resume)")
        return text if self.rate == 1.0 else f"{text}, running {speed}"

    def as_dict(self) -> dict:
        """JSON-safe: ``{"island_epoch": float, "real_epoch": float, "rate": float, "frozen": bool}``."""
        return {"island_epoch": float(self.island_epoch), "real_epoch": float(self.real_epoch),
                "rate": float(self.rate), "frozen": bool(self.frozen)}

    @classmethod
    def from_dict(cls, data: object) -> "ClockState":
        """The inverse of ``as_dict``; strict: exactly those four keys, numbers (not bools or
        strings) for the first three, a bool for ``frozen``; ClockError otherwise."""
        if not isinstance(data, dict):
            raise ClockError(f"clock state: expected an object with {', '.join(_STATE_KEYS)}, got {type(data).__name__}")
        keys = set(data)
        if keys != set(_STATE_KEYS):
            missing = sorted(set(_STATE_KEYS) - keys)
            extra = sorted(str(k) for k in keys - set(_STATE_KEYS))
            raise ClockError(f"clock state: keys must be {', '.join(_STATE_KEYS)} "
                             f"(missing {missing or 'none'}, unknown {[short(k) for k in extra] or 'none'})")
        return cls(data["island_epoch"], data["real_epoch"], data["rate"], data["frozen"])
