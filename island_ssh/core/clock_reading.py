"""What conf/container/clock.sh printed, as data: the proof of the time an island reads.

Pure: the text comes in, a ``Reading`` (or ``ServerFacts``) comes out. The script prints
``key=value`` lines after a marker line; anything before the marker (a login banner, kubectl's
warnings) is ignored, anything after it must be ours, or the whole output is refused
(UnreadableOutput): a garbled reading must never pass as proof.

The script's refusals are ``error=<code> <words>`` lines; each code maps to one error class of the
family (``ClockNotTaken`` and its subclasses), whose message says what the user can do.

libfaketime facts the numbers rely on (0.9.10, measured): the island reading comes from a new
process that shares the server's libfaketime shared memory (FAKETIME_SHARED), so it reads exactly
what the server reads; the calibration reading (``FAKETIME="+0 xK"``, K = ``calibration_rate``,
10; sharing the same memory) reads ``S + (t - S)*K``, which gives the server's start time S (the
point speed factors pivot on): ``S = (K*t - reading)/(K - 1)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from island_ssh.core.errors import (ClockFileMismatch, ClockFileUnwritable, ClockNotTaken, InvalidInput,
                                    PreloadMissing, UnreadableOutput)

MARKER = "--island-clock-v1--"
"""The line after which clock.sh's answer starts (the script builds it from pieces)."""
DEFAULT_CACHE_SECONDS = 10.0
"""libfaketime's own cache duration when FAKETIME_CACHE_DURATION is not set."""

_KEY = re.compile(r"[a-z_]{1,32}\Z")
_NUMBER = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,9})?\Z")
_MAX_VALUE = 4096
_ERRORS = {
    "no-preload": PreloadMissing,
    "file-mismatch": ClockFileMismatch,
    "unwritable": ClockFileUnwritable,
    "bad-spec": InvalidInput,
}


@dataclass(frozen=True)
class ServerFacts:
    """What doctor needs to know about the server container's processes."""

    main_pid: int | None
    """The lowest pid in the container (the entry script exec'd into the server), None if none."""
    main_exe: str
    main_preload: bool
    """Whether the main process maps libfaketime."""
    main_dynamic: bool
    """Whether it maps the dynamic loader (ld-linux): a statically linked program never does."""
    main_go: bool
    """Whether its executable carries Go's build info ("Go buildinf"): Go does its own syscalls."""
    pid: int | None
    """The lowest pid that maps its own libfaketime shared memory (the server), None if none."""
    preload: str
    """The libfaketime library that process maps ("" if none)."""
    clock_file: str
    """Its FAKETIME_TIMESTAMP_FILE ("" when unset)."""
    cache_duration: float | None
    """Its FAKETIME_CACHE_DURATION in seconds, None when unset (libfaketime's default, 10 s)."""
    no_cache: bool
    """Its FAKETIME_NO_CACHE=1 (every call reads the file)."""

    @property
    def cache_bound(self) -> float:
        """Seconds a file change may take to show in the server: the cache duration."""
        if self.no_cache:
            return 0.0
        return DEFAULT_CACHE_SECONDS if self.cache_duration is None else self.cache_duration


@dataclass(frozen=True)
class Reading:
    """One read of an island's clock, bracketed by real time (all epoch seconds, UTC)."""

    real_before: float
    island: float
    """What the island's server reads (a process under the same preload and shared memory)."""
    real_after: float
    server_start: float
    """S: the real time libfaketime started counting from in the server (speed factors pivot on it)."""
    pid: int
    preload: str
    clock_file: str
    cache_duration: float | None
    no_cache: bool = False
    file_text: str = ""
    """The clock file's first line as read back ("" when missing or empty)."""
    facts: ServerFacts | None = None
    server_start_error: float = 0.0
    """How far server_start may be off (its calibration's bracket); under speed R an island time
    predicted from it is off by up to (R - 1) times this."""
    shared: bool = True
    """Whether the readings shared the server's libfaketime memory. False: its segment is gone from
    /dev/shm (or an older libfaketime keeps none); offsets and frozen clocks read right, but under
    a speed factor the reading and server_start are the probe's own, not the server's."""

    @property
    def real_mid(self) -> float:
        """The real time of the island reading, to within ``uncertainty``."""
        return (self.real_before + self.real_after) / 2

    @property
    def uncertainty(self) -> float:
        return (self.real_after - self.real_before) / 2

    @property
    def offset(self) -> float:
        """Island time minus real time at the reading."""
        return self.island - self.real_mid

    @property
    def cache_bound(self) -> float:
        if self.no_cache:
            return 0.0
        return DEFAULT_CACHE_SECONDS if self.cache_duration is None else self.cache_duration

    @property
    def show_within(self) -> float:
        """Seconds after a file change by which the server itself reads it: the cache duration
        + 1 s (libfaketime 0.9.10 refetches when whole seconds since the last fetch EXCEED the
        duration: measured, duration 1 -> up to 2 s), 0 with FAKETIME_NO_CACHE=1."""
        return 0.0 if self.no_cache else self.cache_bound + 1.0

    def as_dict(self) -> dict:
        return {"real_before": self.real_before, "island": self.island, "real_after": self.real_after,
                "server_start": self.server_start, "pid": self.pid, "preload": self.preload,
                "clock_file": self.clock_file, "cache_duration": self.cache_duration,
                "no_cache": self.no_cache, "file_text": self.file_text,
                "server_start_error": self.server_start_error}


