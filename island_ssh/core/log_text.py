"""An island's log as one read returns it: the text, and whether it was cut at the byte limit.

Pure. The service asks kubectl for ``limit + 1`` bytes (``--limit-bytes``): getting more than
``limit`` back is how it knows the log went on, without ever holding more than that. A cut log
ends at its last whole line (a line longer than the whole limit is cut inside), so no half line
or half character is shown; the faces say that it was cut and by which setting.
"""

from __future__ import annotations

from dataclasses import dataclass

LIMIT_SETTING = "islands.log_limit_bytes"


@dataclass(frozen=True)
class LogText:
    text: str
    truncated: bool
    """True when the log had more than ``limit_bytes`` in the asked range: ``text`` is its start."""
    limit_bytes: int

    def note(self, tail: int | None) -> str:
        """What a face tells the reader when the log was cut ('' when it was not)."""
        if not self.truncated:
            return ""
        lines = f"the last {tail} lines" if tail else "the log"
        return (f"output cut at {self.limit_bytes} bytes ({LIMIT_SETTING}): this is the start of {lines}; "
                f"ask for fewer lines (tail) to see the newest")


def cut_log(text: str, limit: int) -> LogText:
    """``text`` as read with ``--limit-bytes=limit+1``, cut to at most ``limit`` UTF-8 bytes."""
    if limit < 1:
        raise ValueError("limit must be at least 1 byte")
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return LogText(text, False, limit)
    raw = raw[:limit]
    end = raw.rfind(b"\n")
    if end >= 0:
        raw = raw[: end + 1]
    return LogText(raw.decode("utf-8", errors="ignore"), True, limit)
