"""``island-ssh versions``: the code each island mounted against its branch's current version (issue 15).

    island-ssh versions              # each branch's current version (per node), then every island's
    island-ssh versions 3 5          # the same with only those islands (as GET /api/branches?ids=3,5)
    island-ssh versions --check      # read the version file on every node of every branch now first
    island-ssh versions --outdated   # only the islands running older code
    island-ssh versions --json

The branches' versions are read through one running island per node (README "Code version") and
kept islands.code_version_check_interval; without --check a reading older than that is taken again
before printing (one remote command). Exit 0 whatever it finds: flagged islands are information.
"""

from __future__ import annotations

import click

from island_ssh.cli.main import Context
from island_ssh.cli.output import dumps, safe, when_text


@click.command()
@click.argument("island_ids", nargs=-1, metavar="[ID]...")
@click.option("--check", "check_now", is_flag=True, help="read every branch's version file now")
@click.option("--outdated", "only_outdated", is_flag=True, help="only the islands running older code")
@click.option("--json", "as_json", is_flag=True, help="print JSON (keys stable for scripts; as GET /api/branches)")
@click.pass_obj
def versions(obj: Context, island_ids: tuple[str, ...], check_now: bool, only_outdated: bool, as_json: bool) -> None:
    """Code versions: what each island mounted at start, and which run older code than their branch.
    With ids, only those islands (absent or deleted ones are left out); the branches stay whole."""
    from island_ssh.service.usage import parse_island_ids
    ids = parse_island_ids(island_ids, "ID") if island_ids else None  # refused before any connection
    report = obj.runtime().service.code_versions.report(refresh="force" if check_now else "auto", ids=ids)
    if only_outdated:
        report["islands"] = [i for i in report["islands"] if i["code_version"]["outdated"]]
    if as_json:
        click.echo(dumps(report))
        return
    click.echo(f"version file: {safe(report['file'])} (first line), read again every {report['check_interval']:g} s")
    for b in report["branches"]:
        click.echo(f"branch {safe(b['branch'])}: {safe(b['shown'])}")
        for n in b["nodes"]:
            extra = f" ({safe(n['error'])})" if n["error"] else ""
            click.echo(f"    {safe(n['node']):<16} {safe(n['shown']):<24} via {safe(n['pod'])}, "
                       f"{when_text(n['read_at'])}{extra}")
        if not b["nodes"]:
            click.echo("    no ready island to read it through")
    items = report["islands"]
    if not items:
        click.echo("no outdated islands" if only_outdated else "no such islands" if ids else "no islands")
        return
    click.echo(f"{'ID':>5}  {'OWNER':<12} {'BRANCH':<8} {'NODE':<14} {'CODE':<24} NOTE")
    for i in items:
        v = i["code_version"]
        click.echo(f"{i['id']:>5}  {safe(i['owner'])[:12]:<12} {safe(i['branch'])[:8]:<8} "
                   f"{safe(i['node'] or '-')[:14]:<14} {safe(v['shown'])[:24]:<24} {safe(v['note'])}".rstrip())
    click.echo(f"{report['outdated']} outdated")


COMMANDS = (versions,)
