"""``island-ssh extend`` and ``island-ssh leases``: island leases (issue 14), with ``--json``.

    island-ssh extend 12 +4h     # 4 h added to island 12's end
    island-ssh extend 12 8h      # island 12 ends 8 h from now
    island-ssh leases            # every live island's end and time left, soonest first
    island-ssh leases --reap     # one lease reaper pass now: warnings due, expired islands deleted

Never further ahead than islands.lease_max from now; a refusal (exit 2) says when the asked lease
would end, where the maximum is and how much is still allowed. The CLI acts as the operator.
"""

from __future__ import annotations

import re

import click

from island_ssh.cli.main import Context
from island_ssh.cli.output import dumps, island_json, safe


def _ends(row) -> str:
    end = row.lease_expires_at
    return end.strftime("%Y-%m-%d %H:%M:%S UTC") if end is not None else "-"


class NegativeWordsCommand(click.Command):
    """'-1h' is a lease to refuse in words, not the options -1 and -h (help): such words are
    moved after '--', where click takes them as arguments."""

    def parse_args(self, ctx, args):
        if "--" not in args:
            dashed = [a for a in args if re.match(r"^-+[0-9.+]", a)]
            if dashed:
                args = [a for a in args if a not in dashed] + ["--"] + dashed
        return super().parse_args(ctx, args)


@click.command(cls=NegativeWordsCommand)
@click.argument("island_id", type=click.IntRange(min=0))
@click.argument("lease")
@click.option("--json", "as_json", is_flag=True, help="print the island as JSON (its lease included)")
@click.pass_obj
def extend(obj: Context, island_id: int, lease: str, as_json: bool) -> None:
    """Extend an island's lease: '+4h' adds to its end, '8h' makes it end 8 h from now."""
    service = obj.runtime().service
    row = service.leases.extend(island_id, lease)
    if as_json:
        click.echo(dumps(island_json(row)))
        return
    click.echo(f"island {island_id}: lease ends {_ends(row)} ({service.leases.time_left(row)} left)")


@click.command()
@click.option("--reap", is_flag=True, help="run one lease reaper pass now (warn, then delete what expired)")
@click.option("--json", "as_json", is_flag=True, help="print JSON (keys stable for scripts)")
@click.pass_obj
def leases(obj: Context, reap: bool, as_json: bool) -> None:
    """Every live island's lease end and time left, soonest first; --reap acts on them."""
    from island_ssh.service.leases import LeaseReaper

    service = obj.runtime().service
    done = LeaseReaper(service, interval=0).run_pass() if reap else None
    rows = sorted((r for r in service.list() if r.state != "deleted"),
                  key=lambda r: (r.lease_expires_at is None, r.lease_expires_at or 0, r.island_id))
    if as_json:
        body = {"policy": service.leases.policy_json(),
                "islands": [{"id": r.island_id, "owner": r.owner, "owner_id": r.owner_id, "state": r.state,
                             "lease": service.leases.lease_json(r)} for r in rows]}
        if reap:
            body["reap"] = done.as_dict() if done is not None else {"another_running": True}
        click.echo(dumps(body))
        return
    if reap:
        if done is None:
            click.echo("another lease reaper pass is running; this one did nothing")
        else:
            click.echo(f"reaped: {len(done.warned)} warned, {len(done.expired)} expired, "
                       f"{len(done.failed)} failed, {done.given_default} given the default lease")
            for island_id, why in done.failed.items():
                click.echo(f"  island {island_id}: {safe(why)}")
    policy = service.leases.policy_json()
    click.echo(f"leases: default {policy['default']}, at most {policy['max']} from now, "
               f"warning {policy['warning']} before the end")
    click.echo(f"{'ID':>5}  {'STATE':<13} {'OWNER':<12} {'ENDS':<24} LEFT")
    for r in rows:
        click.echo(f"{r.island_id:>5}  {safe(r.state):<13} {safe(r.owner)[:12]:<12} {_ends(r):<24} "
                   f"{service.leases.time_left(r)}" + (" (warned)" if r.lease_warned_at else ""))


COMMANDS = (extend, leases)
