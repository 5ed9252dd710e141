"""``island-ssh``: the operators' command line. It calls the service layer only.

Exit codes (stable, for scripts):
  0 ok · 1 other island_ssh error · 2 bad arguments · 3 configuration error · 4 no such island ·
  5 permission denied · 6 no capacity / no free id · 7 cannot reach the master or the database ·
  8 kubectl failed on the master · 10 the island ended failed, unschedulable, timeout or lost
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager

import click

from .config import load_settings
from .errors import (AllocationError, ConfigError, InvalidInput, IslandError, IslandNotFound, KubectlError,
                     PermissionDenied, SSHError, StoreError)

EXIT_CODES = [
    (ConfigError, 3), (IslandNotFound, 4), (PermissionDenied, 5), (AllocationError, 6),
    (SSHError, 7), (StoreError, 7), (KubectlError, 8), (InvalidInput, 2), (IslandError, 1),
]
EXIT_ISLAND_FAILED = 10


def fail(exc: IslandError) -> None:
    code = next(c for cls, c in EXIT_CODES if isinstance(exc, cls))
    click.echo(click.style("error: ", fg="red", bold=True) + exc.message.replace("\n", " "), err=True)
    sys.exit(code)


@contextmanager
def errors_to_exit():
    try:
        yield
    except IslandError as exc:
        fail(exc)


class Context:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings = None
        self._runtime = None

    @property
    def settings(self):
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    def runtime(self, with_tracker: bool = False):
        if self._runtime is None:
            from .runtime import build_runtime
            self._runtime = build_runtime(self.settings, with_tracker=with_tracker)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="ISLAND_SSH_CONFIG", type=click.Path(dir_okay=False),
              help="config file (default conf/island.yaml; env ISLAND_SSH_CONFIG)")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Launch and manage game-server islands on Kubernetes over one SSH connection."""
    ctx.obj = Context(config_path)
    ctx.call_on_close(ctx.obj.close)


