"""The product on real parts for the end-to-end benchmarks (launch.py, tracker_latency.py):
a cluster sandbox with nodes of the size asked for, a throw-away database on the MariaDB at
127.0.0.1:3306 (or a private mariadbd), the registration web app, and the runtime.

    with bench_env(nodes=[("dev", "64Gi")] * 3, islands={...}) as env:
        env.service.launch_many(...)
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from island_ssh.config import SandboxNode  # noqa: E402
from island_ssh.testing import free_port  # noqa: E402
from island_sandbox.product import ProductEnv, running_product, running_sandbox, sandbox_settings  # noqa: E402


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


def time_applies(kubectl) -> list[float]:
    """Time every ``kubectl.apply`` from now on; the list fills as applies end (seconds each)."""
    applies: list[float] = []
    real_apply = kubectl.apply

    def timed_apply(docs, timeout=60.0):
        started = time.perf_counter()
        try:
            return real_apply(docs, timeout=timeout)
        finally:
            applies.append(time.perf_counter() - started)

    kubectl.apply = timed_apply
    return applies


def stop_timing_applies(kubectl) -> None:
    """Undo ``time_applies``: the Kubectl's own ``apply`` again."""
    vars(kubectl).pop("apply", None)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class BenchEnv(ProductEnv):
    def __init__(self, sandbox, settings, runtime, web_port: int, api_url: str) -> None:
        super().__init__(settings, runtime, web_port)
        self.sandbox = sandbox
        self.api_url = api_url

    def clear(self) -> None:
        """Delete every managed pod and release every row (between two measurements)."""
        self.delete_every_pod(timeout=300)
        for row in self.store.active():
            self.store.release(row.island_id, row.generation, "BenchCleanup")


BENCH_ISLANDS = {"readiness_failure_threshold": 600, "ready_timeout": 900.0, "id_max": 2000}
"""Bursts of hundreds of islands on two cores: each may take many minutes to become ready."""


@contextlib.contextmanager
def bench_env(nodes: list[tuple[str, str]], islands: dict | None = None, with_tracker: bool = True,
              tracker: dict | None = None, ssh: dict | None = None):
    """nodes: [(branch, memory)], one node each."""
    from island_ssh.testing.mariadb import find_or_start_mariadb

    counts: dict[str, int] = {}
    specs = []
    for branch, memory in nodes:
        counts[branch] = counts.get(branch, 0) + 1
        specs.append(SandboxNode(name=f"node-{branch}-{counts[branch]}", labels={"branch": branch}, memory=memory))
    db_name = f"isl_bench_{uuid.uuid4().hex[:10]}"
    with contextlib.ExitStack() as stack:
        db_state = stack.enter_context(tempfile.TemporaryDirectory(prefix="island-ssh-bench-db-"))
        server = stack.enter_context(find_or_start_mariadb(db_state))
        server.create_database(db_name)
        stack.callback(server.drop_database, db_name)
        box = stack.enter_context(running_sandbox("island-ssh-bench-", up_timeout=60, nodes=specs))
        web_port = free_port()
        settings = sandbox_settings(box.info, server.settings(db_name), web_port,
                                    ssh={"connect_timeout": 10.0, **(ssh or {})},
                                    islands={**BENCH_ISLANDS, **(islands or {})}, tracker=tracker)
        runtime = stack.enter_context(running_product(settings, web_port, with_tracker=with_tracker))
        kubeconfig = yaml.safe_load(Path(box.info.kubeconfig).read_text())
        env = BenchEnv(box, settings, runtime, web_port, kubeconfig["clusters"][0]["cluster"]["server"])
        try:
            yield env
        finally:
            with contextlib.suppress(Exception):
                env.clear()