def parse_fields(text: str) -> dict[str, str]:
    """The ``key=value`` lines after the marker; UnreadableOutput for anything else there."""
    if not isinstance(text, str):
        raise UnreadableOutput(f"clock script output: expected text, got {type(text).__name__}")
    lines = text.split("\n")
    try:
        start = lines.index(MARKER) + 1
    except ValueError:
        raise UnreadableOutput(f"clock script output has no {MARKER} line: {_short(text)}") from None
    fields: dict[str, str] = {}
    for line in lines[start:]:
        if line == "":
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.match(key) or len(value) > _MAX_VALUE:
            raise UnreadableOutput(f"clock script output: unexpected line {_short(line)}")
        if key in fields:
            raise UnreadableOutput(f"clock script output: {key} given twice")
        fields[key] = value
    return fields


def raise_for_error(fields: dict[str, str], island_id: int | None = None, clock_file: str = "") -> None:
    """Raise the family's error for an ``error=<code> <words>`` line, if there is one."""
    if "error" not in fields:
        return
    code, _, words = fields["error"].partition(" ")
    cls = _ERRORS.get(code)
    if cls is None:
        raise UnreadableOutput(f"clock script: unknown error {_short(fields['error'])}", island_id=island_id)
    where = f"island {island_id}" if island_id is not None else "the island"
    if cls is PreloadMissing:
        msg = (f"{where}: no process in its server container runs under libfaketime ({words}); its clock "
               "cannot be changed: is the server running, and dynamically linked (not Go or static)? "
               "`island-ssh doctor` checks")
    elif cls is ClockFileMismatch:
        msg = (f"{where}: its server reads another clock file than {clock_file or 'ours'} ({words}); set "
               "islands.faketime_file to the pod's FAKETIME_TIMESTAMP_FILE, or relaunch the island")
    elif cls is ClockFileUnwritable:
        msg = (f"{where}: its clock file could not be written ({words}); the clock did not change: "
               "check that the file's directory is writable in the server container")
    else:
        msg = f"{where}: the clock script refused the setting ({words})"
    raise cls(msg, island_id=island_id)


def parse_facts(fields: dict[str, str]) -> ServerFacts:
    pid = _opt_int(fields, "pid")
    return ServerFacts(
        main_pid=_opt_int(fields, "main_pid"), main_exe=fields.get("main_exe", ""),
        main_preload=_flag(fields, "main_preload"), main_dynamic=_flag(fields, "main_dynamic"),
        main_go=_flag(fields, "main_go"), pid=pid, preload=fields.get("preload", ""),
        clock_file=fields.get("clock_file", ""), cache_duration=_cache(fields.get("cache_duration", "")),
        no_cache=fields.get("no_cache", "") == "1")


def parse_reading(text: str, island_id: int | None = None, clock_file: str = "") -> Reading:
    """clock.sh's output (read or write mode) as a Reading; the family's error for its refusals,
    UnreadableOutput for anything that is not a complete, sane reading."""
    fields = parse_fields(text)
    raise_for_error(fields, island_id, clock_file)
    facts = parse_facts(fields)
    if facts.pid is None:
        raise UnreadableOutput(f"clock script output names no server pid: {_short(text)}", island_id=island_id)
    before, island, after = (_number(fields, k) for k in ("real_before", "island", "real_after"))
    calibration, cal_after = _number(fields, "calibration"), _number(fields, "calibration_after")
    if not before <= after <= cal_after or cal_after - before > 60:
        raise UnreadableOutput(f"clock script output: real times {before} .. {after} .. {cal_after} are not "
                               "a short, ordered interval", island_id=island_id)
    rate = _number(fields, "calibration_rate") if "calibration_rate" in fields else 2.0
    if rate <= 1:
        raise UnreadableOutput(f"clock script output: calibration_rate {rate} is not above 1", island_id=island_id)
    # the calibration process ran between real_after and calibration_after, at t ~ the middle of
    # them, and read S + (t - S) * rate
    server_start = (rate * (after + cal_after) / 2 - calibration) / (rate - 1)
    start_error = rate / (rate - 1) * (cal_after - after) / 2
    return Reading(real_before=before, island=island, real_after=after, server_start=server_start,
                   pid=facts.pid, preload=facts.preload, clock_file=facts.clock_file,
                   cache_duration=facts.cache_duration, no_cache=facts.no_cache,
                   file_text=fields.get("file", ""), facts=facts, server_start_error=start_error,
                   shared=_flag(fields, "shared") if "shared" in fields else True)


def _number(fields: dict[str, str], key: str) -> float:
    value = fields.get(key)
    if value is None or not _NUMBER.match(value):
        raise UnreadableOutput(f"clock script output: {key} is {_short(value)!s}, not a number of seconds")
    number = float(value)
    if not math.isfinite(number):
        raise UnreadableOutput(f"clock script output: {key} is not finite")
    return number


def _opt_int(fields: dict[str, str], key: str) -> int | None:
    value = fields.get(key, "")
    if value == "":
        return None
    if not value.isdigit() or len(value) > 10:
        raise UnreadableOutput(f"clock script output: {key} is {_short(value)}, not a pid")
    return int(value)


def _flag(fields: dict[str, str], key: str) -> bool:
    value = fields.get(key, "0")
    if value not in ("0", "1"):
        raise UnreadableOutput(f"clock script output: {key} is {_short(value)}, not 0 or 1")
    return value == "1"


def _cache(value: str) -> float | None:
    if value == "":
        return None
    if not _NUMBER.match(value) or float(value) < 0:
        return None  # libfaketime itself ignores what it cannot read (atoi): its default then
    return float(value)


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
