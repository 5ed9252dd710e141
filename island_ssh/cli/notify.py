"""``island-ssh notify test|list``: call every webhook once now; show recent deliveries and failures."""

from __future__ import annotations

import sys

import click

from island_ssh.cli.main import Context
from island_ssh.cli.output import dumps, safe


@click.group()
def notify() -> None:
    """Webhook notifications (notify.webhooks in the config)."""


@notify.command("test")
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
@click.pass_obj
def test_cmd(obj: Context, as_json: bool) -> None:
    """Send a test event to every configured webhook now (no retry) and print what each answered.
    Exit 1 when one failed."""
    from island_ssh.service.notify import open_notifier
    notifier = open_notifier(obj.settings)
    try:
        results = notifier.send_test() if notifier.hooks else []
    finally:
        notifier.close()
    failed = [r for r in results if not r["ok"]]
    if as_json:
        click.echo(dumps({"ok": not failed, "results": results}))
    elif not results:
        click.echo("no webhooks configured (notify.webhooks in the config)")
    else:
        for r in results:
            mark = click.style("ok  " if r["ok"] else "FAIL", fg="green" if r["ok"] else "red", bold=True)
            said = f"answered {r['status']}" if r["ok"] else safe(r["error"])
            click.echo(f"{mark}  {safe(r['webhook']):<16} {safe(r['url'])}  {said} ({r['seconds']:.2f} s)")
    sys.exit(1 if failed else 0)


@notify.command("list")
@click.option("--failed", "only_failed", is_flag=True, help="only notifications given up")
@click.option("--webhook", default=None, help="only this webhook's")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(obj: Context, only_failed: bool, webhook: str | None, limit: int, as_json: bool) -> None:
    """The latest notifications, newest first, with their attempts and last error."""
    from island_ssh.service.notify import open_notifier
    notifier = open_notifier(obj.settings)
    try:
        view = notifier.overview(limit=limit, state="failed" if only_failed else None, webhook=webhook)
    finally:
        notifier.close()
    if as_json:
        click.echo(dumps(view))
        return
    if not view["enabled"]:
        click.echo("no webhooks configured (notify.webhooks in the config)")
        return
    for h in view["webhooks"]:
        click.echo(f"{safe(h['name']):<16} {safe(h['url'])}  delivered {h['delivered']}, failed {h['failed']}, "
                   f"pending {h['pending']}")
    for r in view["recent"]:
        island = r["island_id"] if r["island_id"] is not None else "-"
        click.echo(f"{r['created_at'][:19]}  {r['state']:<9} {safe(r['webhook']):<16} {r['event']:<16} "
                   f"island {island}  attempts {r['attempts']}  {safe(r['last_error'])}".rstrip())


COMMANDS = (notify,)
