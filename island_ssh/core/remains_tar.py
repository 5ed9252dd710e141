"""A tar.gz written as a stream of byte pieces, never whole (core/remains.py's bundle). Pure: every
call returns the compressed bytes it produced; the caller sends them where they go (an HTTP
response, a file) and nothing is kept here but zlib's window.

Why not ``tarfile.open(mode="w|gz")``: its ``addfile`` copies a whole member in one call, so a
200 MB core file would pile up in the output before the caller could send any of it; here a
member is a header (``TarInfo.tobuf``, the standard library's own header code), then its data in
as many pieces as the caller likes, then the padding. The gzip wrapper is zlib's (wbits 31).
"""

from __future__ import annotations

import tarfile
import zlib

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE


class TarGzWriter:
    def __init__(self, level: int = 6) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._offset = 0  # uncompressed tar bytes so far
        self._left = 0  # data bytes the open member still expects
        self._open = False
        self.raw_bytes = 0
        """Uncompressed tar bytes written (headers, data, padding)."""

    @property
    def in_member(self) -> bool:
        """A member's header went out and its ``end`` did not yet."""
        return self._open

    def _put(self, data: bytes) -> bytes:
        self._offset += len(data)
        self.raw_bytes = self._offset
        return self._z.compress(data)

    def begin(self, name: str, size: int, mtime: float, mode: int = 0o644, kind: bytes = tarfile.REGTYPE) -> bytes:
        """The member's header; then ``write`` exactly ``size`` bytes (``end`` pads what is missing)."""
        if self._open:
            raise ValueError("end the open member first")
        info = tarfile.TarInfo(name)
        info.size = int(size) if kind == tarfile.REGTYPE else 0
        info.mtime = int(mtime)
        info.mode = mode
        info.type = kind
        self._left = info.size
        self._open = True
        return self._put(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def write(self, data: bytes) -> bytes:
        if not self._open or len(data) > self._left:
            raise ValueError("more data than the member's header said")
        self._left -= len(data)
        return self._put(data)

    def end(self) -> tuple[bytes, int]:
        """Close the member: zero bytes for whatever data did not come (returned as the count, for
        a note), then the padding to the next 512-byte block."""
        missing = self._left
        out = b""
        while self._left:
            n = min(self._left, 1 << 16)
            self._left -= n
            out += self._put(bytes(n))
        pad = -self._offset % BLOCK
        out += self._put(bytes(pad))
        self._open = False
        return out, missing

    def add(self, name: str, data: bytes, mtime: float, mode: int = 0o644) -> bytes:
        """A whole small member (a note, a JSON file)."""
        return self.begin(name, len(data), mtime, mode) + self.write(data) + self.end()[0]

    def add_dir(self, name: str, mtime: float, mode: int = 0o755) -> bytes:
        return self.begin(name.rstrip("/") + "/", 0, mtime, mode, tarfile.DIRTYPE) + self.end()[0]

    def close(self) -> bytes:
        """The end-of-archive blocks, the record padding tar expects, and the gzip trailer."""
        if self._open:
            raise ValueError("end the open member first")
        out = self._put(bytes(2 * BLOCK))
        out += self._put(bytes(-self._offset % RECORD))
        return out + self._z.flush()
