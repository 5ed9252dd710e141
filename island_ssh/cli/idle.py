"""``island-ssh idle``: idle islands (issue 14), with ``--json``.

    island-ssh idle              # the idle islands: how long, last activity (no SSH: MySQL only)
    island-ssh idle --all        # every ready island, idle or not
    island-ssh idle --check      # run the batched check now (one SSH command per islands.idle_batch_max
                                 # pods), then list; with islands.idle_expire it also warns and deletes

What counts as activity: README "Idle islands" (core.idle): an ESTABLISHED TCP connection whose
local port is one of the island's three ports, seen in /proc/net/tcp and tcp6 inside its server
container.
"""

from __future__ import annotations

import click

from island_ssh.cli.main import Context
from island_ssh.cli.output import dumps, safe, when_text


@click.command()
@click.option("--check", "run_check", is_flag=True, help="probe every ready island now, then list")
@click.option("--all", "all_ready", is_flag=True, help="every ready island, not only the idle ones")
@click.option("--json", "as_json", is_flag=True, help="print JSON (keys stable for scripts)")
@click.pass_obj
def idle(obj: Context, run_check: bool, all_ready: bool, as_json: bool) -> None:
    """Idle islands: no established connection on their game ports for islands.idle_after."""
    service = obj.runtime().service
    report = service.idle.check_all(force=True) if run_check else None
    listing = service.idle.listing(all_ready=all_ready)
    if as_json:
        click.echo(dumps({**listing, **({"check": report.as_dict()} if report is not None else {})}))
        return
    if report is not None:
        for line in report.lines():
            click.echo(safe(line))
    if not listing["enabled"]:
        click.echo("idle detection is off (islands.idle_after: off)")
        return
    expiry = "deleted after the idle warning" if listing["expire"] else "marked only (islands.idle_expire: false)"
    click.echo(f"idle after {listing['idle_after']} without an established connection on the island's ports; "
               f"{expiry}")
    items = listing["islands"]
    if not items:
        click.echo("no idle islands" if not all_ready else "no ready islands")
        return
    click.echo(f"{'ID':>5}  {'OWNER':<12} {'PORTS':<12} {'IDLE':<12} {'LAST ACTIVITY':<20} CHECKED")
    for i in items:
        ports = f"{i['ports'][0]}-{i['ports'][-1]}" if i["ports"] else "-"
        idle_for = i["idle_text"].removeprefix("idle ") if i["idle"] else "no"
        click.echo(f"{i['id']:>5}  {safe(i['owner'])[:12]:<12} {ports:<12} {idle_for:<12} "
                   f"{when_text(i['last_activity_at']):<20} {when_text(i['activity_checked_at'])}")


COMMANDS = (idle,)
