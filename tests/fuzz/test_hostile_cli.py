"""Hostile arguments to the real `island-ssh` command: refused with a one-line error and the
documented exit code, before anything reaches the master (its address here is a closed port, so
any attempt to use it would exit 7 instead), and no shell ever interprets them."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from island_ssh.config import DEFAULT_CONFIG, load_settings

ISLAND_SSH = Path(sys.executable).parent / "island-ssh"
CANARY = Path("/tmp/island-ssh-hostile-cli-canary")
BIG = "x" * 100_000  # Linux caps one argument at 128 KiB

CASES = [
    # argv, allowed exit codes, words the error must hold
    (["launch", "--owner", f"$(touch {CANARY})", "--branch", "dev; rm -rf /"], {2}, "branch"),
    (["launch", "--owner", "`touch /tmp/x`", "--memory", "1Gi; id"], {2}, "memory"),
    (["launch", "--owner", "eve", "--memory", "$(id)Mi"], {2}, "memory"),
    (["launch", "--owner", "eve", "--start-time", "2021-13-40 99:99:99"], {2}, "start"),
    (["launch", "--owner", "eve", "--env", "BAD NAME=1"], {2}, "env"),
    (["launch", "--owner", "eve", "--env", "NO_EQUALS_SIGN"], {2}, "env"),
    (["launch", "--owner", "eve", "--image", "x\ny"], {2}, "image"),
    (["launch", "--owner", BIG], {2}, "owner"),
    (["launch", "--owner", "eve\x1b[31m"], {2}, "owner"),
    (["launch", "--owner", "eve", "--timeout", "-5"], {2}, "timeout"),
    (["show", "-1"], {2}, ""),
    (["show", "１２"], {2, 4}, ""),  # click's IntRange reads full-width digits as 12
    (["show", "1e3"], {2}, ""),
    (["show", "99999999999999999999999999"], {2, 4}, ""),
    (["clock", "1", f"$(touch {CANARY})"], {2, 4}, ""),
    (["delete", "1; rm -rf /"], {2}, ""),
    (["list", "--state", "'; DROP TABLE islands; --"], {2}, "state"),
    (["logs", "1", "--tail", "-1"], {2}, ""),
    (["logs", "1", "-c", "../../etc"], {2, 4}, ""),
]


@pytest.fixture(scope="module")
def cli_config(db_settings, tmp_path_factory):
    from island_ssh.store import Store
    with Store(db_settings) as store:
        store.migrate()
    import socket
    with socket.socket() as s:  # a port nobody listens on: the master is unreachable
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings = load_settings(DEFAULT_CONFIG, environ={}).replace(
        ssh={"port": closed_port, "connect_timeout": 2.0},
        database={k: getattr(db_settings, k) for k in ("host", "port", "user", "password", "name")})
    raw = dataclasses.asdict(settings)
    raw.pop("source", None)
    path = tmp_path_factory.mktemp("cli") / "island.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


def run_cli(config: Path, argv: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLAND_SSH_")}
    return subprocess.run([str(ISLAND_SSH), "--config", str(config), *argv], capture_output=True, text=True,
                          timeout=60, env={**env, "NO_COLOR": "1"})


@pytest.mark.skipif(not ISLAND_SSH.exists(), reason="the island-ssh CLI is not installed")
@pytest.mark.parametrize("argv, codes, word", CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_hostile_argument_is_refused_in_one_line(cli_config, argv, codes, word):
    CANARY.unlink(missing_ok=True)
    done = run_cli(cli_config, argv)
    assert done.returncode in codes, (done.returncode, done.stderr[-500:])
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, done.stderr[-500:]
    assert word.lower() in done.stderr.lower(), done.stderr[-300:]
    assert len(done.stderr) < 2000, "the error echoes a huge argument back"
    assert not CANARY.exists(), "a shell interpreted an argument"


@pytest.mark.skipif(not ISLAND_SSH.exists(), reason="the island-ssh CLI is not installed")
@pytest.mark.parametrize("config", ["/nonexistent/island.yaml", "/etc/passwd", "/dev/null/x", "/root", "/bin/sh"])
def test_hostile_config_path_is_a_config_error(config):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLAND_SSH_")}
    done = subprocess.run([str(ISLAND_SSH), "--config", config, "list"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode in (2, 3), (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
