"""``island-ssh``: the operators' command line. It calls the service layer (and recovery) only.

Exit codes (stable, for scripts):
  0 ok (also: `recover` found another run active and did nothing)
  1 other island_ssh error, or an unexpected one (ISLAND_SSH_DEBUG=1 shows its traceback)
  2 bad arguments or a refused value        3 configuration error
  4 no such island                          5 permission denied
  6 no capacity / no free island id         7 cannot reach the master or the database
  8 kubectl failed on the master            9 `recover`: some repairs failed (see its summary)
  10 the island ended failed, unschedulable, timeout or lost (`launch --wait`)
  130 interrupted (Ctrl-C)
`doctor` exits with the code of its first failing check.
Errors are one line on stderr: what went wrong, and what to do. Colour only on a terminal.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import threading
import time
import traceback

import click

from island_ssh.config import load_settings
from island_ssh.core.errors import (AllocationError, ConfigError, InvalidInput, IslandError, IslandNotFound, KubectlError,
                     PermissionDenied, SSHError, StoreError)

EXIT_CODES = [
    (ConfigError, 3), (IslandNotFound, 4), (PermissionDenied, 5), (AllocationError, 6),
    (SSHError, 7), (StoreError, 7), (KubectlError, 8), (InvalidInput, 2), (IslandError, 1),
]
EXIT_RECOVER_FAILED = 9
EXIT_ISLAND_FAILED = 10
EXIT_INTERRUPTED = 130
BAD_ENDS = ("failed", "unschedulable", "timeout", "lost")
STATE_COLOURS = {"ready": "green", "failed": "red", "unschedulable": "red", "timeout": "red", "lost": "yellow",
                 "deleted": "bright_black"}


def exit_code_for(exc: IslandError) -> int:
    return next(c for cls, c in EXIT_CODES if isinstance(exc, cls))


def error_line(text: str) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + " ".join(text.split()), err=True)


PLUGIN_GROUP = "island_ssh.commands"
"""Entry-point group of commands shipped apart from the library (the sandbox's ``sandbox`` and
``demo``): the library never imports the sandbox, the command line finds it when installed."""


def plugin_commands() -> dict:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP)}


def unavailable_command(name: str, exc: ImportError) -> click.Command:
    def refuse() -> None:
        raise ConfigError(f"'island-ssh {name}' needs the sandbox extra: pip install 'island-ssh[sandbox]' "
                          f"(importing it failed: {exc})")
    return click.Command(name, callback=refuse, help=f"(unavailable: {exc})",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class IslandGroup(click.Group):
    """Turns every error into one line and its documented exit code; finds plugin commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(plugin_commands()))

    def get_command(self, ctx: click.Context, name: str):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        entry = plugin_commands().get(name)
        if entry is None:
            return None
        try:
            return entry.load()
        except ImportError as exc:
            return unavailable_command(name, exc)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except IslandError as exc:
            error_line(exc.message)
            ctx.exit(exit_code_for(exc))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - a tool's last word must be one line, not a traceback
            if os.environ.get("ISLAND_SSH_DEBUG"):
                traceback.print_exc()
            error_line(f"unexpected {type(exc).__name__}: {exc}; rerun with ISLAND_SSH_DEBUG=1 for the traceback "
                       f"and report it")
            ctx.exit(1)


class Context:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings = None
        self._runtime = None
        self._store = None

    @property
    def settings(self):
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    def store(self):
        """The store alone, for commands that only read MySQL (no SSH connection)."""
        if self._store is None:
            from island_ssh.store import Store
            self._store = Store(self.settings.database)
        return self._store

    def runtime(self, with_tracker: bool = False):
        if self._runtime is None:
            from island_ssh.service.wiring import build_runtime
            self._runtime = build_runtime(self.settings, with_tracker=with_tracker)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
        if self._store is not None:
            self._store.close()