def island_json(row) -> dict:
    ports = list(row.ports)
    return {
        "id": row.island_id, "pod": row.pod_name, "owner": row.owner, "branch": row.branch,
        "state": row.state, "reason": row.reason, "message": row.message, "node": row.node,
        "host_ip": row.host_ip, "ports": ports,
        "address": f"{row.host_ip}:{ports[0]}" if row.host_ip else None,
        "clock": row.clock_setting, "generation": row.generation,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


def print_islands(rows, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([island_json(r) for r in rows], ensure_ascii=False, indent=2))
        return
    header = f"{'ID':>5}  {'STATE':<14} {'OWNER':<12} {'BRANCH':<8} {'NODE':<14} {'PORTS':<18} REASON"
    click.echo(header)
    for r in rows:
        ports = "-".join(str(p) for p in (r.ports[0], r.ports[-1]))
        addr = f"{r.host_ip}:{ports}" if r.host_ip else ports
        click.echo(f"{r.island_id:>5}  {_state(r.state):<14} {r.owner[:12]:<12} {r.branch:<8} "
                   f"{(r.node or '-')[:14]:<14} {addr:<18} {r.reason or ''}")


def _state(state: str) -> str:
    colour = {"ready": "green", "failed": "red", "unschedulable": "red", "timeout": "red",
              "lost": "yellow", "deleted": "bright_black"}.get(state)
    # click.style is dropped by click.echo when stdout is not a terminal
    return click.style(f"{state:<14}", fg=colour) if colour else state


@main.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Create or upgrade the database schema."""
    from .store import Store
    with errors_to_exit():
        store = Store(obj.settings.database)
        before = store.schema_version()
        store.migrate()
        click.echo(f"schema at version {store.schema_version()} (was {before})")


@main.command()
@click.option("--owner", required=True, help="who the island is for (any name, 中文 too)")
@click.option("--branch", help="dev or weekly (islands.branches)")
@click.option("--start-time", default="", help="island clock at start, 'YYYY-MM-DD HH:MM:SS'")
@click.option("--memory", help="memory request, e.g. 1500Mi")
@click.option("--image", help="server image override")
@click.option("--env", "env", multiple=True, help="extra environment NAME=VALUE (repeatable)")
@click.option("--wait/--no-wait", default=False, help="follow the island until ready or failed")
@click.option("--timeout", type=float, help="seconds to wait (default islands.ready_timeout)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def launch(obj: Context, owner, branch, start_time, memory, image, env, wait, timeout, as_json) -> None:
    """Launch one island."""
    from .service import LaunchRequest
    extra = {}
    for item in env:
        if "=" not in item:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--env")
        k, v = item.split("=", 1)
        extra[k] = v
    with errors_to_exit():
        rt = obj.runtime(with_tracker=wait)
        row = rt.service.launch(LaunchRequest(owner=owner, branch=branch, start_time=start_time,
                                              memory=memory, image=image, env=extra))
        if wait:
            row = follow(rt, row.island_id, timeout, quiet=as_json)
        if as_json:
            click.echo(json.dumps(island_json(row), ensure_ascii=False, indent=2))
        else:
            print_islands([row], False)
        if row.state in ("failed", "unschedulable", "timeout", "lost"):
            sys.exit(EXIT_ISLAND_FAILED)


def follow(rt, island_id: int, timeout: float | None, quiet: bool = False):
    """A live line of state changes until the island is ready or has failed."""
    import time as _time
    from .service import FINAL_STATES
    limit = rt.settings.islands.ready_timeout + 30 if timeout is None else timeout
    deadline = _time.monotonic() + limit
    start = _time.monotonic()
    seen = None
    q = rt.tracker.subscribe() if rt.tracker else None
    try:
        while True:
            row = rt.service.get(island_id)
            if row.state != seen and not quiet:
                elapsed = _time.monotonic() - start
                detail = f" ({row.reason}: {row.message})" if row.reason and row.state != "ready" else ""
                click.echo(f"[{elapsed:6.1f}s] island {island_id}: {_state(row.state).strip()}{detail}", err=True)
                seen = row.state
            if row.state in FINAL_STATES or _time.monotonic() > deadline:
                return row
            if q is not None:
                try:
                    q.get(timeout=0.5)
                except Exception:
                    pass
    finally:
        if q is not None:
            rt.tracker.unsubscribe(q)


@main.command(name="list")
@click.option("--owner")
@click.option("--branch")
@click.option("--state", "states", multiple=True)
@click.option("--all", "show_all", is_flag=True, help="include deleted islands")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(obj: Context, owner, branch, states, show_all, as_json) -> None:
    """List islands."""
    from .store import Store
    with errors_to_exit():
        store = Store(obj.settings.database)
        rows = store.list(owner=owner, branch=branch, states=list(states) or None)
        if not show_all and not states:
            rows = [r for r in rows if r.state != "deleted"]
        print_islands(rows, as_json)


@main.command()
@click.argument("island_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show(obj: Context, island_id: int, as_json: bool) -> None:
    """Show one island."""
    from .store import Store
    with errors_to_exit():
        row = Store(obj.settings.database).get(island_id)
        if row is None:
            raise IslandNotFound(f"no island {island_id}; `island-ssh list` shows the islands", island_id=island_id)
        data = island_json(row)
        if as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            for k, v in data.items():
                click.echo(f"{k:>11}: {v}")


@main.command()
@click.argument("island_id", type=int)
@click.option("--wait", is_flag=True, help="wait until the pod is gone")
@click.pass_obj
def delete(obj: Context, island_id: int, wait: bool) -> None:
    """Delete an island (its id and ports come free once the pod is gone)."""
    with errors_to_exit():
        row = obj.runtime(with_tracker=wait).service.delete(island_id, wait=wait)
        click.echo(f"island {island_id}: {row.state}")


@main.command()
@click.argument("island_id", type=int)
@click.pass_obj
def restart(obj: Context, island_id: int) -> None:
    """Restart an island: same id and ports, a new pod."""
    with errors_to_exit():
        row = obj.runtime().service.restart(island_id)
        click.echo(f"island {island_id}: {row.state}")


@main.command()
@click.argument("island_id", type=int)
@click.argument("when")
@click.pass_obj
def clock(obj: Context, island_id: int, when: str) -> None:
    """Set an island's clock: 'YYYY-MM-DD HH:MM:SS' (reads that now), '+2d' / '-1h', or 'reset'."""
    with errors_to_exit():
        row = obj.runtime().service.set_clock(island_id, when)
        click.echo(f"island {island_id}: clock {row.clock_setting}")


@main.command()
@click.argument("island_id", type=int)
@click.option("--tail", type=int, default=200, show_default=True)
@click.option("-c", "--container", default="altraserver", show_default=True)
@click.pass_obj
def logs(obj: Context, island_id: int, tail: int, container: str) -> None:
    """Show an island's server log."""
    with errors_to_exit():
        click.echo(obj.runtime().service.logs(island_id, tail=tail, container=container), nl=False)


@main.command()
@click.argument("island_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def events(obj: Context, island_id: int, as_json: bool) -> None:
    """Show an island's state transitions."""
    from .store import Store
    with errors_to_exit():
        store = Store(obj.settings.database)
        row = store.get(island_id)
        if row is None:
            raise IslandNotFound(f"no island {island_id}", island_id=island_id)
        evs = store.events(island_id, generation=row.generation)
        if as_json:
            click.echo(json.dumps([{"at": e.at.isoformat(), "from": e.from_state, "to": e.to_state,
                                    "reason": e.reason, "message": e.message} for e in evs],
                                  ensure_ascii=False, indent=2))
            return
        for e in evs:
            click.echo(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.from_state or '-':>13} -> {e.to_state:<13} "
                       f"{e.reason or ''} {e.message or ''}".rstrip())


@main.command()
@click.option("--bind", help="address to listen on (web.bind)")
@click.option("--port", type=int, help="port (web.port)")
@click.pass_obj
def serve(obj: Context, bind, port) -> None:
    """Serve the web UI and API with waitress."""
    from waitress import serve as waitress_serve
    from island_ssh_web import create_app
    with errors_to_exit():
        app = create_app(obj.settings)
        web = obj.settings.web
        waitress_serve(app, host=bind or web.bind, port=port or web.port, threads=web.threads)


from .cli_sandbox import demo, sandbox  # noqa: E402  (commands living in their own module)

main.add_command(sandbox)
main.add_command(demo)


if __name__ == "__main__":
    main()
