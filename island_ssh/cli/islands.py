"""The commands on islands: launch, list, show, delete, restart, logs, events (clock: clock.py).

``list``, ``show`` and ``events`` read MySQL only (they work while the master is unreachable);
the others go through the full runtime, which opens the SSH connection.
"""

from __future__ import annotations

import sys
import threading
import time

import click

from island_ssh.cli.main import EXIT_ISLAND_FAILED, Context
from island_ssh.cli.output import dumps, island_json, print_island, print_islands, safe, styled_state
from island_ssh.cli.usage import usage_for
from island_ssh.core.errors import IslandNotFound
from island_ssh.core.names import FAILED_STATES, FINAL_STATES, SERVER_CONTAINER

MAX_PAGE = 1000  # as island_ssh.service.listing.MAX_PAGE (the CLI imports the service lazily)

SPINNER = "|/-\\"


def parse_env(items) -> dict:
    extra = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--env")
        name, value = item.split("=", 1)
        extra[name] = value
    return extra


@click.command()
@click.option("--owner", required=True, help="who the island is for: the name shown (any name, 中文 too)")
@click.option("--owner-id", help="the owner's user id, what decides who may change the island "
                                 "(default: the --owner name; a cron job launching for a web user passes their id)")
@click.option("--branch", help="dev or weekly (islands.branches)")
@click.option("--start-time", default="", help="island clock at start, 'YYYY-MM-DD HH:MM:SS'")
@click.option("--memory", help="memory request, e.g. 1500Mi")
@click.option("--image", help="server image, one of islands.images (admins: islands.admin_images too)")
@click.option("--env", "env", multiple=True, help="extra environment NAME=VALUE (repeatable)")
@click.option("--lease", help="how long the island lives: 8h, 90m, 2d, 1d12h (default islands.lease_default; "
                              "at most islands.lease_max)")
@click.option("--wait/--no-wait", default=False, help="follow the island's states until ready or failed")
@click.option("--timeout", type=click.FloatRange(min=0), help="seconds to wait (default islands.ready_timeout + 30)")
@click.option("--json", "as_json", is_flag=True, help="print the island as JSON")
@click.pass_obj
def launch(obj: Context, owner, owner_id, branch, start_time, memory, image, env, lease, wait, timeout,
           as_json) -> None:
    """Launch one island (its id and ports are printed)."""
    from island_ssh.service.islands import LaunchRequest
    # the CLI is the operator's (it holds the master's key): it may choose islands.admin_images too
    request = LaunchRequest(owner=owner, branch=branch, start_time=start_time, memory=memory, image=image,
                            env=parse_env(env), is_admin=True, owner_id=owner_id, lease=lease)
    rt = obj.runtime(with_tracker=wait)
    row = rt.service.launch(request)
    if wait:
        row = follow(rt, row, timeout)  # progress goes to stderr: stdout stays clean JSON
    if as_json:
        print_island(row, True)
    else:
        print_islands([row], False)
    if row.state in FAILED_STATES:
        sys.exit(EXIT_ISLAND_FAILED)


def follow(rt, row, timeout: float | None, show: bool = True):
    """Print each state change as its own line (from the island's events) and, on a terminal, a
    live progress line, until the island is ready or has ended; returns the last row."""
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
            for ev in rt.service.events(row.island_id):
                if ev.id in printed:
                    continue
                printed.add(ev.id)
                detail = f" {safe(ev.reason)}" if ev.reason else ""
                detail += f": {safe(ev.message)}" if ev.message and ev.to_state != "ready" else ""
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


@click.command(name="list")
@click.option("--owner", help="only islands shown under this name")
@click.option("--owner-id", help="only this user id's islands")
@click.option("--branch", help="only this branch")
@click.option("--state", "states", multiple=True, help="only these states (repeatable)")
@click.option("--all", "show_all", is_flag=True, help="include deleted islands")
@click.option("--limit", type=click.IntRange(1, MAX_PAGE),
              help=f"islands per page (1-{MAX_PAGE}; default: every island on one page, or 100 with --page)")
@click.option("--page", type=click.IntRange(min=1), help="which page of --limit islands, from 1 (oldest ids first)")
@click.option("--json", "as_json", is_flag=True,
              help="print a JSON array; with --limit/--page an object: islands, total, page, pages, next_page")
