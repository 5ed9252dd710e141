"""Idle islands: who is playing, seen from the kernel's TCP table. Pure: text and times in, data out.

What counts as activity: an ESTABLISHED TCP connection (state ``01`` in ``/proc/net/tcp`` or
``/proc/net/tcp6``) whose LOCAL port is one of the island's three ports, whichever side opened
it. Listening sockets (``0A``), TIME_WAIT (``06``), SYN_RECV and every other state do not count,
nor does UDP (not read). Only the local port is compared, so a table that shows more than the pod
(the sandbox's pods share the host's network namespace) still counts each island's own ports.

The batched probe (kube/idle_probe.py) prints, per pod, ``<BEGIN marker> <index>``, the lines of
that pod's table, then ``<END marker> <index> <exit code>``; ``parse_probe_output`` reads that
strictly: a pod whose block is missing, broken, unterminated, repeated or whose exec failed is
UNKNOWN, never idle.

``advance`` moves one island's IdleRecord by one observation (None: unknown):
* activity -> ``last_activity_at`` = now, the quiet period and idleness end;
* no activity -> the quiet period goes on (it starts at the island's ready time, or its last
  activity); idle once it has lasted ``idle_after``: ``idle_since`` = the quiet period's start;
* unknown -> nothing changes;
* a known check after a blind gap (no known check for longer than ``max_gap``; before the first
  one, counted from ready) starts the quiet period again at that check: traffic during the gap
  cannot be ruled out (an island already idle stays idle).
Times are aware UTC datetimes passed in; nothing here reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from island_ssh.core.errors import ConfigError, InvalidInput

ESTABLISHED = "01"
TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
              "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN",
              "0B": "CLOSING", "0C": "NEW_SYN_RECV"}
MAX_LINE = 512
"""A /proc/net/tcp line is about 150 characters; a longer one is garbage, not parsed."""
MAX_ERROR = 300

_HEADER = re.compile(r"^\s*sl\s+local_address\s+rem(?:ote)?_address\s+st\b")
_ENTRY = re.compile(r"^\s*(\d{1,9}):\s+([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+"
                    r"([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{2})(?:\s|$)")


# -- /proc/net/tcp ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TcpEntry:
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    state: str
    """Two upper-case hex digits, as the kernel prints them (``01`` ESTABLISHED, ``0A`` LISTEN)."""

    @property
    def established(self) -> bool:
        return self.state == ESTABLISHED


@dataclass(frozen=True)
class TcpTable:
    entries: tuple[TcpEntry, ...] = ()
    headers: int = 0
    """Header lines seen (one per file read): 0 means this is not a /proc/net/tcp table at all."""
    bad_lines: int = 0


def decode_address(hex_addr: str) -> str:
    """The kernel's hex address -> text: ``0100007F`` -> ``127.0.0.1``; 32 digits -> IPv6, an
    IPv4-mapped one shown as ``::ffff:a.b.c.d``. Each 32-bit word is in the host's (little-endian)
    byte order, as x86 and arm64 nodes print it."""
    if len(hex_addr) not in (8, 32) or not all(c in "0123456789abcdefABCDEF" for c in hex_addr):
        raise ValueError(f"not a /proc/net/tcp address: {hex_addr[:40]!r}")
    words = [bytes.fromhex(hex_addr[i:i + 8])[::-1] for i in range(0, len(hex_addr), 8)]
    raw = b"".join(words)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return "::ffff:" + ".".join(str(b) for b in raw[12:])
    groups = [f"{int.from_bytes(raw[i:i + 2], 'big'):x}" for i in range(0, 16, 2)]
    text = ":".join(groups)
    # the shortest form for the common all-zero cases; anything else stays uncompressed (readable)
    return "::" if text == "0:0:0:0:0:0:0:0" else ("::1" if text == "0:0:0:0:0:0:0:1" else text)


def parse_tcp_table(text: str) -> TcpTable:
    """Every entry of one or more ``/proc/net/tcp``/``tcp6`` texts, concatenated; garbled lines
    (wrong shape, mixed address lengths, over MAX_LINE) are counted in ``bad_lines`` and skipped."""
    if not isinstance(text, str):
        raise InvalidInput(f"tcp table: expected text, got {type(text).__name__}")
    entries, headers, bad = [], 0, 0
    for line in text.splitlines():
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            bad += 1
            continue
        if _HEADER.match(line):
            headers += 1
            continue
        m = _ENTRY.match(line)
        if m is None or len(m.group(2)) != len(m.group(4)):
            bad += 1
            continue
        entries.append(TcpEntry(decode_address(m.group(2)), int(m.group(3), 16), decode_address(m.group(4)),
                                int(m.group(5), 16), m.group(6).upper()))
    return TcpTable(tuple(entries), headers, bad)


def established_by_port(entries, ports) -> dict[int, int]:
    """How many ESTABLISHED connections have each of ``ports`` as their local port."""
    counts = {int(p): 0 for p in ports}
    for e in entries:
        if e.established and e.local_port in counts:
            counts[e.local_port] += 1
    return counts


def port_pattern(ports) -> str:
    """An extended regex (grep -E) for table lines whose local port is one of ``ports``: what the
    master keeps of each pod's table (the sandbox shows the host's whole table to every pod)."""
    alternatives = "|".join(f"{int(p):04X}" for p in sorted(set(ports)))
    return rf"^ *[0-9]+: [0-9A-Fa-f]+:({alternatives}) "


HEADER_PATTERN = r"^ *sl +local_address "


# -- the batched probe's output ---------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """One island's check: ``known`` False means unknown (``error`` says why)."""

    known: bool
    counts: dict[int, int] = field(default_factory=dict)
    error: str = ""
    bad_lines: int = 0

    @property
    def established(self) -> int:
        return sum(self.counts.values())

    @property
    def active(self) -> bool:
        return self.known and self.established > 0


