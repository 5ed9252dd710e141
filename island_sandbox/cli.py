"""``island-ssh sandbox up|down|status`` and ``island-ssh demo``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

from island_ssh.config import expand_path


def _state_dir(obj) -> Path:
    return expand_path(obj.settings.sandbox.state_dir)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] not in "ZX"  # a zombie has stopped: PID 1 here does not reap
    except (FileNotFoundError, IndexError):
        return False


@click.group()
def sandbox() -> None:
    """The local cluster sandbox (emulated Kubernetes whose nodes run real processes)."""


@sandbox.command()
@click.option("--timeout", default=30.0, show_default=True, help="seconds to wait for it to come up")
@click.pass_obj
def up(obj, timeout: float) -> None:
    """Start the sandbox in the background and print the SSH target to use."""
    state = _state_dir(obj)
    state.mkdir(parents=True, exist_ok=True)
    pid_file, info_file = state / "supervisor.pid", state / "sandbox.json"
    if pid_file.exists() and _alive(int(pid_file.read_text())) and info_file.exists():
        click.echo(f"sandbox already up (supervisor pid {pid_file.read_text().strip()})", err=True)
        click.echo(info_file.read_text())
        return
    info_file.unlink(missing_ok=True)
    log = state / "supervisor.log"
    cmd = [sys.executable, "-m", "island_sandbox.supervise"]
    if obj.config_path:
        cmd += ["--config", obj.config_path]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not info_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise click.ClickException(f"sandbox did not come up; see {log}")
        pause.wait(0.05)
    info = json.loads(info_file.read_text())
    click.echo(json.dumps(info, indent=2))
    click.echo("\nPoint island-ssh at it with:", err=True)
    for k, v in _env_for(info).items():
        click.echo(f"export {k}={v}", err=True)


def _env_for(info: dict) -> dict:
    return {"ISLAND_SSH_SSH_HOST": info["ssh_host"], "ISLAND_SSH_SSH_PORT": info["ssh_port"],
            "ISLAND_SSH_SSH_USER": info["ssh_user"], "ISLAND_SSH_SSH_KEY_FILE": info["key_file"],
            "ISLAND_SSH_SSH_KNOWN_HOSTS": info["known_hosts"]}


@sandbox.command()
@click.option("--timeout", default=30.0, show_default=True)
@click.pass_obj
def down(obj, timeout: float) -> None:
    """Stop everything `sandbox up` started."""
    pid_file = _state_dir(obj) / "supervisor.pid"
    if not pid_file.exists() or not _alive(int(pid_file.read_text())):
        click.echo("sandbox is not running")
        pid_file.unlink(missing_ok=True)
        return
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while _alive(pid):
        if time.monotonic() > deadline:
            raise click.ClickException(f"sandbox supervisor {pid} did not stop within {timeout:.0f}s")
        pause.wait(0.05)
    pid_file.unlink(missing_ok=True)
    (_state_dir(obj) / "sandbox.json").unlink(missing_ok=True)
    click.echo("sandbox stopped")


@sandbox.command()
@click.pass_obj
def status(obj) -> None:
    """Say whether the sandbox runs, and where."""
    state = _state_dir(obj)
    pid_file, info_file = state / "supervisor.pid", state / "sandbox.json"
    if pid_file.exists() and _alive(int(pid_file.read_text())) and info_file.exists():
        click.echo(info_file.read_text())
    else:
        click.echo("sandbox is not running")
        sys.exit(1)


@click.command()
@click.option("--once", is_flag=True, help="run the scripted tour and exit instead of serving until Ctrl-C")
@click.option("--port", type=int, default=0, help="web port (0: a free one)")
@click.pass_obj
def demo(obj, once: bool, port: int) -> None:
    """Bring up MariaDB, the cluster sandbox and the web app; walk two islands through their life."""
    from island_sandbox.demo import run_demo
    try:
        run_demo(obj.settings, once=once, port=port, echo=click.echo)
    except KeyboardInterrupt:
        click.echo("\nstopped; everything the demo started is down", err=True)
