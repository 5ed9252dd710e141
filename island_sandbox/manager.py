"""Bring the whole cluster sandbox up and down: API server + scheduler + kubelets (one process),
the shared code directory behind the PV, and a private sshd acting as the Kubernetes master.

``Sandbox`` owns its child processes and waits on them (PID 1 here reaps nothing). ``up()`` twice
is harmless; ``down()`` stops everything it started, by PID.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from island_ssh.resources import conf_file, load_template
from island_ssh.config import SandboxSettings, expand_path
from island_ssh.core.errors import IslandError
from island_ssh.testing.sshd import PrivateSSHD
from island_ssh.testing.waiting import WaitTimeout, wait_for

ENTRY_SCRIPT = conf_file("container", "entry.sh")
ISLAND_SERVER_SCRIPT = Path(__file__).resolve().with_name("island_server.py")  # standard library only
MASTER_USER = "islandmaster"
CODE_SUBDIR = "code"


def random_node_prefix() -> str:
    """A 127.X.Y prefix for a sandbox that runs beside others (tests): its nodes' host ports
    then never collide with another sandbox's pods."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"


class SandboxError(IslandError):
    """The sandbox could not start or stop; the message says which part and where its log is."""


@dataclass(frozen=True)
class SandboxInfo:
    api_port: int
    kubeconfig: Path
    node_ips: dict[str, str]
    ssh_host: str
    ssh_port: int
    ssh_user: str
    key_file: Path
    known_hosts: Path
    code_dir: Path
    state_dir: Path
    admin_kubeconfig: Path | None = None
    """Cluster admin (the master's kubeconfig acts as the RBAC file's user when sandbox.rbac is set)."""

    def ssh_section(self) -> dict[str, str | int]:
        """The config's ``ssh`` fields that point island_ssh at this sandbox's master."""
        return {"host": self.ssh_host, "port": self.ssh_port, "user": self.ssh_user,
                "key_file": str(self.key_file), "known_hosts": str(self.known_hosts)}

    def as_env(self) -> dict[str, str]:
        """Environment overrides pointing island_ssh's config at this sandbox."""
        return {
            "ISLAND_SSH_SSH_HOST": self.ssh_host,
            "ISLAND_SSH_SSH_PORT": str(self.ssh_port),
            "ISLAND_SSH_SSH_USER": self.ssh_user,
            "ISLAND_SSH_SSH_KEY_FILE": str(self.key_file),
            "ISLAND_SSH_SSH_KNOWN_HOSTS": str(self.known_hosts),
        }


def _wait_for(predicate, timeout: float, what: str, log: Path | None = None):
    try:
        return wait_for(predicate, timeout, what)
    except WaitTimeout:
        hint = f"; see {log}" if log else ""
        raise SandboxError(f"sandbox: {what} not ready within {timeout:.0f}s{hint}") from None


def write_code_dir(code_dir: Path, python: str = sys.executable) -> None:
    """The PV's content: the entry script and a start.sh that runs the stand-in island server."""
    (code_dir / ".island").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ENTRY_SCRIPT, code_dir / ".island" / "entry.sh")
    start = code_dir / "start.sh"
    start.write_text(
        "#!/bin/sh\n"
        "# Sandbox stand-in for the Java game server (island_sandbox.island_server).\n"
        # -I -S: no site (the editable install's finder alone cost ~11 ms a start) and, with -I's
        # -P, not the script's directory on sys.path (it holds a selectors.py of its own)
        f"exec {python} -I -S {ISLAND_SERVER_SCRIPT} \"$@\"\n"
    )
    start.chmod(0o755)


