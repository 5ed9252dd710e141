"""The operators' commands that act on the whole installation: migrate, recover, serve.

Run by hand at install and upgrade (``migrate``), from cron (``recover``) or by the process
manager (``serve``), rather than on one island.
"""

from __future__ import annotations

import sys

import click

from island_ssh.cli.main import EXIT_RECOVER_FAILED, Context
from island_ssh.cli.output import dumps, safe


@click.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Create or upgrade the database schema."""
    done = obj.records().migrate_schema()
    click.echo(f"schema at version {done.after} (was {done.before}; applied {done.applied})")


@click.command()
@click.option("--dry-run", is_flag=True, help="plan and print, change nothing")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.pass_obj
def recover(obj: Context, dry_run: bool, as_json: bool) -> None:
    """Make MySQL and the cluster agree (run from cron; one run at a time)."""
    from island_ssh.service.recovery import check_recover_settings, recover as run_recover
    check_recover_settings(obj.settings)  # a bad recover section exits 3 before anything connects
    report = run_recover(obj.runtime(), dry_run=dry_run)
    if as_json:
        click.echo(dumps(report.as_dict()))
    else:
        for line in report.summary_lines():
            click.echo(safe(line))  # pod names and kubectl's words come from the cluster
    if report.failed:
        sys.exit(EXIT_RECOVER_FAILED)


@click.command()
@click.option("--bind", help="address to listen on (web.bind)")
@click.option("--port", type=click.IntRange(1, 65535), help="port (web.port)")
@click.pass_obj
def serve(obj: Context, bind, port) -> None:
    """Serve the web UI and API with waitress (limits from the web section: body size, idle
    timeout, connections)."""
    from island_ssh_web import create_app
    from island_ssh_web.serving import serve as serve_app
    app = create_app(obj.settings)
    serve_app(app, obj.settings.web, host=bind, port=port)


COMMANDS = (migrate, recover, serve)
