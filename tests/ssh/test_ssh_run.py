"""RemoteShell.run against a real sshd: exact output, exact stdin, exit codes, timeouts."""

import hashlib
import os
import time

import pytest

from island_ssh.ssh import CommandTimeout, RemoteShell

from fixtures.ssh import wait_for


def test_exit_code_and_stderr_come_back_separately(remote_shell):
    result = remote_shell.run("echo out; echo err >&2; printf tail; exit_status=42; (exit 42)")
    assert result.exit_code == 42
    assert result.stdout == "out\ntail"
    assert result.stderr == "err\n"
    assert result.stdout_bytes == b"out\ntail"


def test_exit_codes_are_exact(remote_shell):
    for code in (0, 1, 2, 126, 255):
        assert remote_shell.run(f"(exit {code})").exit_code == code
    assert remote_shell.run("no-such-command-here").exit_code == 127


def test_ten_megabytes_of_stdin_arrive_exactly(remote_shell):
    data = os.urandom(10 * 1024 * 1024) + b"ISLAND_SSH_END_x 0\n"
    result = remote_shell.run("tee /dev/stderr | sha256sum", stdin=data, timeout=60)
    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest()
    assert result.stderr_bytes == data


def test_large_binary_output_is_exact(remote_shell):
    data = os.urandom(3 * 1024 * 1024)
    assert remote_shell.run("cat", stdin=data, timeout=60).stdout_bytes == data


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 70000])
def test_stdin_of_every_size_round_trips_both_ways(remote_shell, size):
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    assert remote_shell.run("cat", stdin=data).stdout_bytes == data


def test_marker_and_delimiter_lookalikes_in_stdin_and_stdout(remote_shell):
    tricky = (
        b"ISLAND_SSH_END_\nISLAND_SSH_STDIN_\nEOF\n'\"$(reboot)`x`\n"
        b"ISLAND_SSH_READY_deadbeef 0\nISLAND_SSH_END_00000000000000000000000000000000 0\n\x00\xff no newline"
    )
    for inline_max in (1 << 20, 0):  # through the here-document, and through the upload
        shell = RemoteShell(remote_shell.target, inline_stdin_max=inline_max)
        try:
            echoed = shell.run("cat; cat >&2 <<'EOF'\nISLAND_SSH_END_ 0\nEOF", stdin=tricky)
            assert echoed.stdout_bytes == tricky
            assert echoed.stderr == "ISLAND_SSH_END_ 0\n"
            assert shell.run("echo still in step").stdout == "still in step\n"
        finally:
            shell.close()


def test_without_stdin_the_command_reads_dev_null(remote_shell):
    result = remote_shell.run("cat; readlink /proc/self/fd/0", timeout=5)
    assert result.stdout == "/dev/null\n"


def test_multibyte_characters_split_across_reads_stay_correct(remote_shell):
    text = "é你😀"
    raw = text.encode("utf-8")
    pieces = []
    for offset in range(1, len(raw)):
        head = "".join(f"\\{b:03o}" for b in raw[:offset])
        tail = "".join(f"\\{b:03o}" for b in raw[offset:])
        pieces.append(f"printf '{head}'; sleep 0.01; printf '{tail}\\n'")
    result = remote_shell.run("; ".join(pieces))
    assert result.stdout.splitlines() == [text] * (len(raw) - 1)


def test_unbalanced_quote_does_not_desynchronise_the_shell(remote_shell):
    broken = remote_shell.run("echo 'unbalanced")
    assert broken.exit_code == 2
    assert "EOF" in broken.stderr or "quote" in broken.stderr
    for command in ('echo "half', "if true; then", "echo `", "}"):
        assert remote_shell.run(command).exit_code != 0
    assert remote_shell.run("echo fine").stdout == "fine\n"


def test_multiline_commands_and_here_documents_inside_the_command(remote_shell):
    result = remote_shell.run("cat <<'X'\nline one\nX\necho two")
    assert result.stdout == "line one\ntwo\n"


def test_timeout_then_next_command_works_and_nothing_is_left_running(remote_shell):
    remote_shell.run("true")  # a shell is up: the 0.5 s below times the command, not a login on a busy machine
    with pytest.raises(CommandTimeout, match="sleep 31.5"):
        remote_shell.run("sleep 31.5", timeout=0.5)
    assert remote_shell.run("echo next").stdout == "next\n"
    # the timed-out command's process group was killed, not left behind
    wait_for(lambda: remote_shell.run("pgrep -f 'sleep 31.5' || true").stdout == "", 5, what="sleep killed")


def test_exit_in_command_returns_its_status_and_replaces_the_shell(remote_shell):
    result = remote_shell.run("echo bye; exit 3")
    assert (result.exit_code, result.stdout) == (3, "bye\n")
    assert remote_shell.run("echo new shell").stdout == "new shell\n"


def test_login_shell_profile_is_read(remote_shell):
    # no PTY and a login shell: $0 starts with "-" and the terminal is absent
    result = remote_shell.run('echo "$0"; [ -t 0 ] || echo notty; shopt -q login_shell && echo login')
    assert result.stdout.splitlines() == ["-bash", "notty", "login"]


def test_waiting_for_a_quiet_command_does_not_burn_cpu(remote_shell):
    remote_shell.run("true")
    cpu_before = time.process_time()
    remote_shell.run("sleep 1.5")
    assert time.process_time() - cpu_before < 0.15


def test_uploaded_stdin_file_is_gone_before_the_command_runs(remote_shell):
    data = b"x" * 100_000
    result = remote_shell.run('ls -A "${TMPDIR:-/tmp}" | grep -c island_ssh_stdin; wc -c', stdin=data)
    assert result.stdout.split() == ["0", str(len(data))]
