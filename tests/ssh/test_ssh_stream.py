"""RemoteShell.stream: lines in order across reads, exit status, close, connection loss."""

import os
import signal
import threading

import pytest

from island_ssh.ssh import ConnectionLost, RemoteShell, StreamTimeout

from fixtures.ssh import wait_for


def test_lines_arrive_in_order_across_reads_then_exit_status(remote_shell):
    command = (
        "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo \"line $i é你😀\"; done; "
        "printf 'split'; sleep 0.05; printf ' line\\n'; printf 'no newline at end'; exit 4"
    )
    stream = remote_shell.stream(command)
    lines = list(stream)
    assert lines[:3000] == [f"line {i} é你😀" for i in range(1, 3001)]
    assert lines[3000:] == ["split line", "no newline at end"]
    assert stream.wait(5) == 4
    assert stream.finished.is_set() and stream.exception is None


def test_multibyte_character_split_between_reads(remote_shell):
    raw = "é你😀".encode("utf-8")
    steps = []
    for offset in range(1, len(raw)):
        head = "".join(f"\\{b:03o}" for b in raw[:offset])
        tail = "".join(f"\\{b:03o}" for b in raw[offset:])
        steps.append(f"printf '{head}'; sleep 0.02; printf '{tail}\\n'")
    stream = remote_shell.stream("; ".join(steps))
    assert list(stream) == ["é你😀"] * (len(raw) - 1)


def test_get_line_callback_and_stderr(remote_shell):
    stream = remote_shell.stream("echo one; echo oops >&2; sleep 30")
    try:
        assert stream.get_line(timeout=5) == "one"
        with pytest.raises(StreamTimeout):
            stream.get_line(timeout=0.2)
        wait_for(lambda: "oops" in stream.stderr, 5, what="stderr seen")
    finally:
        stream.close()
    seen: list[str] = []
    done = remote_shell.stream("echo a; echo b", on_line=seen.append)
    assert done.wait(5) == 0
    assert seen == ["a", "b"]


def test_close_kills_the_remote_command(remote_shell):
    stream = remote_shell.stream("echo started; sleep 27.75")
    assert stream.get_line(timeout=5) == "started"
    pid = stream.remote_pid
    assert pid and os.path.exists(f"/proc/{pid}")
    stream.close()
    assert stream.finished.is_set()
    assert stream.exception is None
    wait_for(lambda: remote_shell.run("pgrep -f 'sleep 27.75' || true").stdout == "", 5, what="remote sleep gone")
    assert list(stream) == []


def test_connection_loss_ends_the_stream_with_connection_lost(private_sshd):
    shell = RemoteShell(private_sshd.target(inactivity_timeout=5.0, keepalive_interval=1.0))
    try:
        stream = shell.stream("echo up; sleep 26.5")
        assert stream.get_line(timeout=5) == "up"
        for pid in private_sshd.session_pids():
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(ConnectionLost):
            stream.wait(5)
        with pytest.raises(ConnectionLost):
            list(stream)
        assert shell.run("echo back").stdout == "back\n"
    finally:
        shell.close()
        remote = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == b"sleep\x0026.5\x00"]
        for pid in remote:
            os.kill(int(pid), signal.SIGKILL)


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_no_thread_is_left_after_close(ssh_target):
    before = set(threading.enumerate())
    shell = RemoteShell(ssh_target)
    shell.run("true")
    threads = [threading.Thread(target=shell.run, args=("sleep 0.2",)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    stream = shell.stream("sleep 30")
    shell.run("true", stdin=b"x" * 100_000)  # upload channel and its watchdog timer
    during = set(threading.enumerate()) - before
    assert any("paramiko" in type(t).__module__ for t in during), during  # the transport thread
    assert any(t.name.startswith("island-ssh-stream") for t in during)
    shell.close()
    assert stream.finished.is_set()
    wait_for(lambda: set(threading.enumerate()) <= before, 5, what="threads gone")