@click.group(cls=IslandGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit codes: 0 ok, 1 error, 2 bad arguments, 3 config, 4 no such island, 5 permission, "
                    "6 no capacity, 7 master/database unreachable, 8 kubectl failed, 9 recover partly failed, "
                    "10 island failed.")
@click.option("--config", "config_path", envvar="ISLAND_SSH_CONFIG", type=click.Path(dir_okay=False),
              help="config file (default conf/island.yaml; env ISLAND_SSH_CONFIG)")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Launch and manage game-server islands on Kubernetes over one SSH connection."""
    ctx.obj = Context(config_path)
    ctx.call_on_close(ctx.obj.close)


def dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False)


def island_json(row) -> dict:
    """One island as `--json` prints it; keys are stable for scripts."""
    ports = list(row.ports)
    return {
        "id": row.island_id, "pod": row.pod_name, "owner": row.owner, "branch": row.branch,
        "state": row.state, "reason": row.reason, "message": row.message, "node": row.node,
        "host_ip": row.host_ip, "ports": ports,
        "address": f"{row.host_ip}:{ports[0]}" if row.host_ip and ports else None,
        "clock": row.clock_setting, "generation": row.generation,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


def styled_state(state: str, width: int = 0) -> str:
    # click.echo drops the colour when its stream is not a terminal
    colour = STATE_COLOURS.get(state)
    text = f"{state:<{width}}"
    return click.style(text, fg=colour) if colour else text


def print_islands(rows, as_json: bool) -> None:
    if as_json:
        click.echo(dumps([island_json(r) for r in rows]))
        return
    click.echo(f"{'ID':>5}  {'STATE':<13} {'OWNER':<12} {'BRANCH':<8} {'NODE':<14} {'ADDRESS:PORTS':<22} REASON")
    for r in rows:
        ports = f"{r.ports[0]}-{r.ports[-1]}" if r.ports else "-"
        addr = f"{r.host_ip}:{ports}" if r.host_ip else ports
        click.echo(f"{r.island_id:>5}  {styled_state(r.state, 13)} {r.owner[:12]:<12} {r.branch[:8]:<8} "
                   f"{(r.node or '-')[:14]:<14} {addr:<22} {r.reason or ''}".rstrip())


def print_island(row, as_json: bool) -> None:
    if as_json:
        click.echo(dumps(island_json(row)))
    else:
        click.echo(f"island {row.island_id}: {styled_state(row.state)}"
                   + (f" ({row.reason})" if row.reason and row.reason.lower() not in (row.state, "ready") else ""))


@main.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Create or upgrade the database schema."""
    store = obj.store()
    before = store.schema_version()
    applied = store.migrate()
    click.echo(f"schema at version {store.schema_version()} (was {before}; applied {len(applied)})")


def parse_env(items) -> dict:
    extra = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--env")
        name, value = item.split("=", 1)
        extra[name] = value
    return extra


@main.command()
@click.option("--owner", required=True, help="who the island is for (any name, 中文 too)")
@click.option("--branch", help="dev or weekly (islands.branches)")
@click.option("--start-time", default="", help="island clock at start, 'YYYY-MM-DD HH:MM:SS'")
@click.option("--memory", help="memory request, e.g. 1500Mi")
@click.option("--image", help="server image override")
@click.option("--env", "env", multiple=True, help="extra environment NAME=VALUE (repeatable)")
@click.option("--wait/--no-wait", default=False, help="follow the island's states until ready or failed")
@click.option("--timeout", type=click.FloatRange(min=0), help="seconds to wait (default islands.ready_timeout + 30)")
@click.option("--json", "as_json", is_flag=True, help="print the island as JSON")
@click.pass_obj
def launch(obj: Context, owner, branch, start_time, memory, image, env, wait, timeout, as_json) -> None:
    """Launch one island (its id and ports are printed)."""
    from island_ssh.service.islands import LaunchRequest
    request = LaunchRequest(owner=owner, branch=branch, start_time=start_time, memory=memory, image=image,
                            env=parse_env(env))
    rt = obj.runtime(with_tracker=wait)
    row = rt.service.launch(request)
    if wait:
        row = follow(rt, row, timeout)  # progress goes to stderr: stdout stays clean JSON
    if as_json:
        print_island(row, True)
    else:
        print_islands([row], False)
    if row.state in BAD_ENDS:
        sys.exit(EXIT_ISLAND_FAILED)


