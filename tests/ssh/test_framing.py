"""The framing script and the marker scanner (pure)."""

import base64
import subprocess

import pytest

from island_ssh.ssh import framing

TOKEN = "0123456789abcdef0123456789abcdef"


def test_script_never_contains_a_whole_marker():
    nasty = "echo ISLAND_SSH_END_" + TOKEN
    for framed in (
        framing.frame_command(nasty, TOKEN),
        framing.frame_command(nasty, TOKEN, stdin_inline=b"ISLAND_SSH_END_" + TOKEN.encode()),
        framing.frame_command(nasty, TOKEN, stdin_path="/tmp/x"),
        framing.frame_sync(TOKEN),
        framing.frame_stream("true", TOKEN),
    ):
        body = framed.script.replace(nasty.encode(), b"")
        assert framed.stdout_marker not in body
        assert framed.stderr_marker not in body


def test_inline_stdin_body_cannot_end_the_here_document_early():
    evil = b"ISLAND_SSH_STDIN_" + TOKEN.encode() + b"\nEOF\n\x00\xff"
    framed = framing.frame_command("cat", TOKEN, stdin_inline=evil)
    delimiter = f"ISLAND_SSH_STDIN_{TOKEN}".encode()
    lines = framed.script.split(b"\n")
    assert lines.count(delimiter) == 1
    body = b"\n".join(lines[1 : lines.index(delimiter)])
    assert base64.b64decode(body) == evil


@pytest.mark.parametrize("shell", ["bash", "dash"])
@pytest.mark.parametrize(
    "command, stdin",
    [
        ("cat", b"line1\nline2"),
        ("echo 'unbalanced", None),
        ("printf 'a\nb'; echo x >&2; (exit 5)", None),
        ("cat; echo ISLAND_SSH_END_fake 0", b"ISLAND_SSH_STDIN_\n"),
    ],
)
def test_framed_command_runs_in_a_local_shell(shell, command, stdin):
    """The same script, piped into local bash and dash, yields exact output and markers."""
    framed = framing.frame_command(command, TOKEN, stdin_inline=stdin)
    sync = framing.frame_sync("0" * 16)
    script = sync.script + framed.script + b"echo after\n"
    done = subprocess.run([shell], input=script, capture_output=True, timeout=10)
    ready_out = framing.MarkerScanner(sync.stdout_marker, with_value=True)
    ready_err = framing.MarkerScanner(sync.stderr_marker, with_value=False)
    assert ready_out.feed(done.stdout) and ready_err.feed(done.stderr)
    out = framing.MarkerScanner(framed.stdout_marker, with_value=True)
    err = framing.MarkerScanner(framed.stderr_marker, with_value=False)
    assert out.feed(ready_out.trailing) and err.feed(ready_err.trailing)
    expected = subprocess.run([shell, "-c", command], input=stdin or b"", capture_output=True, timeout=10)
    assert out.value == expected.returncode
    assert out.body == expected.stdout
    assert bool(err.body) == bool(expected.stderr)
    assert out.trailing == b"after\n"


def test_scanner_finds_marker_split_at_every_offset():
    marker = framing.marker("END", TOKEN)
    stream = b"output ISLAND_SSH_ partial" + marker + b" 42\n"
    for cut in range(len(stream) + 1):
        scanner = framing.MarkerScanner(marker, with_value=True)
        first = scanner.feed(stream[:cut])
        assert scanner.feed(stream[cut:]) or first
        assert scanner.body == b"output ISLAND_SSH_ partial"
        assert scanner.value == 42


def test_scanner_waits_for_complete_status_line():
    marker = framing.marker("END", TOKEN)
    scanner = framing.MarkerScanner(marker, with_value=True)
    assert not scanner.feed(b"x" + marker + b" 1")
    assert scanner.feed(b"27\n")
    assert scanner.value == 127


def test_nul_in_command_is_refused():
    with pytest.raises(ValueError):
        framing.frame_command("echo \x00", TOKEN)
