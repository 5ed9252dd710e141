"""Code version per island (issue 15): what code an island mounted at start, and whether its branch's
code has moved on since. Pure: no I/O, no clock reads.

The version is the first line of a file on the shared code volume (``islands.code_version_file``,
relative to ``islands.code_mount``; default ``VERSION``): a commit hash, a build number, a tag.
Accepted: 1 to 128 characters of ``A-Z a-z 0-9 . _ - + : / @ #`` with single spaces inside (not at
either end). Everything else (line breaks past the first line are ignored; control characters,
NUL, quotes, ``$``, backquotes, ``;`` and other shell syntax, non-ASCII text, a first line over 128
characters) is **unreadable**: stored as the marker ``!unreadable`` and shown as "unreadable
version", never as the text itself. A missing or empty file is "no version" (``""``).

The container's entry script (conf/container/entry.sh) applies the same rule in sh and sends the
version, ``""`` or the marker with its registration; the service applies ``parse_file`` to what it
reads from the branch's nodes now. The registration endpoint refuses anything else
(``check_reported``): only a changed entry script could send it.

Stored per island generation (migrations/0010): ``code_version`` NULL = never reported (an island
from before this feature, or not registered yet).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timezone

from island_ssh.core.errors import ConfigError, InvalidInput

MAX_VERSION = 128
UNREADABLE = "!unreadable"
"""The marker stored when the file held something that is no version."""
READ_BYTES = 512
"""Bytes of the file read at most (by the entry script and the probe): a huge file costs nothing."""
_CHARS = r"A-Za-z0-9._+:/@#\-"
VERSION_PATTERN = re.compile(rf"^[{_CHARS}](?:[{_CHARS} ]{{0,{MAX_VERSION - 2}}}[{_CHARS}])?$")
ACCEPTED = (f"1 to {MAX_VERSION} characters of letters, digits and . _ - + : / @ # "
            "(spaces only inside)")


def is_version(text: str) -> bool:
    return isinstance(text, str) and text.isascii() and "  " not in text and bool(VERSION_PATTERN.match(text))


def parse_file(data: bytes | None) -> str:
    """The version a file's bytes hold: the version, ``""`` (no file: None; empty or a blank first
    line) or UNREADABLE. Mirrors entry.sh: the first line of at most READ_BYTES bytes, a trailing
    CR dropped, spaces at both ends trimmed."""
    if data is None:
        return ""
    head = data[:READ_BYTES]
    first, newline, _ = head.partition(b"\n")
    if not newline and len(data) > READ_BYTES:
        return UNREADABLE  # one line longer than we read: far over 128
    if first.endswith(b"\r"):
        first = first[:-1]
    try:
        text = first.decode("ascii")
    except UnicodeDecodeError:
        return UNREADABLE
    text = text.strip(" ")
    if text == "":
        return ""
    return text if is_version(text) else UNREADABLE


def check_reported(value) -> str:
    """The registration's ``code_version`` field: a version, ``""`` or UNREADABLE; else InvalidInput."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"code_version: expected text, got {type(value).__name__}")
    if value in ("", UNREADABLE) or is_version(value):
        return value
    shown = value[:40].encode("unicode_escape").decode("ascii")
    raise InvalidInput(f"code_version: {shown!r} is not a version; expected {ACCEPTED}, "
                       f"\"\" (no version file) or {UNREADABLE!r}")


def shown(version: str | None) -> str:
    """One short text for a page cell or a CLI column."""
    if version is None:
        return "unknown"
    if version == "":
        return "no version"
    if version == UNREADABLE:
        return "unreadable version"
    return version


def short(version: str | None, width: int = 12) -> str:
    text = shown(version)
    return text if len(text) <= width or version in (None, "", UNREADABLE) else text[:width - 1] + "~"


def iso(value) -> str | None:
    """A stored UTC datetime as ISO 8601 with Z (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# -- the branch's current version -------------------------------------------------------------------
@dataclass(frozen=True)
class NodeReading:
    """The version file as one node of a branch has it now, read through a running island there."""
    branch: str
    node: str
    version: str | None
    """parse_file's answer; None when the read failed (``error`` says why)."""
    pod: str = ""
    error: str = ""
    read_at: object = None
    """When it was read (a datetime from the store; the core never reads a clock)."""


@dataclass(frozen=True)
class BranchVersion:
    branch: str
    version: str | None
    """The branch's current version when every node read agrees; None: unknown or mixed."""
    nodes: tuple[NodeReading, ...] = field(default_factory=tuple)
    mixed: bool = False
    """The branch's nodes hold different versions (a deploy half done)."""

    def node_version(self, node: str | None) -> str | None:
        for reading in self.nodes:
            if reading.node == node and reading.version is not None:
                return reading.version
        return None


def branch_version(branch: str, readings: list[NodeReading]) -> BranchVersion:
    known = sorted({r.version for r in readings if r.version is not None})
    return BranchVersion(branch=branch, version=known[0] if len(known) == 1 else None,
                         nodes=tuple(sorted(readings, key=lambda r: r.node)), mixed=len(known) > 1)


@dataclass(frozen=True)
class Verdict:
    outdated: bool
    current: str | None
    """What the island is compared with: its own node's file now, else the branch's version."""
    text: str
    """One line for a person: "" when current, "older code: abc123, branch weekly is at def456"."""


