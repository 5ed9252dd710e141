"""``island-ssh audit`` and ``island-ssh quota`` (issue 14), with ``--json``. MySQL only: they
work while the master is down.

    island-ssh audit                          # the latest 200 entries, newest first
    island-ssh audit --island 12 --action delete --since 7d
    island-ssh audit --actor u-1001           # what a user did (or: --actor recover / tracker / operator)
    island-ssh audit --who-deleted 12         # "island 12 (generation 3) was deleted by 王伟 (u-1001) at ..."
    island-ssh quota u-1001                   # "王伟 has 2 of 3 islands (3Gi of 6Gi)"; --group qa for a member's

The CLI is the operator's: it reads every entry and any user's quota.
"""

from __future__ import annotations

import click

from island_ssh.cli.main import Context
from island_ssh.cli.output import dumps, safe


def _audit_log(obj: Context):
    from island_ssh.service.audit import AuditLog
    return AuditLog(obj.records().store)


@click.command()
@click.option("--island", "island", help="one island's entries (its id)")
@click.option("--actor", help="a user id, or recover / tracker / operator / lease-reaper / idle-reaper / pod")
@click.option("--action", help="launch, delete, restart, register, clock, extend, expire, failed, lost, "
                               "quota-refused, recover-<kind>, ...")
@click.option("--since", help="an ISO time (2026-12-03T11:00:00Z; no offset = UTC) or a span back: 90m, 2h, 7d")
@click.option("--limit", default="200", show_default=True, help="entries at most (1 to 1000)")
@click.option("--who-deleted", "who_deleted", metavar="ISLAND",
              help="one line: who (or which job) deleted the island, and when")
@click.option("--json", "as_json", is_flag=True, help="print JSON (keys stable for scripts)")
@click.pass_obj
def audit(obj: Context, island, actor, action, since, limit, who_deleted, as_json) -> None:
    """Who did what to which island: people (id and name), the operator, or the automatic jobs."""
    log = _audit_log(obj)
    if who_deleted is not None:
        from island_ssh.core.audit import parse_island
        island_id = parse_island(who_deleted)
        if island_id is None:
            raise click.BadParameter("an island id", param_hint="--who-deleted")
        entry, line = log.who_deleted(island_id)
        if as_json:
            click.echo(dumps({"island_id": island_id, "who_deleted": line,
                              "deleted_by": entry.as_dict() if entry is not None else None}))
        else:
            click.echo(safe(line))
        return
    entries = log.search(None, island=island, actor=actor, action=action, since=since, limit=limit)
    if as_json:
        click.echo(dumps({"entries": entries}))
        return
    if not entries:
        click.echo("no audit entries match")
        return
    for e in entries:
        where = f"island {e['island_id']}" + (f" gen {e['generation']}" if e["generation"] is not None else "") \
            if e["island_id"] is not None else "-"
        detail = f": {e['detail']}" if e["detail"] else ""
        click.echo(safe(f"{e['at']}  {e['action']:<14} {where:<18} by {e['actor']['label']}{detail}"))


@click.command()
@click.argument("user", required=False)
@click.option("--group", "groups", multiple=True, help="count the user as a member of this group (quotas.groups); "
                                                       "repeatable")
@click.option("--json", "as_json", is_flag=True, help="print JSON (keys stable for scripts)")
@click.pass_obj
def quota(obj: Context, user, groups, as_json) -> None:
    """A user's islands and memory against their quota (USER: their id; default: every owner
    that holds islands now)."""
    from island_ssh.core.identity import User, validate_user_id
    from island_ssh.service.quotas import QuotaService
    records = obj.records()
    quotas = QuotaService(obj.settings, records.store)
    if user is not None:
        owners = [validate_user_id(user, "USER")]
    else:
        owners = sorted({r.owner_id or r.owner for r in records.list() if r.state != "deleted"})
    names = {r.owner_id or r.owner: r.owner for r in records.list()} if owners else {}
    views = [quotas.view(o, names.get(o, o), by=User(o, names.get(o, o), groups=tuple(groups)) if groups else None)
             for o in owners]
    if as_json:
        click.echo(dumps({"enabled": quotas.configured, "quotas": [v.as_dict() for v in views]}))
        return
    if not quotas.configured:
        click.echo("no quotas configured (quotas.* in the config): every launch is allowed")
    if not views:
        click.echo("nobody holds islands now")
    for v in views:
        click.echo(safe(f"{v.line()}  [{v.limits.source}]"))


COMMANDS = (audit, quota)
