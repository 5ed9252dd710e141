"""The configured files of an ended island, as a tar.gz read from its side container over the one
SSH connection (issue 15, crash forensics; service/remains.py builds the bundle around it).

On the master, ONE remote command:

    { kubectl exec POD -c side-container -- sh -c SCRIPT island-remains DIR PATTERN...;
      echo "island-remains-exit $?" >&2; } | base64 -w 49152

* The patterns and the directory are argv data (``shlex.quote`` on the master, argv in the
  container): SCRIPT is a constant that expands each pattern's globs with IFS empty (no word
  splitting, no command substitution: only pathname expansion), keeps what exists (as ``./name``,
  so no match can be taken for an option; a trailing ``/`` dropped, so a symlink the server left
  is archived as a link, which the bundle leaves out, never followed out of the folder), says on
  stderr which patterns matched nothing, and runs ``tar -czf -`` on the matches. GNU tar and
  busybox tar both run it.
* The archive comes back base64 in lines of 64 KiB, through the SSH layer's line Stream: it is a
  user's read (one of ssh.user_read_channels), a slow reader pauses the remote side (max_buffered:
  SSH flow control, nothing piles up here) and ``close()`` kills the remote command, which is how a
  download that reached its byte cap stops the container's tar.
* kubectl's exit status travels on stderr (the pipe's own status is base64's).

``RemainsReader`` is a read-only binary file over those lines (what ``tarfile`` in stream mode
reads), holding one decoded line at a time.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

from island_ssh.core.errors import KubectlError, NotFound, StreamTimeout
from island_ssh.core.names import SIDE_CONTAINER, USER_READ

LINE_CHARS = 49152
"""base64 characters per line (36 KiB of the archive): few lines, each far under max_line."""
MAX_BUFFERED = 1 << 20
"""Most bytes of received, unread lines the Stream holds before it pauses the remote side."""
IDLE_TIMEOUT = 180.0
"""Seconds without a line before the read gives up (a container's tar of a big core file may take
a while before its first bytes; a dead connection is noticed sooner by the SSH layer)."""
EXIT_MARK = "island-remains-exit"

SCRIPT = r"""
cd -- "$1" 2>/dev/null || { echo "island-remains: cannot enter $1" >&2; exit 3; }
shift
n=$#
IFS=''
for p in "$@"; do
  found=0
  for f in $p; do
    f=${f%/}
    if [ -e "$f" ] || [ -L "$f" ]; then set -- "$@" "./$f"; found=1; fi
  done
  [ "$found" = 1 ] || echo "island-remains: nothing matches $p" >&2
done
shift "$n"
[ $# -gt 0 ] || exit 0
exec tar -czf - "$@"
"""


def remote_command(kubectl, pod: str, folder: str, patterns: list[str]) -> str:
    """The master's command line (every value quoted by kubectl.command / shlex)."""
    argv = ["exec", pod, "-c", SIDE_CONTAINER, "--", "sh", "-c", SCRIPT, "island-remains", folder, *patterns]
    # no --request-timeout: a big archive may take longer than one API request is given
    exec_cmd = kubectl.command(*argv, request_timeout=False)
    return (f"{{ {exec_cmd}; echo \"{EXIT_MARK} $?\" >&2; }} | base64 -w {LINE_CHARS}")


def open_remains(kubectl, pod: str, folder: str, patterns: list[str], island_id: int | None = None) -> "RemainsReader":
    """Start the remote tar; ReadChannelsBusy when every user-read channel is taken (nothing started)."""
    command = remote_command(kubectl, pod, folder, patterns)
    kubectl._count("exec")
    stream = kubectl.shell.stream(command, purpose=USER_READ, max_line=LINE_CHARS + 16, max_buffered=MAX_BUFFERED)
    return RemainsReader(stream, island_id)


class RemainsReader(io.RawIOBase):
    def __init__(self, stream, island_id: int | None = None, idle_timeout: float = IDLE_TIMEOUT) -> None:
        super().__init__()
        self._stream = stream
        self._island_id = island_id
        self._idle = idle_timeout
        self._chunk = b""
        self._at = 0
        self._eof = False
        self.wire_bytes = 0
        """Archive bytes received (decoded)."""

    def readable(self) -> bool:
        return True

    def _next(self) -> bool:
        if self._eof:
            return False
        while True:
            try:
                line = self._stream.get_line(timeout=self._idle)
            except StreamTimeout:
                raise StreamTimeout(f"the side container sent nothing for {self._idle:g}s; the remains "
                                    f"download gave up", island_id=self._island_id) from None
            if line is None:
                self._eof = True
                return False
            if not line.strip():
                continue
            try:
                self._chunk = base64.b64decode(line.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KubectlError("the remains archive arrived garbled (not base64); is `base64 -w` on the "
                                   "master's PATH?", island_id=self._island_id) from None
            self._at = 0
            self.wire_bytes += len(self._chunk)
            return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        while self._at >= len(self._chunk):
            if not self._next():
                return 0
        n = min(len(view), len(self._chunk) - self._at)
        view[:n] = self._chunk[self._at:self._at + n]
        self._at += n
        return n

    @property
    def stderr(self) -> str:
        return self._stream.stderr

    def outcome(self) -> tuple[int | None, list[str]]:
        """After the end: kubectl's exit status (None: not reported) and the script's own remarks
        (patterns that matched nothing, tar's warnings), for the bundle's notes."""
        text = self._stream.stderr
        codes = re.findall(rf"^{EXIT_MARK} (\d+)$", text, re.M)
        remarks = [line.strip() for line in text.splitlines()
                   if line.strip() and not line.startswith(EXIT_MARK)][-20:]
        return (int(codes[-1]) if codes else None), remarks

    def raise_for_kubectl(self) -> None:
        """A kubectl failure (no such pod, side container gone) as our errors; the remote script's
        own status (tar's warnings) is not one."""
        code, remarks = self.outcome()
        text = "\n".join(remarks)
        if code and ("Error from server" in text or text.startswith("error:") or "\nerror:" in text):
            first = next((r for r in remarks if r.lower().startswith(("error", "unable"))), remarks[0])
            cls = NotFound if "NotFound" in text or "not found" in first.lower() else KubectlError
            raise cls(f"kubectl exec for the remains failed (exit {code}): {first}", stderr=text,
                      exit_code=code, island_id=self._island_id)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()