def judge(island_version: str | None, branch: str, node: str | None, current: BranchVersion | None) -> Verdict:
    """Is the island running code other than its branch's current version?

    Compared with the file on the island's own node when that node was read (the code a restart
    there would mount), else with the branch's version when all its nodes agree. Never outdated
    when either side is unknown: an island from before this feature, a branch nobody could read."""
    if current is None:
        return Verdict(False, None, "")
    now = current.node_version(node)
    if now is None:
        now = current.version
    if island_version is None or now is None or island_version == now:
        return Verdict(False, now, "")
    return Verdict(True, now, f"older code: {shown(island_version)}, branch {branch} is at {shown(now)}")


def version_json(island_version: str | None, at, verdict: Verdict, iso) -> dict:
    """The island's ``code_version`` object (API, page); ``iso`` formats the datetime."""
    return {"version": island_version if island_version not in (None, "", UNREADABLE) else None,
            "shown": shown(island_version), "state": _state(island_version), "at": iso(at),
            "current": verdict.current if verdict.current not in ("", UNREADABLE) else None,
            "current_shown": shown(verdict.current) if verdict.current is not None else None,
            "outdated": verdict.outdated, "note": verdict.text}


def branch_json(current: BranchVersion, iso) -> dict:
    return {"branch": current.branch,
            "version": current.version if current.version not in ("", UNREADABLE) else None,
            "shown": shown(current.version) if current.version is not None else ("mixed" if current.mixed else "unknown"),
            "mixed": current.mixed,
            "nodes": [{"node": r.node, "pod": r.pod, "version": r.version if r.version not in ("", UNREADABLE) else None,
                       "shown": shown(r.version) if r.version is not None else "not read",
                       "state": _state(r.version) if r.version is not None else "failed",
                       "error": r.error, "read_at": iso(r.read_at)} for r in current.nodes]}


def _state(version: str | None) -> str:
    if version is None:
        return "unknown"
    if version == "":
        return "none"
    if version == UNREADABLE:
        return "unreadable"
    return "ok"


# -- the probe's output ------------------------------------------------------------------------------
def probe_command(path: str) -> str:
    """Run by ``sh -c`` inside a server container: ``M`` when the file is missing, else ``F`` and
    at most READ_BYTES bytes of it as hex (od: no byte of the file reaches the framing as itself).
    ``path`` must already be shell-quoted."""
    return (f"if [ -e {path} ]; then printf 'F\\n'; head -c {READ_BYTES} {path} | od -An -v -tx1; "
            f"else printf 'M\\n'; fi")


def parse_probe(text: str) -> tuple[str | None, str]:
    """One pod's framed output (between the markers) -> (version or None, error)."""
    lines = text.strip("\n").split("\n") if text.strip() else []
    if not lines:
        return None, "the exec printed nothing"
    if lines[0].strip() == "M":
        return "", ""
    if lines[0].strip() != "F":
        return None, f"unexpected output: {lines[0][:80]!r}"
    digits = "".join(lines[1:]).split()
    try:
        data = bytes(int(d, 16) for d in digits)
    except ValueError:
        return None, "unexpected output: not hex bytes"
    if len(data) > READ_BYTES:
        return None, "unexpected output: more bytes than asked for"
    version = parse_file(data)
    if version == UNREADABLE or len(data) < READ_BYTES or b"\n" in data:
        return version, ""
    return UNREADABLE, ""


def parse_framed(stdout: str, begin: str, end: str, count: int) -> dict[int, tuple[str | None, str]]:
    """The whole remote command's output -> index -> (version or None, error). A section whose END
    marker is missing or carries a non-zero exit is failed."""
    out: dict[int, tuple[str | None, str]] = {i: (None, "no answer from the exec") for i in range(count)}
    current, body = None, []
    for line in stdout.split("\n"):
        parts = line.split()
        if len(parts) == 2 and parts[0] == begin and parts[1].isdigit():
            current, body = int(parts[1]), []
        elif len(parts) == 3 and parts[0] == end and current is not None and parts[1] == str(current):
            rc = parts[2]
            if current < count:
                out[current] = parse_probe("\n".join(body)) if rc == "0" else (None, f"kubectl exec exited {rc[:6]}")
            current = None
        elif current is not None:
            body.append(line)
    return out


# -- configuration ------------------------------------------------------------------------------------
_FILE_PATTERN = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def file_path(code_mount: str, relative: str) -> str:
    """The version file's absolute path inside the server container."""
    return code_mount.rstrip("/") + "/" + relative


def check_settings(islands) -> None:
    """islands.code_version_file: a plain relative path inside the code mount; the interval in range."""
    name = islands.code_version_file
    if (not isinstance(name, str) or not 0 < len(name) <= 255 or not _FILE_PATTERN.match(name)
            or any(part in (".", "..") for part in name.split("/"))):
        raise ConfigError(f"islands.code_version_file: {str(name)[:80]!r}; expected a path relative to "
                          f"islands.code_mount of letters, digits and . _ - / (no .. and no leading /), "
                          f"e.g. VERSION or build/version.txt")
    if not 1.0 <= float(islands.code_version_check_interval) <= 86400.0:
        raise ConfigError(f"islands.code_version_check_interval: {islands.code_version_check_interval!r}; "
                          f"expected 1 to 86400 seconds")