SPINNER = "|/-\\"


def follow(rt, row, timeout: float | None, show: bool = True):
    """Print each state change as its own line (from the island's events) and, on a terminal, a
    live progress line, until the island is ready or has ended; returns the last row."""
    from island_ssh.service.islands import FINAL_STATES
    limit = rt.settings.islands.ready_timeout + 30 if timeout is None else timeout
    start = time.monotonic()
    live = show and sys.stderr.isatty()
    printed: set[int] = set()
    pause = threading.Event()
    tick = 0
    while True:
        row = rt.service.get(row.island_id)
        elapsed = time.monotonic() - start
        if show:
            for ev in rt.store.events(row.island_id, generation=row.generation):
                if ev.id in printed:
                    continue
                printed.add(ev.id)
                detail = f" {ev.reason}" if ev.reason else ""
                detail += f": {ev.message}" if ev.message and ev.to_state != "ready" else ""
                click.echo(("\r\x1b[K" if live else "") + f"[{elapsed:6.1f}s] island {row.island_id}: "
                           f"{styled_state(ev.to_state)}{detail}", err=True)
        if row.state in FINAL_STATES or elapsed > limit:
            if live:
                click.echo("\r\x1b[K", err=True, nl=False)
            return row
        if live:
            tick += 1
            bar = int(20 * min(elapsed / limit, 1.0)) if limit else 0
            click.echo(f"\r\x1b[K{SPINNER[tick % 4]} island {row.island_id} {row.state:<13} "
                       f"[{'#' * bar}{'.' * (20 - bar)}] {elapsed:5.1f}s of {limit:.0f}s", err=True, nl=False)
        pause.wait(0.2)


@main.command(name="list")
@click.option("--owner", help="only this owner's islands")
@click.option("--branch", help="only this branch")
@click.option("--state", "states", multiple=True, help="only these states (repeatable)")
@click.option("--all", "show_all", is_flag=True, help="include deleted islands")
@click.option("--json", "as_json", is_flag=True, help="print a JSON array")
@click.pass_obj
def list_cmd(obj: Context, owner, branch, states, show_all, as_json) -> None:
    """List islands as a table."""
    rows = obj.store().list(owner=owner, branch=branch, states=list(states) or None)
    if not show_all and not states:
        rows = [r for r in rows if r.state != "deleted"]
    print_islands(rows, as_json)


def get_island(obj: Context, island_id: int):
    row = obj.store().get(island_id)
    if row is None:
        raise IslandNotFound(f"no island {island_id}; `island-ssh list` shows the islands", island_id=island_id)
    return row


@main.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show(obj: Context, island_id: int, as_json: bool) -> None:
    """Show one island."""
    data = island_json(get_island(obj, island_id))
    if as_json:
        click.echo(dumps(data))
        return
    for k, v in data.items():
        click.echo(f"{k:>11}: {styled_state(v) if k == 'state' else v}")


@main.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--wait", is_flag=True, help="wait until the pod is gone and the id free")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def delete(obj: Context, island_id: int, wait: bool, as_json: bool) -> None:
    """Delete an island (its id and ports come free once the pod is gone)."""
    print_island(obj.runtime(with_tracker=wait).service.delete(island_id, wait=wait), as_json)


@main.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def restart(obj: Context, island_id: int, as_json: bool) -> None:
    """Restart an island: same id and ports, a new pod."""
    print_island(obj.runtime().service.restart(island_id), as_json)


