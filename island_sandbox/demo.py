"""The demo: everything on this machine, real processes, one command.

MariaDB (the local one, or a private one), the cluster sandbox (API server + kubelets + an sshd
as the master), the web app with its tracker; then a scripted tour: two islands launched, their
states followed to ready, their servers asked for the time, one island's clock set, one deleted.
Without --once it keeps serving until Ctrl-C; everything it started stops with it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import ExitStack

from island_ssh.config import Settings, expand_path
from island_ssh.core.errors import IslandError
from island_ssh.testing import free_port


DEMO_DATABASE = "island_ssh_demo"
"""The demo's own schema, recreated at every start: its cluster is new each time too."""


def ask_island_time(host: str, port: int, timeout: float = 3.0) -> str:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"time\n")
        s.settimeout(timeout)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode("utf-8", "replace").strip()


def sandbox_settings(settings: Settings, info, db, web_port: int) -> Settings:
    """Point every part at the local sandbox, MariaDB and web app."""
    return settings.replace(
        ssh=info.ssh_section(),
        database={"host": db.host, "port": db.port, "user": db.user, "password": db.password,
                  "name": DEMO_DATABASE},
        islands={"registration_url": f"http://127.0.0.1:{web_port}"},
        # the demo page needs no login: everyone is the admin "demo" on this private machine
        web={"port": web_port, "admins": ["demo"]},
    )


def run_demo(settings: Settings, once: bool = False, port: int = 0, echo=print) -> None:
    from waitress.server import create_server

    from island_ssh_web import create_app

    from island_ssh.service.wiring import build_runtime
    from island_sandbox.manager import Sandbox
    from island_ssh.store import Store
    from island_ssh.testing.mariadb import find_or_start_mariadb

    state = expand_path(settings.sandbox.state_dir)
    web_port = port or free_port()
    t0 = time.monotonic()
    with ExitStack() as stack:
        echo("starting MariaDB (the local server if it answers, else a private one) ...")
        db = stack.enter_context(find_or_start_mariadb(state / "mariadb"))
        echo(f"starting the cluster sandbox in {state} ...")
        box = Sandbox(settings.sandbox, state_dir=state)
        stack.callback(box.down)
        info = box.up()
        settings = sandbox_settings(settings, info, db, web_port)
        db.drop_database(DEMO_DATABASE)
        Store(settings.database).migrate()
        rt = build_runtime(settings, with_tracker=True)
        stack.callback(rt.close)
        app = create_app(settings, service=rt.service, current_user=lambda: "demo")
        server = create_server(app, host="127.0.0.1", port=web_port, threads=settings.web.threads)
        thread = threading.Thread(target=server.run, name="demo-web", daemon=True)
        thread.start()
        stack.callback(lambda: (server.close(), thread.join(5)))
        echo(f"up in {time.monotonic() - t0:.1f}s")
        echo(f"  web app:   http://127.0.0.1:{web_port}/")
        echo(f"  master:    ssh -i {info.key_file} -o UserKnownHostsFile={info.known_hosts} "
             f"-p {info.ssh_port} {info.ssh_user}@{info.ssh_host} kubectl get pods")
        tour(rt, echo)
        if once:
            return
        echo("serving until Ctrl-C ...")
        threading.Event().wait()


def tour(rt, echo) -> None:
    from island_ssh.service.islands import LaunchRequest
    svc = rt.service
    echo("\nlaunching two islands: 刘电波 on dev, tester2 on weekly (one kubectl apply) ...")
    rows = svc.launch_many([LaunchRequest(owner="刘电波", branch="dev", start_time="2021-09-18 23:30:07"),
                            LaunchRequest(owner="tester2", branch="weekly")])
    seen = {}
    deadline = time.monotonic() + rt.settings.islands.ready_timeout + 30
    pause = threading.Event()
    while time.monotonic() < deadline:
        current = [svc.get(r.island_id) for r in rows]
        for row in current:
            if seen.get(row.island_id) != row.state:
                seen[row.island_id] = row.state
                echo(f"  island {row.island_id} ({row.pod_name}): {row.state}"
                     + (f" [{row.reason}]" if row.reason and row.state != "ready" else ""))
        if all(r.state in ("ready", "failed", "unschedulable", "timeout") for r in current):
            break
        pause.wait(0.2)
    rows = [svc.get(r.island_id) for r in rows]
    for row in rows:
        if row.state != "ready":
            raise IslandError(f"island {row.island_id} ended {row.state}: {row.reason} {row.message}")
        echo(f"  island {row.island_id} answers on {row.host_ip}:{row.ports[2]}: "
             f"{ask_island_time(row.host_ip, row.ports[2])}")
    first, second = rows
    echo(f"\nsetting island {first.island_id}'s clock to +2d ...")
    before = json.loads(ask_island_time(first.host_ip, first.ports[2]))["epoch"]
    svc.set_clock(first.island_id, "+2d")
    # libfaketime re-reads the clock file within faketime_cache_duration (1 s): wait for it
    deadline = time.monotonic() + 10
    while json.loads(ask_island_time(first.host_ip, first.ports[2]))["epoch"] < before + 86400:
        if time.monotonic() > deadline:
            raise IslandError(f"island {first.island_id} did not pick up its new clock within 10 s")
        pause.wait(0.1)
    for row in rows:
        echo(f"  island {row.island_id}: {ask_island_time(row.host_ip, row.ports[2])}")
    echo(f"\ndeleting island {second.island_id} ...")
    svc.delete(second.island_id, wait=True)
    echo(f"  island {second.island_id}: {svc.get(second.island_id).state} (id and ports free again)")