def unknown(error: str) -> Observation:
    return Observation(False, {}, error[:MAX_ERROR])


def parse_probe_output(text: str, begin: str, end: str, ports_by_index: dict[int, tuple]) -> dict[int, Observation]:
    """The batched probe's stdout -> an Observation per index of ``ports_by_index``.

    ``begin``/``end`` are the run's markers (a random token in them, so no table line can be
    one). A block: the BEGIN line ``<begin> <index>``, the table lines, the END line
    ``<end> <index> <exit code>``. Anything else outside a block is ignored."""
    results: dict[int, Observation] = {}
    seen: set[int] = set()
    current: int | None = None
    lines: list[str] = []

    def settle(index: int, obs: Observation) -> None:
        results[index] = obs if index not in results else unknown("answered twice")

    for line in text.splitlines():
        head, _, rest = line.partition(" ")
        if head == begin:
            if current is not None:
                settle(current, unknown("its block was not closed"))
            index = _int_or_none(rest.strip())
            if index is None or index not in ports_by_index:
                current = None
                continue
            if index in seen:
                settle(index, unknown("answered twice"))
                current = None
                continue
            seen.add(index)
            current, lines = index, []
        elif head == end:
            parts = rest.split()
            index = _int_or_none(parts[0]) if parts else None
            code = _int_or_none(parts[1]) if len(parts) == 2 else None
            if current is None or index != current or code is None:
                if current is not None:
                    settle(current, unknown("its block ended out of order"))
                current = None
                continue
            settle(current, _observe(lines, code, ports_by_index[current]))
            current = None
        elif current is not None:
            lines.append(line)
    if current is not None:
        settle(current, unknown("its block was not closed (output cut)"))
    for index in ports_by_index:
        results.setdefault(index, unknown("no answer from the master for this pod"))
    return results


def _observe(lines: list[str], code: int, ports) -> Observation:
    if code != 0:
        return unknown(f"kubectl exec exited {code}")
    table = parse_tcp_table("\n".join(lines))
    if table.headers == 0:
        return unknown("the pod's /proc/net/tcp was not read (no table header)")
    return Observation(True, established_by_port(table.entries, ports), bad_lines=table.bad_lines)


