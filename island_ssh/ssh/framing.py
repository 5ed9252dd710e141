"""What we type into the persistent remote shell, and how we find where a command's output ends.

Pure: builds bytes and scans bytes; no sockets, no threads, no clock.

Why it is safe:

* The command travels as data: it is single-quoted (``shlex.quote``) and handed to
  ``command eval``, so an unbalanced quote or a stray ``fi`` is a syntax error *inside* eval
  (exit 2), never a change to how the outer shell parses the lines that follow. ``command``
  matters: a POSIX shell (dash, bash --posix) exits on a syntax error in a bare ``eval``.
* End markers are ``PREFIX + kind + token`` with a fresh random token per command. What we send
  only ever holds the parts as separate printf arguments (the per-command frame holds just the
  token, handed to a marker function defined once per shell), so neither the script text nor
  anything the command prints by chance can contain a whole marker.
* Inline stdin goes through ``base64 -d`` from a here-document whose delimiter contains ``_``,
  a character base64 never emits: no line of the body can end the here-document early, whatever
  the stdin bytes are (markers, delimiters, NULs, no final newline).
* Large stdin is uploaded to a private temp file on its own exec channel (exact bytes, EOF) and
  redirected from there; the file is unlinked before the command starts.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass

PREFIX = "ISLAND_SSH_"
_STATUS_LINE = re.compile(rb" (-?\d+)\n")


def new_token() -> str:
    # 64 random bits: unguessable for output, and short, because bash reads its script input one
    # byte per read(): every byte of the frame costs a syscall on the master.
    return secrets.token_hex(8)


def _printf_marker(kind: str, token: str, with_value: str | None, to_stderr: bool) -> str:
    # The halves "ISLAND_SSH_" and "END_<token>" are separate words: the joined marker never
    # appears in what we send.
    if with_value is None:
        line = f"printf '%s%s\\n' '{PREFIX}' '{kind}_{token}'"
    else:
        line = f"printf '%s%s %d\\n' '{PREFIX}' '{kind}_{token}' {with_value}"
    return line + (" >&2" if to_stderr else "")


def marker(kind: str, token: str) -> bytes:
    return f"{PREFIX}{kind}_{token}".encode("ascii")


@dataclass(frozen=True)
class Framed:
    """One framed command: the bytes to send and the markers closing its stdout and stderr."""

    script: bytes
    stdout_marker: bytes
    stderr_marker: bytes


def _check_command(command: str) -> bytes:
    if "\x00" in command:
        raise ValueError("a shell command cannot contain a NUL character")
    return command.encode("utf-8")


def frame_command(
    command: str,
    token: str,
    *,
    stdin_inline: bytes | None = None,
    stdin_path: str | None = None,
) -> Framed:
    """The script running ``command`` once in the persistent shell, then printing the markers.

    stdin: ``stdin_inline`` (bytes, sent base64 in a here-document), ``stdin_path`` (a remote
    file already holding the bytes; removed before the command runs) or neither (/dev/null).
    """
    if stdin_inline is not None and stdin_path is not None:
        raise ValueError("give stdin_inline or stdin_path, not both")
    _check_command(command)
    evaluated = f"command eval {shlex.quote(command)}"
    body = b""
    if stdin_inline is not None:
        delimiter = f"{PREFIX}STDIN_{token}"
        head = f"base64 -d <<'{delimiter}' | {{ {evaluated}; }}"
        body = _base64_lines(stdin_inline) + delimiter.encode("ascii") + b"\n"
    elif stdin_path is not None:
        path = shlex.quote(stdin_path)
        head = f"{{ rm -f {path}; {evaluated}; }} <{path}"
    else:
        head = f"{{ {evaluated}; }} </dev/null"
    tail = f";{END_FUNCTION} {token} $?\n"
    # bash 5.2: after a syntax error inside eval (an unclosed quote) the next line's first word is
    # not taken as a reserved word, so a leading `{` was a syntax error and the NEXT command failed.
    # A plain `:` first absorbs that, in every shell.
    head = ": ;" + head
    # The here-document body starts after the first unquoted newline (bash and dash agree), i.e.
    # after the markers' line, even when the quoted command itself spans several lines.
    script = head.encode("utf-8") + tail.encode("ascii") + body
    return Framed(script, marker("END", token), marker("END", token))


# Defined once per shell (frame_sync) so each command's frame stays short: bash reads its script
# one byte per read(), and the frame's length bounded the commands/s of a channel. A command that
# redefines it desynchronises its shell, which then times out and is replaced like any other.
END_FUNCTION = "__island_ssh_end"
_END_FUNCTION_DEFINITION = (
    f"{END_FUNCTION}() {{ printf '%s%s %d\\n' '{PREFIX}' \"END_$1\" \"$2\"; "
    f"printf '%s%s\\n' '{PREFIX}' \"END_$1\" >&2; }}"
)


# Undo what a login profile may have set that breaks framed commands, in words every shell we
# serve parses (bash and its POSIX mode, dash, zsh):
# * zsh: ``command eval`` looks for an external ``eval`` unless POSIX builtins are on; ``emulate
#   -R sh`` turns them on (and resets every option), so our POSIX commands mean what they say.
# * -e would end the shell at the first failing command, -u at the first unset variable, -x/-v
#   write traces into each command's stderr, -C makes ``>`` refuse existing files, -f stops globs;
#   pipefail would give the stdin pipeline base64's SIGPIPE status instead of the command's.
# * traps set by the profile: ERR/DEBUG/RETURN print into every command's output, EXIT into the
#   last one's, and an ignored TERM/HUP would survive into commands (kill of a stuck one fails).
#   ``command`` keeps dash (no pipefail, no ERR/DEBUG traps) from exiting on the unknown names.
SHELL_RESET = (
    'if [ -n "${ZSH_VERSION-}" ]; then emulate -R sh; fi; '
    "set +e +u +x +v +C +f; "
    "command set +o pipefail 2>/dev/null; "
    "command trap - EXIT HUP INT QUIT PIPE TERM 2>/dev/null; "
    "command trap - ERR DEBUG RETURN 2>/dev/null; "
)


def frame_sync(token: str) -> Framed:
    """Sent once when a shell channel opens: resets what the profile set (SHELL_RESET), defines
    the end-marker function; everything the login profile printed before the READY markers is
    discarded, and the stdout marker carries the shell's PID (= its process group, sshd runs it
    with setsid) so a stuck command can be killed with its whole group."""
    script = (
        SHELL_RESET
        + _END_FUNCTION_DEFINITION
        + "; "
        + _printf_marker("READY", token, '"$$"', to_stderr=False)
        + "; "
        + _printf_marker("READY", token, None, to_stderr=True)
        + "\n"
    )
    return Framed(script.encode("ascii"), marker("READY", token), marker("READY", token))


def frame_stream(command: str, token: str) -> Framed:
    """A shell channel dedicated to one long-lived command: START markers (with the shell's PID),
    the command reading /dev/null, then the shell exits with the command's status."""
    _check_command(command)
    script = (
        SHELL_RESET
        + _printf_marker("START", token, '"$$"', to_stderr=False)
        + "; "
        + _printf_marker("START", token, None, to_stderr=True)
        + f"; {{ command eval {shlex.quote(command)}; }} </dev/null; exit $?\n"
    )
    return Framed(script.encode("utf-8"), marker("START", token), marker("START", token))


def upload_command(token: str, prefix: str = "island_ssh_stdin") -> str:
    """Exec-channel command storing its stdin in a fresh 0600 temp file and printing the path
    after a PATH marker: sshd runs it through the login shell's ``-c``, and bash then reads
    ~/.bashrc (zsh ~/.zshenv), which may print first (read it with ``upload_path``). ``>|``:
    a ``set -C`` in that rc file must not refuse the file mktemp just made."""
    template = shlex.quote(f"{prefix}.XXXXXXXXXX")
    return (
        f'umask 077 && f=$(mktemp "${{TMPDIR:-/tmp}}"/{template}) && '
        f"printf '%s%s %s\\n' '{PREFIX}' 'PATH_{token}' \"$f\" && exec cat >|\"$f\""
    )


def upload_path(stdout: bytes, token: str) -> str | None:
    """The path ``upload_command`` printed, whatever an rc file printed around it; None if absent."""
    found = re.search(re.escape(marker("PATH", token)) + rb" ([^\n]+)\n", stdout)
    return found.group(1).decode("utf-8", errors="strict") if found else None


def kill_group_command(pgid: int) -> str:
    # `2>|`: bash refuses even /dev/null under a `set -C` that ~/.bashrc may hold (sshd's bash -c reads it)
    return f"kill -s TERM -- -{int(pgid)} 2>|/dev/null; exit 0"


def _base64_lines(data: bytes) -> bytes:
    import base64

    return base64.encodebytes(data)


class MarkerScanner:
    """Accumulates one stream of a framed command until its marker (and status) shows up.

    ``feed`` returns True once the marker line is complete. Then ``body`` is everything before
    the marker and ``value`` the integer after it (stdout markers), or None. Searching resumes
    where the last search stopped, so a 100 MB output costs O(n), not O(n^2).
    """

    def __init__(self, marker_bytes: bytes, with_value: bool) -> None:
        self.marker = marker_bytes
        self.with_value = with_value
        self._buf = bytearray()
        self._search_from = 0
        self._found_at = -1
        self.done = False
        self.body = b""
        self.value: int | None = None
        self.trailing = b""

    def feed(self, data: bytes) -> bool:
        if self.done:
            self.trailing += data
            return True
        self._buf += data
        if self._found_at < 0:
            at = self._buf.find(self.marker, self._search_from)
            if at < 0:
                self._search_from = max(0, len(self._buf) - len(self.marker) + 1)
                return False
            self._found_at = at
        rest_at = self._found_at + len(self.marker)
        if self.with_value:
            match = _STATUS_LINE.match(self._buf, rest_at)
            if match is None:
                if b"\n" in self._buf[rest_at:]:
                    raise ValueError(f"malformed marker line: {bytes(self._buf[rest_at:rest_at + 40])!r}")
                return False
            self.value = int(match.group(1))
            end = match.end()
        else:
            if len(self._buf) <= rest_at:
                return False
            if self._buf[rest_at : rest_at + 1] != b"\n":
                raise ValueError("malformed marker line")
            end = rest_at + 1
        self.body = bytes(self._buf[: self._found_at])
        self.trailing = bytes(self._buf[end:])
        self._buf = bytearray()
        self.done = True
        return True

    @property
    def size(self) -> int:
        """Bytes held so far (the body once done): cheap, for limits."""
        return len(self.body) if self.done else len(self._buf)

    @property
    def received(self) -> bytes:
        """What arrived so far (for error messages when the marker never comes)."""
        return self.body if self.done else bytes(self._buf)
