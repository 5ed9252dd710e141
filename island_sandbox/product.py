"""The whole product on a cluster sandbox, for the tests and the end-to-end benchmarks.

    with running_sandbox("island-ssh-test-") as box:
        web_port = free_port()
        settings = sandbox_settings(box.info, db, web_port, islands={"ready_timeout": 90})
        with running_product(settings, web_port) as runtime:
            env = ProductEnv(settings, runtime, web_port)
            env.service.launch(...)

``running_sandbox`` brings a sandbox up in a throw-away directory; ``sandbox_settings`` points
every part at it (small islands that become ready fast, a short tracker backoff); and
``running_product`` migrates the database and runs the service, store, kubectl and tracker with
the registration web app on 127.0.0.1, closing all of it afterwards. ``ProductEnv`` holds the
parts for the code that drives them; the tests' and benchmarks' helpers extend it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from island_ssh.config import DEFAULT_CONFIG, DatabaseSettings, Settings, load_settings
from island_ssh.testing.waiting import wait_for

if TYPE_CHECKING:
    from island_ssh.service.wiring import Runtime
    from island_sandbox.manager import Sandbox, SandboxInfo

ISLANDS = {"memory_request": "64Mi", "memory_limit": "256Mi", "readiness_initial_delay": 1,
           "readiness_period": 1, "readiness_timeout": 2, "readiness_failure_threshold": 60,
           "ready_timeout": 60.0}
"""Islands on a sandbox: small, checked every second, ready or failed within a minute."""
TRACKER = {"restart_backoff": 0.2, "restart_backoff_max": 2.0}


@contextlib.contextmanager
def running_sandbox(prefix: str = "island-ssh-", *, watch_timeout: float | None = None,
                    up_timeout: float = 20.0, **sandbox) -> Iterator["Sandbox"]:
    """A sandbox up in a fresh directory, removed afterwards; ``sandbox`` overrides the config's
    sandbox section (nodes=...). Its nodes get a 127.X.Y prefix of their own, so their host ports
    never collide with another sandbox's pods. The directory is under /var/tmp, not a 0700 temp
    dir: the master's login user must read the kubeconfig in it."""
    from island_sandbox.manager import Sandbox, random_node_prefix

    state = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    os.chmod(state, 0o755)
    section = {"node_ip_prefix": random_node_prefix(), **sandbox}
    box = Sandbox(load_settings(DEFAULT_CONFIG, environ={}).replace(sandbox=section).sandbox,
                  state_dir=state, watch_timeout=watch_timeout)
    try:
        box.up(timeout=up_timeout)
        yield box
    finally:
        box.down()
        shutil.rmtree(state, ignore_errors=True)


def sandbox_settings(info: "SandboxInfo", database: DatabaseSettings, web_port: int, *, ssh: dict | None = None,
                     islands: dict | None = None, tracker: dict | None = None, web: dict | None = None,
                     kube: dict | None = None) -> Settings:
    """The default config pointed at the sandbox's master, ``database`` and a registration web
    app on 127.0.0.1:``web_port``, with ISLANDS and TRACKER; the dicts override single fields."""
    return load_settings(DEFAULT_CONFIG, environ={}).replace(
        ssh={**info.ssh_section(), **(ssh or {})},
        database=dataclasses.asdict(database),
        islands={"registration_url": f"http://127.0.0.1:{web_port}", **ISLANDS, **(islands or {})},
        tracker={**TRACKER, **(tracker or {})},
        **({"web": web} if web else {}),
        **({"kube": kube} if kube else {}),
    )


class ProductEnv:
    """The running product's parts, for the code that drives it."""

    def __init__(self, settings: Settings, runtime: "Runtime", web_port: int) -> None:
        self.settings = settings
        self.runtime = runtime
        self.service = runtime.service
        self.store = runtime.store
        self.kubectl = runtime.kubectl
        self.tracker = runtime.tracker
        self.web_port = web_port

    def managed_pods(self) -> list[dict]:
        """Every pod carrying our label, as the master's kubectl lists them."""
        return self.kubectl.pods().get("items") or []

    def delete_every_pod(self, timeout: float = 120.0) -> None:
        """Force-delete every managed pod and wait until none is listed, allowing ``timeout``
        seconds plus one a pod for each step. Rows are not touched: the tracker records it."""
        names = [p["metadata"]["name"] for p in self.managed_pods()]
        failed = self.kubectl.delete_pods(names, grace_period=0, force=True, wait=False, timeout=timeout)
        if failed:
            raise next(iter(failed.values()))
        wait_for(lambda: not self.managed_pods(), timeout + len(names), "every managed pod gone")


@contextlib.contextmanager
def running_product(settings: Settings, web_port: int, *, with_tracker: bool = True,
                    watch_timeout: float = 60.0) -> Iterator["Runtime"]:
    """Migrate the database, build the runtime, serve the registration web app on
    127.0.0.1:``web_port``; with the tracker, wait for its first watch. Stops the web app and
    closes the runtime on the way out."""
    from waitress.server import create_server

    from island_ssh_web import create_app

    from island_ssh.service.wiring import build_runtime
    from island_ssh.store import Store

    with Store(settings.database) as store:
        store.migrate()
    runtime = build_runtime(settings, with_tracker=with_tracker)
    try:
        server = create_server(create_app(settings, service=runtime.service), host="127.0.0.1", port=web_port,
                               threads=settings.web.threads)
        thread = threading.Thread(target=server.run, name="registration-web", daemon=True)
        thread.start()
        try:
            if with_tracker:
                wait_for(runtime.tracker.watch_started.is_set, watch_timeout, "the tracker's first watch")
            yield runtime
        finally:
            server.close()
            thread.join(5)
    finally:
        runtime.close()
