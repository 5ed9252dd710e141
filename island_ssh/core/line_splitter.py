"""Split a byte stream into text lines, whatever the chunking. Pure: no I/O, no threads.

A reader thread feeds whatever ``recv`` returned; chunk borders may fall anywhere, in the middle
of a line or of a multi-byte UTF-8 character. Bytes are kept until their newline arrives and only
whole lines are decoded, so a split character is never mangled; ``errors="replace"`` only ever
touches bytes that are invalid UTF-8 in the line itself.
"""

from __future__ import annotations

from island_ssh.core.errors import LineTooLong  # lives with the family; callers import it from here too

DEFAULT_MAX_LINE = 64 * 1024 * 1024


class LineSplitter:
    """``feed(bytes) -> [complete lines]``; ``flush() -> last unterminated line or None``.

    Lines are returned without their ``\\n``; a ``\\r`` before it is kept (the stream's business).
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE, encoding: str = "utf-8") -> None:
        if max_line <= 0:
            raise ValueError("max_line must be positive")
        self.max_line = max_line
        self.encoding = encoding
        self._pending = bytearray()

    @property
    def pending_bytes(self) -> int:
        """Bytes held back waiting for their newline."""
        return len(self._pending)

    def feed(self, data: bytes) -> list[str]:
        if not data:
            return []
        cut = data.rfind(b"\n")
        if cut < 0:
            self._pending += data
            self._check_length()
            return []
        # Only the part up to the last newline is split; the tail waits for its newline.
        head = bytes(self._pending) + data[: cut + 1] if self._pending else data[: cut + 1]
        self._pending = bytearray(data[cut + 1 :])
        raw_lines = head.split(b"\n")
        raw_lines.pop()  # empty element after the final newline
        for raw in raw_lines:
            if len(raw) > self.max_line:
                raise LineTooLong(f"a line of {len(raw)} bytes exceeds the limit of {self.max_line} bytes")
        self._check_length()
        return [raw.decode(self.encoding, errors="replace") for raw in raw_lines]

    def flush(self) -> str | None:
        """The unterminated tail at end of stream (None if the stream ended with a newline)."""
        if not self._pending:
            return None
        tail = bytes(self._pending)
        self._pending.clear()
        return tail.decode(self.encoding, errors="replace")

    def _check_length(self) -> None:
        if len(self._pending) > self.max_line:
            size = len(self._pending)
            self._pending.clear()
            raise LineTooLong(f"more than {self.max_line} bytes without a newline ({size} held)")
