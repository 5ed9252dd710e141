"""``island-ssh top``: every island's memory and cpu against its limit (issue 15), with ``--json``.

    island-ssh top           # ID STATE OWNER MEMORY LIMIT % CPU, past islands.memory_warning flagged
    island-ssh top 3 5       # only those islands (whatever their state; as GET /api/usage?ids=3,5)
    island-ssh top --json    # what GET /api/usage returns
    island-ssh show 12       # includes the island's usage line (``usage`` in --json)

One `kubectl get --raw` of metrics.k8s.io for all islands (service/usage.py). Without
metrics-server: "not available" and the reason, exit 0: resource use is a view, never an error.
"""

from __future__ import annotations

import click

from island_ssh.cli.main import Context
from island_ssh.cli.output import dumps, safe
from island_ssh.core import usage as core


def usage_for(obj: Context, row) -> dict:
    """One island's usage for `show`: only a running server costs a poll (an SSH connection)."""
    if row.state not in core.RUNNING_STATES:
        islands = obj.settings.islands
        return core.island_usage(row, core.Snapshot(True), islands.memory_limit,
                                 core.check_warning_fraction(islands.memory_warning))
    return obj.runtime().service.usage.usage(row.island_id, row=row)


@click.command()
@click.argument("island_ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "show_all", is_flag=True, help="also islands whose server is not running")
@click.option("--json", "as_json", is_flag=True, help="print JSON (as GET /api/usage, with ids: ?ids=)")
@click.pass_obj
def top(obj: Context, island_ids: tuple[str, ...], show_all: bool, as_json: bool) -> None:
    """Memory and cpu of each island's server against its memory limit (kubectl top, one call).
    With ids, only those islands (absent or deleted ones are left out)."""
    from island_ssh.service.usage import live_rows, parse_island_ids
    ids = parse_island_ids(island_ids, "ID") if island_ids else None  # refused before any connection
    service = obj.runtime().service
    rows = live_rows(service, ids)
    listing = service.usage.usage_all(rows=rows)
    if as_json:
        click.echo(dumps(listing))
        return
    if not listing["available"]:
        click.echo(safe(f"usage not available: {listing['reason']}"))
    # islands asked for by id are shown whatever their state: the operator named them
    items = [u for u in listing["islands"]
             if show_all or ids or u["state"] in core.RUNNING_STATES or u["oom_killed"]]
    if not items:
        click.echo("no such islands" if ids else "no running islands")
        return
    owners = {r.island_id: r.owner for r in rows}
    click.echo(f"{'ID':>5}  {'STATE':<10} {'OWNER':<12} {'MEMORY':>8} {'LIMIT':>7} {'%':>4} {'CPU':>6}  NOTE")
    for u in items:
        note = []
        if u["warning"]:
            note.append(f"over {round(u['warning_fraction'] * 100)}% of the limit")
        if u["oom_killed"]:
            note.append(u["oom_killed"]["text"])
        if not u["available"] and listing["available"]:
            note.append(u["reason"])
        percent = f"{u['memory_percent']}%" if u["memory_percent"] is not None else "-"
        click.echo(f"{u['id']:>5}  {u['state']:<10} {safe(owners.get(u['id'], ''))[:12]:<12} "
                   f"{u['memory'] or '-':>8} {u['memory_limit']:>7} {percent:>4} {u['cpu'] or '-':>6}  "
                   f"{safe('; '.join(note))}")
    warned = listing["warnings"]
    click.echo(f"{len(warned)} island(s) past {round(listing['warning_fraction'] * 100)}% of their memory limit"
               + (f": {', '.join(map(str, warned))}" if warned else ""))


COMMANDS = (top,)