def _int_or_none(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


# -- durations --------------------------------------------------------------------------------
def duration_setting(name: str, text) -> float:
    """A setting such as ``islands.idle_after: 2h`` in seconds; ConfigError naming it otherwise.
    The same form as leases (core.lease): whole numbers with units d, h, m, s."""
    from island_ssh.core.lease import parse_duration
    try:
        return float(parse_duration(str(text), field=f"islands.{name}", allow_relative=False).seconds)
    except InvalidInput as exc:
        raise ConfigError(exc.message) from None


def idle_text(seconds: float | None) -> str:
    """``7800`` -> ``2h 10m``; under a minute ``45s``; days ``1d 3h``."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}d {h}h" if h else f"{d}d"
    if h:
        return f"{h}h {m}m" if m else f"{h}h"
    if m:
        return f"{m}m"
    return f"{sec}s"


# -- one island's record ----------------------------------------------------------------------
@dataclass(frozen=True)
class IdleRecord:
    """What is stored per island and generation (migrations/0009)."""

    quiet_since: datetime | None = None
    """Start of the current quiet period (no established connection seen since)."""
    idle_since: datetime | None = None
    """Set once the quiet period lasted idle_after: the quiet period's start."""
    last_activity_at: datetime | None = None
    checked_at: datetime | None = None
    """Last KNOWN check (an unknown one changes nothing)."""
    warned_at: datetime | None = None
    """When the idle warning went out (only with islands.idle_expire)."""

    @property
    def idle(self) -> bool:
        return self.idle_since is not None


def advance(prev: IdleRecord, observation: Observation | None, *, now: datetime, ready_at: datetime | None,
            idle_after: float, max_gap: float) -> IdleRecord:
    """The record after one check at ``now`` (see the module docstring)."""
    if observation is None or not observation.known:
        return prev
    if observation.active:
        return IdleRecord(quiet_since=None, idle_since=None, last_activity_at=now, checked_at=now, warned_at=None)
    seen = prev.checked_at if prev.checked_at is not None else ready_at
    blind = seen is not None and (now - seen).total_seconds() > max_gap
    if prev.idle_since is not None:
        return replace(prev, checked_at=now)
    if blind:
        start = now
    elif prev.quiet_since is not None:
        start = prev.quiet_since
    else:
        start = max([t for t in (prev.last_activity_at, ready_at) if t is not None], default=now)
    start = min(start, now)
    idle_since = start if (now - start).total_seconds() >= idle_after else None
    return IdleRecord(quiet_since=start, idle_since=idle_since, last_activity_at=prev.last_activity_at,
                      checked_at=now, warned_at=None)


def expiry_step(record: IdleRecord, *, now: datetime, expire: bool, grace: float) -> str | None:
    """What an idle island's record asks for: ``warn`` (the idle warning, once), ``expire`` (grace
    seconds after the warning, still idle), or None."""
    if not expire or record.idle_since is None:
        return None
    if record.warned_at is None:
        return "warn"
    if (now - record.warned_at).total_seconds() >= grace:
        return "expire"
    return None


def idle_seconds(record: IdleRecord, now: datetime) -> float | None:
    return None if record.idle_since is None else max(0.0, (now - record.idle_since).total_seconds())


def as_json(record: IdleRecord, now: datetime) -> dict:
    """The island's idleness as the API shows it."""
    secs = idle_seconds(record, now)
    iso = lambda t: None if t is None else t.isoformat().replace("+00:00", "Z")  # noqa: E731
    return {"idle": record.idle, "idle_since": iso(record.idle_since), "idle_seconds": secs,
            "idle_text": ("idle " + idle_text(secs)) if secs is not None else "",
            "last_activity_at": iso(record.last_activity_at), "activity_checked_at": iso(record.checked_at),
            "idle_warned_at": iso(record.warned_at)}


def record_of(row) -> IdleRecord:
    """An island row's idle record (its idle_* fields), empty when they belong to an older
    generation (before a restart) or the row has none."""
    if getattr(row, "idle_generation", None) != getattr(row, "generation", None):
        return IdleRecord()
    return IdleRecord(quiet_since=row.quiet_since, idle_since=row.idle_since, last_activity_at=row.last_activity_at,
                      checked_at=row.activity_checked_at, warned_at=row.idle_warned_at)


def row_json(row) -> dict:
    """The island's idleness for the API and the page, without a clock: how long it had been idle
    at the last check (the check runs every islands.idle_check_interval)."""
    record = record_of(row)
    if getattr(row, "state", None) != "ready":
        record = replace(record, idle_since=None)
    return as_json(record, record.checked_at) if record.checked_at is not None else as_json(record, record.idle_since)



# -- which islands a run probes ---------------------------------------------------------------
PROBE_DIVISOR = 12
"""``idle_probe_every: auto`` probes each island every idle_after / 12 (10 min at 2h): idleness is
noticed at most that late, and the probe's cost follows islands / period, not islands x runs."""


def probe_period(setting, *, idle_after: float, interval: float) -> float:
    """``islands.idle_probe_every`` in seconds: ``auto`` is max(interval, idle_after / 12); a
    duration is taken as given (a run still comes only every interval)."""
    text = str(setting if setting is not None else "auto").strip().lower()
    if text == "auto":
        return max(interval, idle_after / PROBE_DIVISOR)
    return duration_setting("idle_probe_every", text)


def run_cap(ready: int, *, batch_max: int, interval: float, period: float) -> int:
    """How many islands one run probes at most: twice the steady share (ready x interval / period),
    so a backlog (a launch burst all due together) drains in a few runs, and never less than one
    batch (one remote command's worth)."""
    share = -(-2 * ready * interval // max(period, 1.0))
    return max(int(batch_max), int(share))


def due(candidates, *, now: datetime, period: float, cap: int) -> list:
    """The islands a run probes: those whose last probe (``(key, last)``, last a datetime; None
    for never) is at least ``period`` old, oldest first, at most ``cap`` of them. ``period`` is
    shortened by 5% so an island probed by one run is due again at the run that comes one
    period later, not one interval after that."""
    ready = [(last, i, key) for i, (key, last) in enumerate(candidates)
             if last is None or (now - last).total_seconds() >= 0.95 * period]
    ready.sort(key=lambda t: (t[0] is not None, t[0] or now, t[1]))
    return [key for _, _, key in ready[:max(0, cap)]]