class Sandbox:
    def __init__(self, settings: SandboxSettings | None = None, state_dir: Path | None = None,
                 watch_timeout: float | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self.state_dir = Path(state_dir or expand_path(self.settings.state_dir))
        self.watch_timeout = self.settings.watch_timeout if watch_timeout is None else watch_timeout
        self.server: subprocess.Popen | None = None
        self.sshd: PrivateSSHD | None = None
        self.info: SandboxInfo | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def up(self, timeout: float = 20.0) -> SandboxInfo:
        if self.info is not None:
            return self.info
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        code_dir = self.state_dir / CODE_SUBDIR
        write_code_dir(code_dir)
        try:
            server_json = self._start_server(timeout)
            kubeconfig = Path(server_json["kubeconfig"])
            # The master's login user (not root) runs kubectl. The sandbox token guards nothing
            # but a loopback emulator, so readable is fine here; a real master keeps it 0600.
            os.chmod(kubeconfig, 0o644)
            admin_kubeconfig = Path(server_json.get("admin_kubeconfig") or kubeconfig)
            self._apply_storage(admin_kubeconfig, code_dir)
            bin_dir = str(Path(sys.executable).parent)
            self.sshd = PrivateSSHD(
                self.state_dir / "master",
                user=MASTER_USER,
                login_env={"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "KUBECONFIG": str(kubeconfig)},
            )
            self.sshd.start()
        except BaseException:
            self.down()
            raise
        self.info = SandboxInfo(
            api_port=int(server_json["port"]),
            kubeconfig=kubeconfig,
            node_ips=dict(server_json.get("node_ips", {})),
            ssh_host=self.sshd.host,
            ssh_port=self.sshd.port,
            ssh_user=self.sshd.user,
            key_file=Path(self.sshd.key_file),
            known_hosts=Path(self.sshd.known_hosts),
            code_dir=code_dir,
            state_dir=self.state_dir,
            admin_kubeconfig=admin_kubeconfig,
        )
        (self.state_dir / "sandbox.json").write_text(json.dumps(
            {k: str(v) if isinstance(v, Path) else v for k, v in self.info.__dict__.items()}, indent=2))
        return self.info

    def _start_server(self, timeout: float) -> dict:
        api_dir = self.state_dir / "api"
        api_dir.mkdir(parents=True, exist_ok=True)
        ready_file = api_dir / "server.json"
        ready_file.unlink(missing_ok=True)
        nodes = [{"name": n.name, "labels": n.labels, "memory": n.memory} for n in self.settings.nodes]
        log = api_dir / "server.log"
        cmd = [sys.executable, "-m", "island_sandbox.server", "--state-dir", str(api_dir),
               "--port", str(self.settings.api_port), "--nodes-json", json.dumps(nodes),
               *(["--rbac", str(expand_path(self.settings.rbac))] if self.settings.rbac else []),
               *([] if getattr(self.settings, "metrics_api", True) else ["--no-metrics-api"]),
               "--watch-timeout", str(self.watch_timeout),
               "--node-ip-prefix", self.settings.node_ip_prefix]
        with open(log, "ab") as out:
            self.server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def ready():
            if self.server.poll() is not None:
                raise SandboxError(f"sandbox API server exited with {self.server.returncode}; see {log}")
            try:
                return json.loads(ready_file.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                return None

        return _wait_for(ready, timeout, "API server", log)

    def _apply_storage(self, kubeconfig: Path, code_dir: Path) -> None:
        from island_ssh.core.manifests import render_pv, render_pvc  # pure rendering; local to keep import light
        import yaml
        docs = [render_pv(load_template("pv"), str(code_dir)), render_pvc(load_template("pvc"))]
        self.kubectl_local(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))

    @staticmethod
    def kubectl_local(kubeconfig: Path, *args: str, stdin: str | None = None, timeout: float = 30.0) -> str:
        kubectl = shutil.which("kubectl", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
        if not kubectl:
            raise SandboxError("kubectl not found: run ./island.sh setup (it unpacks kubectl into .venv/bin)")
        proc = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), *args], input=stdin, text=True,
                              capture_output=True, timeout=timeout)
        if proc.returncode != 0:
            raise SandboxError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def down(self, timeout: float = 20.0) -> None:
        if self.sshd is not None:
            self.sshd.stop()
            self.sshd = None
        if self.server is not None:
            if self.server.poll() is None:
                self.server.send_signal(signal.SIGTERM)
                try:
                    self.server.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.server.kill()
                    self.server.wait(5)
            self.server = None
        self.info = None

    def __enter__(self) -> SandboxInfo:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()
