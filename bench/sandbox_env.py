"""The product on real parts for the end-to-end benchmarks (launch.py, tracker_latency.py):
a cluster sandbox with nodes of the size asked for, a throw-away database on the MariaDB at
127.0.0.1:3306 (or a private mariadbd), the registration web app, and the runtime.

    with bench_env(nodes=[("dev", "64Gi")] * 3, islands={...}) as env:
        env.service.launch_many(...)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import shutil
import socket
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from island_ssh.config import DEFAULT_CONFIG, SandboxNode, load_settings  # noqa: E402


def machine() -> str:
    """What the figures were measured on (one line for the results table)."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, python {platform.python_version()}, load {load}"


from island_ssh.testing.waiting import wait_for  # noqa: E402,F401  (re-exported to the benches)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BenchEnv:
    sandbox: object
    settings: object
    runtime: object
    api_url: str

    @property
    def service(self):
        return self.runtime.service

    @property
    def store(self):
        return self.runtime.store

    @property
    def kubectl(self):
        return self.runtime.kubectl

    @property
    def tracker(self):
        return self.runtime.tracker

    def clear(self) -> None:
        """Delete every managed pod and release every row (between two measurements)."""
        names = sorted({p["metadata"]["name"] for p in self.kubectl.pods().get("items") or []})
        if names:
            self.kubectl.run("delete", "pod", *names, "--grace-period=0", "--force", "--wait=true",
                             "--ignore-not-found=true", timeout=600)
        wait_for(lambda: not self.kubectl.pods().get("items"), 300, "every pod gone")
        for row in self.store.active():
            self.store.release(row.island_id, row.generation, "BenchCleanup")


@contextlib.contextmanager
def bench_env(nodes: list[tuple[str, str]], islands: dict | None = None, with_tracker: bool = True,
              tracker: dict | None = None, ssh: dict | None = None):
    """nodes: [(branch, memory)], one node each."""
    from waitress.server import create_server

    from island_ssh.runtime import build_runtime
    from island_ssh.sandbox.manager import Sandbox
    from island_ssh.store import Store
    from island_ssh.testing.mariadb import find_or_start_mariadb
    from island_ssh_web import create_app

    base = load_settings(DEFAULT_CONFIG, environ={})
    counts: dict[str, int] = {}
    specs = []
    for branch, memory in nodes:
        counts[branch] = counts.get(branch, 0) + 1
        specs.append(SandboxNode(name=f"node-{branch}-{counts[branch]}", labels={"branch": branch}, memory=memory))
    state = Path(tempfile.mkdtemp(prefix="island-ssh-bench-", dir="/var/tmp"))
    os.chmod(state, 0o755)
    db_name = f"isl_bench_{uuid.uuid4().hex[:10]}"
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, state, True)
        server = stack.enter_context(find_or_start_mariadb(state / "mariadb"))
        server.create_database(db_name)
        stack.callback(server.drop_database, db_name)
        box = Sandbox(base.replace(sandbox={"nodes": specs}).sandbox, state_dir=state / "sandbox")
        stack.callback(box.down)
        info = box.up(timeout=60)
        web_port = _free_port()
        island_settings = {"registration_url": f"http://127.0.0.1:{web_port}", "memory_request": "64Mi",
                           "memory_limit": "256Mi", "readiness_initial_delay": 1, "readiness_period": 1,
                           "readiness_timeout": 2, "readiness_failure_threshold": 600, "ready_timeout": 900.0,
                           "id_max": 2000}
        island_settings.update(islands or {})
        settings = base.replace(
            ssh={"host": info.ssh_host, "port": info.ssh_port, "user": info.ssh_user, "key_file": str(info.key_file),
                 "known_hosts": str(info.known_hosts), "connect_timeout": 10.0, **(ssh or {})},
            database=dataclasses.asdict(server.settings(db_name)),
            islands=island_settings,
            tracker={"restart_backoff": 0.2, "restart_backoff_max": 2.0, **(tracker or {})},
        )
        with Store(settings.database) as store:
            store.migrate()
        rt = build_runtime(settings, with_tracker=with_tracker)
        stack.callback(rt.close)
        app = create_app(settings, service=rt.service)
        web = create_server(app, host="127.0.0.1", port=web_port, threads=8)
        thread = threading.Thread(target=web.run, daemon=True)
        thread.start()
        stack.callback(thread.join, 5)
        stack.callback(web.close)
        if with_tracker:
            wait_for(rt.tracker.watch_started.is_set, 60, "the tracker's first watch")
        kubeconfig = yaml.safe_load(Path(info.kubeconfig).read_text())
        env = BenchEnv(box, settings, rt, kubeconfig["clusters"][0]["cluster"]["server"])
        try:
            yield env
        finally:
            with contextlib.suppress(Exception):
                env.clear()
