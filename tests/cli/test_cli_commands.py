"""Every command as operators run it: real `.venv/bin/island-ssh` processes with a config file
pointing at the sandbox (real sshd, kubectl, MariaDB, pods as processes). Output and exit codes."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time

import paramiko
import pytest

from .helpers import cli, one_error_line
from service.recovery_helpers import island_ssh_argv, island_ssh_cmd, write_config

pytestmark = pytest.mark.slow


ID_RANGE = {"id_min": 800, "id_max": 899}
"""Ids (so host ports on the shared node addresses) no other test module's sandbox hands out."""


@pytest.fixture(scope="module")
def config(island_env, tmp_path_factory):
    return write_config(island_env.settings, tmp_path_factory.mktemp("cli") / "island.yaml", islands=ID_RANGE)


def run_on_tty(config, *args, timeout=120) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal, as an operator at a terminal sees it."""
    import os
    import pty
    import select
    argv, env = island_ssh_argv(config, *args)
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
        return proc.wait(10), out.decode("utf-8", "replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_migrate_is_idempotent(config):
    result = cli(config, "migrate")
    assert result.returncode == 0
    assert re.fullmatch(r"schema at version (\d+) \(was \1; applied 0\)\n", result.stdout)


def test_list_of_nothing(config, island_env):
    island_env.cleanup()
    result = cli(config, "list")
    assert result.returncode == 0 and result.stdout.split() == "ID STATE OWNER BRANCH NODE ADDRESS:PORTS LEFT CODE REASON".split()
    assert json.loads(cli(config, "list", "--json").stdout) == []


def test_an_island_through_every_command(config, island_env):
    # a cron job launching for a web user: the name shown, and the id that owns the island
    launched = cli(config, "launch", "--owner", "刘电波", "--owner-id", "u-1001", "--branch", "dev", "--wait",
                   "--json")
    assert launched.returncode == 0, launched.stderr
    data = json.loads(launched.stdout)
    island_id = data["id"]
    assert island_id == ID_RANGE["id_min"]
    assert data["state"] == "ready" and data["ports"] == [30000 + 3 * island_id + k for k in range(3)]
    assert (data["owner"], data["owner_id"]) == ("刘电波", "u-1001")
    assert set(data) == {"id", "pod", "owner", "owner_id", "branch", "state", "reason", "message", "node", "host_ip", "ports",
                         "address", "clock", "generation", "created_at", "lease", "code_version"}
    progress = launched.stderr.splitlines()
    assert re.match(rf"\[ *\d+\.\ds\] island {island_id}: allocated", progress[0])
    assert f"island {island_id}: ready" in progress[-1] and "\x1b[" not in launched.stderr

    table = cli(config, "list").stdout.splitlines()
    assert len(table) == 2 and table[1].split()[:3] == [str(island_id), "ready", "刘电波"]
    assert [i["id"] for i in json.loads(cli(config, "list", "--json").stdout)] == [island_id]
    assert [i["id"] for i in json.loads(cli(config, "list", "--owner-id", "u-1001", "--json").stdout)] == [island_id]
    assert json.loads(cli(config, "list", "--owner-id", "刘电波", "--json").stdout) == []  # the name is not the id
    shown = cli(config, "show", str(island_id))
    assert shown.returncode == 0 and "      state: ready" in shown.stdout
    again_json = json.loads(cli(config, "show", str(island_id), "--json").stdout)
    # the lease's seconds/time left count down between the two reads; its end does not
    assert again_json.pop("lease")["expires_at"] == data["lease"]["expires_at"]
    assert again_json.pop("usage")["id"] == island_id  # cli/usage.py (metrics.k8s.io; tests/service/test_usage_sandbox.py)
    assert again_json == {k: v for k, v in data.items() if k != "lease"}

    events = cli(config, "events", str(island_id))
    assert events.returncode == 0 and "-> allocated" in events.stdout and "-> ready" in events.stdout
    assert [e["to"] for e in json.loads(cli(config, "events", str(island_id), "--json").stdout)][-1] == "ready"

    logs = cli(config, "logs", str(island_id), "--tail", "5")
    assert logs.returncode == 0 and logs.stdout.strip()

    clock = cli(config, "clock", str(island_id), "+1h")
    # the first line as before; then what the island reads and the proof (cli/clock.py)
    assert clock.returncode == 0 and clock.stdout.splitlines()[0] == f"island {island_id}: clock +1h"
    bad_clock = cli(config, "clock", str(island_id), "next tuesday")
    assert bad_clock.returncode == 2 and "next tuesday" in one_error_line(bad_clock)

    restarted = cli(config, "restart", str(island_id), "--json")
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads(restarted.stdout)["generation"] == data["generation"] + 1
    island_env.wait_state(island_id, "ready")

    deleted = cli(config, "delete", str(island_id), "--wait")
    assert deleted.returncode == 0 and deleted.stdout == f"island {island_id}: deleted\n"
    again = cli(config, "delete", str(island_id))
    assert again.returncode == 4 and f"island {island_id} was deleted" in one_error_line(again)


def test_logs_follow_prints_lines_until_interrupted(config, island_env):
    code, screen = run_on_tty(config, "launch", "--owner", "follower", "--wait")
    assert code == 0, screen
    island_id = int(re.search(r"island (\d+): \x1b\[32mready", screen).group(1))  # green on a terminal
    assert re.search(r"island \d+ (creating|starting|pending) +\[#*\.*\] +\d+\.\ds of 90s", screen), screen
    code, screen = run_on_tty(config, "list")
    assert code == 0 and "\x1b[32mready" in screen
    argv, env = island_ssh_argv(config, "logs", str(island_id), "-f")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.strip()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
        assert proc.stderr.read().strip().endswith("interrupted")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    island_env.cleanup()


def test_a_failing_island_exits_10(config, island_env):
    result = cli(config, "launch", "--owner", "crasher", "--env", "ISLAND_SERVER_FAIL=crash:3",
                 "--env", "ISLAND_SERVER_FAIL_AFTER=0", "--wait")
    assert result.returncode == 10, result.stderr
    assert "failed" in result.stdout and "Error" in result.stdout
    island_env.cleanup()


def test_no_such_island_exits_4(config):
    for args in (["show", "998"], ["events", "998"], ["delete", "998"], ["logs", "998"]):
        result = cli(config, *args)
        assert result.returncode == 4, (args, result.stderr)
        assert "no island 998" in one_error_line(result)


def test_refused_launch_exits_2_and_names_the_field(config, island_env):
    result = cli(config, "launch", "--owner", "x", "--branch", "dev; rm -rf /")
    assert result.returncode == 2 and "branch" in one_error_line(result)
    assert island_env.store.active() == []


def test_no_capacity_exits_6_and_says_the_largest_free(config, island_env):
    result = cli(config, "launch", "--owner", "x", "--branch", "dev", "--memory", "64Gi")
    assert result.returncode == 6, result.stderr
    assert "no dev node has 64Gi free: largest free is" in one_error_line(result)
    assert island_env.store.active() == []


def test_unreachable_master_exits_7_fast_with_one_line(island_env, tmp_path):
    port = closed_port()
    config = write_config(island_env.settings, tmp_path / "c.yaml", ssh={"port": port, "connect_timeout": 3.0})
    for args in (["recover"], ["launch", "--owner", "nobody", "--branch", "dev"]):
        started = time.monotonic()
        result = island_ssh_cmd(config, *args, timeout=60)
        assert result.returncode == 7, result.stderr
        assert f"cannot connect to 127.0.0.1:{port}" in one_error_line(result)
        assert time.monotonic() - started < 10
    assert island_env.store.active() == []  # the refused launch holds no id
    doctor = island_ssh_cmd(config, "doctor", timeout=60)
    assert doctor.returncode == 7
    lines = doctor.stdout.splitlines()
    assert any(l.startswith("FAIL  ssh login") and str(port) in l for l in lines)
    assert any(l.startswith("skip  kubectl") for l in lines)


def test_unknown_host_key_and_refused_key_exit_7(island_env, tmp_path):
    other = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else None
    known = tmp_path / "known_hosts"
    if other is None:
        known.write_text("")
    else:
        known.write_text(f"[127.0.0.1]:{island_env.settings.ssh.port} {other.get_name()} {other.get_base64()}\n")
    config = write_config(island_env.settings, tmp_path / "c.yaml", ssh={"known_hosts": str(known)})
    result = island_ssh_cmd(config, "recover")
    assert result.returncode == 7 and "host key" in one_error_line(result)

    key = tmp_path / "stranger"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(key))
    config = write_config(island_env.settings, tmp_path / "c2.yaml", ssh={"key_file": str(key)})
    result = island_ssh_cmd(config, "recover")
    assert result.returncode == 7 and "refused key" in one_error_line(result)


def test_unreachable_database_exits_7(island_env, tmp_path):
    config = write_config(island_env.settings, tmp_path / "c.yaml", database={"port": closed_port()})
    for args in (["list"], ["show", "1"], ["recover"], ["migrate"]):
        result = island_ssh_cmd(config, *args, timeout=60)
        assert result.returncode == 7, (args, result.stderr)
        one_error_line(result)


def test_doctor_passes_on_the_sandbox(config):
    result = cli(config, "doctor")
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    names = [l[6:22].strip() for l in lines[:-1]]
    expected = ["config", "registration url", "registration tls", "database", "key file mode", "host key",
                "ssh login", "login shell", "ssh sessions", "kubectl", "rights", "create pods", "code volume"]
    assert [n for n in names if n in expected] == expected, names  # in this order; other checks may sit between
    assert all(l[:4] in ("ok  ", "warn") for l in lines[:-1])
    assert lines[-1] == f"all {len(names)} checks passed"
    data = json.loads(cli(config, "doctor", "--json").stdout)
    assert data["ok"] is True and [c["name"] for c in data["checks"]] == names


def test_doctor_reports_a_missing_code_volume(island_env, tmp_path):
    config = write_config(island_env.settings, tmp_path / "c.yaml", islands={"code_claim": "no-such-claim"})
    result = island_ssh_cmd(config, "doctor")
    assert result.returncode == 8
    assert any(l.startswith("FAIL  code volume") and "no-such-claim does not exist" in l
               for l in result.stdout.splitlines())


def test_recover_prints_a_summary_and_json(config, island_env):
    island_env.cleanup()
    text = cli(config, "recover")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[-1] == "did: nothing to repair"
    dry = cli(config, "recover", "--dry-run", "--json")
    data = json.loads(dry.stdout)
    assert set(data) == {"dry_run", "another_running", "pods", "islands", "seconds", "counts", "failed", "actions",
                         "idle", "clock_steps"}  # idle: the idle check the run did (None on a dry run; service/idle.py);
    # clock_steps: clock timeline steps the run applied (service/clock_timelines.py)
    assert data["dry_run"] is True and data["actions"] == [] and set(data["seconds"]) == {"kubectl", "plan", "total"}


def test_sandbox_status_when_not_running(tmp_path, island_env):
    config = write_config(island_env.settings, tmp_path / "c.yaml", sandbox={"state_dir": str(tmp_path / "sb")})
    result = island_ssh_cmd(config, "sandbox", "status")
    assert result.returncode == 1 and result.stdout == "sandbox is not running\n"
    result = island_ssh_cmd(config, "sandbox", "down")
    assert result.returncode == 0 and result.stdout == "sandbox is not running\n"


def test_logs_are_cut_at_the_limit_and_the_cli_says_so(island_env, tmp_path):
    """islands.log_limit_bytes 20000, a log of about 80 KB: stdout holds at most 20000 bytes of
    whole lines, stderr says it was cut and by which setting; --json says truncated."""
    from fixtures.island import fill_log, wait_until
    small = write_config(island_env.settings, tmp_path / "small.yaml", islands={**ID_RANGE, "log_limit_bytes": 20000})
    launched = cli(small, "launch", "--owner", "talker", "--wait", "--json")
    assert launched.returncode == 0, launched.stderr
    island = json.loads(launched.stdout)
    fill_log(island["host_ip"], island["ports"][0], queries=10)
    # the kubelet writes the log file as the server prints: wait until it is past the limit
    read = wait_until(lambda: (r := json.loads(cli(small, "logs", str(island["id"]), "--tail", "1000", "--json")
                                               .stdout))["truncated"] and r, 30, "the log to pass 20000 bytes")
    assert read["truncated"] is True and len(read["logs"].encode()) <= 20000 and read["limit_bytes"] == 20000
    text = cli(small, "logs", str(island["id"]), "--tail", "1000")
    assert text.returncode == 0 and len(text.stdout.encode()) <= 20000 and text.stdout.endswith("\n")
    assert "output cut at 20000 bytes (islands.log_limit_bytes)" in text.stderr
    island_env.cleanup()