@click.pass_obj
def list_cmd(obj: Context, owner, owner_id, branch, states, show_all, limit, page, as_json) -> None:
    """List islands as a table (a page of them with --limit/--page)."""
    records = obj.records()
    paged = limit is not None or page is not None
    limit = limit or (100 if paged else None)
    found = records.list_page(owner=owner, branch=branch, states=list(states) or None, owner_id=owner_id,
                              include_deleted=show_all, limit=limit, offset=((page or 1) - 1) * (limit or 0))
    branches = records.branch_versions()  # CODE column: core.code_version
    if not paged:
        print_islands(found.rows, as_json, branches=branches)
        return
    number, pages = page or 1, max(1, -(-found.total // limit))
    next_page = number + 1 if found.next_offset is not None else None
    if as_json:
        click.echo(dumps({"islands": [island_json(r, branches) for r in found.rows], "total": found.total,
                          "limit": limit, "offset": found.offset, "page": number, "pages": pages,
                          "next_page": next_page}))
        return
    print_islands(found.rows, False, branches=branches)
    first = found.offset + 1 if found.rows else 0
    click.echo(f"islands {first}-{found.offset + len(found.rows)} of {found.total} (page {number} of {pages}"
               + (f"; next: --page {next_page}" if next_page else "") + ")")


def get_island(obj: Context, island_id: int):
    row = obj.records().find(island_id)
    if row is None:
        raise IslandNotFound(f"no island {island_id}; `island-ssh list` shows the islands", island_id=island_id)
    return row


@click.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show(obj: Context, island_id: int, as_json: bool) -> None:
    """Show one island."""
    row = get_island(obj, island_id)
    data = island_json(row)
    data["usage"] = usage_for(obj, row)  # cli/usage.py: memory/cpu against the limit (metrics.k8s.io)
    if as_json:
        click.echo(dumps(data))
        return
    for k, v in data.items():
        v = v["text"] if k == "usage" else v
        click.echo(f"{k:>11}: {styled_state(safe(v)) if k == 'state' else safe(v)}")


@click.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--wait", is_flag=True, help="wait until the pod is gone and the id free")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def delete(obj: Context, island_id: int, wait: bool, as_json: bool) -> None:
    """Delete an island (its id and ports come free once the pod is gone)."""
    print_island(obj.runtime(with_tracker=wait).service.delete(island_id, wait=wait), as_json)


@click.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def restart(obj: Context, island_id: int, as_json: bool) -> None:
    """Restart an island: same id and ports, a new pod."""
    print_island(obj.runtime().service.restart(island_id), as_json)


@click.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--tail", type=click.IntRange(min=0), default=200, show_default=True, help="lines from the end")
@click.option("-f", "--follow", "follow_log", is_flag=True, help="keep printing new lines until Ctrl-C")
@click.option("-c", "--container", default=SERVER_CONTAINER, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object (not with -f): logs, truncated, limit_bytes, note")
@click.pass_obj
def logs(obj: Context, island_id: int, tail: int, follow_log: bool, container: str, as_json: bool) -> None:
    """Show an island's server log (at most islands.log_limit_bytes; a note on stderr says when it was cut)."""
    if as_json and follow_log:
        raise click.UsageError("--json prints one object; it cannot follow (-f)")
    service = obj.runtime().service
    if not follow_log:
        read = service.read_logs(island_id, tail=tail, container=container)
        if as_json:
            click.echo(dumps({"island_id": island_id, "container": container, "tail": tail, "logs": read.text,
                              "truncated": read.truncated, "limit_bytes": read.limit_bytes, "note": read.note(tail)}))
            return
        click.echo(safe(read.text, multiline=True), nl=False)
        if read.truncated:
            click.echo(f"island-ssh: {read.note(tail)}", err=True)
        return
    for line in service.follow_logs(island_id, tail=tail, container=container):
        click.echo(safe(line, multiline=True))


@click.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def events(obj: Context, island_id: int, as_json: bool) -> None:
    """Show an island's state transitions (its current generation)."""
    row = get_island(obj, island_id)
    evs = obj.records().events(island_id, generation=row.generation)
    if as_json:
        click.echo(dumps([{"at": e.at.isoformat(), "from": e.from_state, "to": e.to_state, "reason": e.reason,
                           "message": e.message} for e in evs]))
        return
    for e in evs:
        click.echo(f"{e.at:%Y-%m-%d %H:%M:%S}  {safe(e.from_state or '-'):>13} -> "
                   f"{styled_state(safe(e.to_state), 13)} {safe(e.reason)} {safe(e.message)}".rstrip())


COMMANDS = (launch, list_cmd, show, delete, restart, logs, events)  # clock: cli/clock.py
