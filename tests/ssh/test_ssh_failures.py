"""Connection failures against real sshd processes: killed, frozen, stopped, wrong keys."""

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from island_ssh.ssh import AuthError, ConnectError, ConnectionLost, HostKeyError, RemoteShell, SSHError

from fixtures.ssh import wait_for


def _pids_running(argv: list[str]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[:-1] == [a.encode() for a in argv]:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _server_fingerprint(sshd) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", f"{sshd.host_key_file}.pub"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def test_killed_session_fails_the_command_in_flight_then_reconnects(private_sshd):
    shell = RemoteShell(private_sshd.target(inactivity_timeout=10.0, keepalive_interval=1.0))
    outcome: dict = {}
    try:
        shell.run("true")

        def in_flight():
            try:
                outcome["result"] = shell.run("sleep 29.25", timeout=60)
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=in_flight)
        thread.start()
        wait_for(lambda: _pids_running(["sleep", "29.25"]), 5, what="remote sleep started")
        started = time.monotonic()
        for pid in private_sshd.session_pids():
            os.kill(pid, signal.SIGKILL)
        thread.join(10)
        assert not thread.is_alive()
        assert isinstance(outcome.get("error"), ConnectionLost), outcome
        assert time.monotonic() - started < 5
        assert shell.run("echo reconnected").stdout == "reconnected\n"
    finally:
        shell.close()
        for pid in _pids_running(["sleep", "29.25"]):
            os.kill(pid, signal.SIGKILL)


def test_frozen_session_is_detected_within_inactivity_timeout(private_sshd):
    target = private_sshd.target(inactivity_timeout=1.5, keepalive_interval=0.3)
    shell = RemoteShell(target)
    frozen: list[int] = []
    try:
        shell.run("true")
        frozen = private_sshd.session_pids()
        assert frozen
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(ConnectionLost, match="no byte"):
            shell.run("echo hello", timeout=30)
        elapsed = time.monotonic() - started
        assert 1.0 < elapsed < 1.5 + 1.5, elapsed
        assert shell.run("echo reconnected", timeout=10).stdout == "reconnected\n"
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGKILL)
        shell.close()


def test_quiet_long_command_is_not_mistaken_for_a_dead_connection(private_sshd):
    shell = RemoteShell(private_sshd.target(inactivity_timeout=0.8, keepalive_interval=0.2))
    try:
        assert shell.run("sleep 2; echo done", timeout=10).stdout == "done\n"
    finally:
        shell.close()


def test_stopped_sshd_gives_a_clear_error_within_connect_timeout(private_sshd):
    target = private_sshd.target(connect_timeout=2.0)
    shell = RemoteShell(target)
    try:
        shell.run("true")
        private_sshd.stop()
        # ConnectionLost if the loss is noticed mid-command, ConnectError if noticed before sending
        with pytest.raises((ConnectionLost, ConnectError)):
            shell.run("true", timeout=10)
        started = time.monotonic()
        with pytest.raises(ConnectError, match="is sshd running"):
            shell.run("true", timeout=10)
        assert time.monotonic() - started < target.connect_timeout
    finally:
        shell.close()


def test_silent_server_times_out_within_connect_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)  # the kernel completes the handshake; nobody ever speaks SSH
        from island_ssh.ssh import SSHTarget

        target = SSHTarget(host="127.0.0.1", port=listener.getsockname()[1], connect_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(ConnectError):
            RemoteShell(target).connect()
        assert time.monotonic() - started < 1.0 + 0.5


def test_reconnect_attempts_back_off(private_sshd):
    shell = RemoteShell(private_sshd.target(connect_timeout=1.0), backoff_base=0.2, backoff_max=0.4)
    private_sshd.stop()
    try:
        times = []
        for _ in range(4):
            with pytest.raises(ConnectError):
                shell.run("true")
            times.append(time.monotonic())
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 0.4 and max(gaps) < 1.0, gaps
    finally:
        shell.close()


def test_changed_host_key_is_refused_with_fingerprint(sshd, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} " + " ".join(Path(f"{other}.pub").read_text().split()[:2]) + "\n")
    before = known.read_bytes()
    with pytest.raises(HostKeyError) as caught:
        RemoteShell(sshd.target(known_hosts=str(known))).connect()
    message = str(caught.value)
    assert "CHANGED" in message and f"[127.0.0.1]:{sshd.port}" in message
    assert _server_fingerprint(sshd) in message
    assert known.read_bytes() == before


def test_missing_known_hosts_entry_is_refused_with_fingerprint(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    line = sshd.known_hosts.read_text().replace(f"[127.0.0.1]:{sshd.port}", "[127.0.0.1]:1")
    known.write_text(line)
    with pytest.raises(HostKeyError) as caught:
        RemoteShell(sshd.target(known_hosts=str(known))).connect()
    assert _server_fingerprint(sshd) in str(caught.value)
    assert known.read_text() == line
    missing = tmp_path / "absent"
    with pytest.raises(HostKeyError, match="does not exist"):
        RemoteShell(sshd.target(known_hosts=str(missing))).connect()
    assert not missing.exists()


def test_wrong_client_key_is_refused_naming_the_key(sshd, tmp_path):
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with pytest.raises(AuthError) as caught:
        RemoteShell(sshd.target(key_file=str(key))).connect()
    assert str(key) in str(caught.value) and "SHA256:" in str(caught.value)
    with pytest.raises(AuthError, match="does not exist"):
        RemoteShell(sshd.target(key_file=str(tmp_path / "nokey"))).connect()


def test_closed_shell_refuses_further_use(ssh_target):
    shell = RemoteShell(ssh_target)
    shell.run("true")
    shell.close()
    with pytest.raises(SSHError, match="closed"):
        shell.run("true")
