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


LOCAL_SHELLS = ["bash", "dash", "zsh"]  # zsh: APT_PACKAGES in island.sh


@pytest.mark.parametrize("shell", LOCAL_SHELLS)
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


@pytest.mark.parametrize("shell", [*LOCAL_SHELLS, "bash --posix"])
@pytest.mark.parametrize("broken", ["echo 'unbalanced", "fi", "if true; then", "echo $(", 'echo "x', "(", "done"])
def test_a_syntax_error_leaves_the_next_commands_intact(shell, broken, tmp_path):
    """bash 5.2 took the first word after an eval syntax error as a plain word: `{` failed."""
    uploaded = tmp_path / "stdin"  # the frame removes it, as it does an uploaded stdin file
    uploaded.write_bytes(b"")
    frames = [framing.frame_command(broken, "1" * 16)]
    frames += [framing.frame_command("echo still", f"{n}" * 16, **kw)
               for n, kw in ((2, {}), (3, {"stdin_path": str(uploaded)}), (4, {"stdin_inline": b"x"}))]
    script = framing.frame_sync("0" * 16).script + b"".join(f.script for f in frames)
    done = subprocess.run(shell.split(), input=script, capture_output=True, timeout=10)
    for n in (2, 3, 4):
        assert b"still\n" + framing.marker("END", f"{n}" * 16) + b" 0\n" in done.stdout, done.stderr


@pytest.mark.parametrize("shell", [*LOCAL_SHELLS, "bash --posix"])
def test_sync_undoes_what_a_profile_set(shell):
    profile = (b"set -eu; set -x; trap 'echo ERR-TRAP' ERR 2>/dev/null; "
               b"trap 'echo DEBUG-TRAP' DEBUG 2>/dev/null; trap 'echo EXIT-TRAP' EXIT; set -C; true\n")
    if shell == "zsh":
        profile = b"setopt nounset xtrace; trap 'echo EXIT-TRAP' EXIT; true\n"
    if shell == "dash":
        profile = b"set -eu; set -x; trap 'echo EXIT-TRAP' EXIT; set -C; true\n"
    framed = framing.frame_command('false; echo "${UNSET_VAR}x" >/dev/null; echo ok; echo err >&2', "1" * 16)
    script = profile + framing.frame_sync("0" * 16).script + framed.script
    done = subprocess.run(shell.split(), input=script, capture_output=True, timeout=10)
    out = done.stdout.split(framing.marker("READY", "0" * 16))[1]
    err = done.stderr.split(framing.marker("READY", "0" * 16))[1]
    assert out.split(b"\n", 1)[1] == b"ok\n" + framing.marker("END", "1" * 16) + b" 0\n"
    assert err == b"\nerr\n" + framing.marker("END", "1" * 16) + b"\n"


def test_upload_path_is_found_among_rc_noise():
    assert framing.upload_path(b"hello from .bashrc\nISLAND_SSH_PATH_ab /tmp/x y\n", "ab") == "/tmp/x y"
    assert framing.upload_path(b"ISLAND_SSH_PATH_other /tmp/z\n", "ab") is None


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