@main.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.argument("when")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def clock(obj: Context, island_id: int, when: str, as_json: bool) -> None:
    """Set an island's clock: 'YYYY-MM-DD HH:MM:SS' (reads that now), '+2d' / '-1h', or 'reset'."""
    row = obj.runtime().service.set_clock(island_id, when)
    if as_json:
        click.echo(dumps(island_json(row)))
    else:
        click.echo(f"island {island_id}: clock {row.clock_setting}")


@main.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--tail", type=click.IntRange(min=0), default=200, show_default=True, help="lines from the end")
@click.option("-f", "--follow", "follow_log", is_flag=True, help="keep printing new lines until Ctrl-C")
@click.option("-c", "--container", default="altraserver", show_default=True)
@click.pass_obj
def logs(obj: Context, island_id: int, tail: int, follow_log: bool, container: str) -> None:
    """Show an island's server log."""
    from island_ssh.ssh import StreamTimeout
    rt = obj.runtime()
    if not follow_log:
        click.echo(rt.service.logs(island_id, tail=tail, container=container), nl=False)
        return
    row = rt.service.get(island_id)
    # no --request-timeout: a followed log is long-lived; Ctrl-C (or the pod's end) stops it
    cmd = rt.kubectl.command("logs", "-f", row.pod_name, "-c", container, f"--tail={tail}", request_timeout=False)
    with rt.shell.stream(cmd) as stream:
        while True:
            try:
                line = stream.get_line(timeout=1.0)
            except StreamTimeout:
                continue  # quiet log; the SSH layer's keepalive notices a dead master
            if line is None:
                break
            click.echo(line)
        if stream.exit_code not in (0, None):
            raise KubectlError(f"kubectl logs -f ended with exit {stream.exit_code}: {stream.stderr.strip()[:300]}",
                               stderr=stream.stderr, exit_code=stream.exit_code, island_id=island_id)


@main.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def events(obj: Context, island_id: int, as_json: bool) -> None:
    """Show an island's state transitions (its current generation)."""
    row = get_island(obj, island_id)
    evs = obj.store().events(island_id, generation=row.generation)
    if as_json:
        click.echo(dumps([{"at": e.at.isoformat(), "from": e.from_state, "to": e.to_state, "reason": e.reason,
                           "message": e.message} for e in evs]))
        return
    for e in evs:
        click.echo(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.from_state or '-':>13} -> {styled_state(e.to_state, 13)} "
                   f"{e.reason or ''} {e.message or ''}".rstrip())


@main.command()
@click.option("--dry-run", is_flag=True, help="plan and print, change nothing")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.pass_obj
def recover(obj: Context, dry_run: bool, as_json: bool) -> None:
    """Make MySQL and the cluster agree (run from cron; one run at a time)."""
    from island_ssh.service.recovery import check_recover_settings, run_recovery
    check_recover_settings(obj.settings)
    rt = obj.runtime()
    report = run_recovery(obj.settings, rt.store, rt.kubectl, rt.service, dry_run=dry_run)
    if as_json:
        click.echo(dumps(report.as_dict()))
    else:
        for line in report.summary_lines():
            click.echo(line)
    if report.failed:
        sys.exit(EXIT_RECOVER_FAILED)


@main.command()
@click.option("--bind", help="address to listen on (web.bind)")
@click.option("--port", type=click.IntRange(1, 65535), help="port (web.port)")
@click.pass_obj
def serve(obj: Context, bind, port) -> None:
    """Serve the web UI and API with waitress."""
    from waitress import serve as waitress_serve

    from island_ssh_web import create_app
    app = create_app(obj.settings)
    web = obj.settings.web
    waitress_serve(app, host=bind or web.bind, port=port or web.port, threads=web.threads)


from island_ssh.service.doctor import doctor  # noqa: E402

main.add_command(doctor)


if __name__ == "__main__":
    main()
