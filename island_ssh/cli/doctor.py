"""``island-ssh doctor``: print the checks of ``island_ssh.service.doctor``, one line each, as they finish.

The checks live in the service layer (they build their own SSH shell, kubectl and store, one
step at a time, to say which step fails); this command only prints them and exits with the code
of the first failure.
"""

from __future__ import annotations

import sys

import click

from island_ssh.cli.output import dumps, safe


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print the checks as JSON")
@click.pass_obj
def doctor(obj, as_json: bool) -> None:
    """Check the config, the master (host key, key auth, kubectl, permissions), the database, the
    registration address and the code volume; one line each."""
    from island_ssh.service.doctor import FAIL, OK, Doctor, exit_code
    doc = Doctor(obj.config_path)
    checks = []
    colours = {OK: "green", FAIL: "red"}
    try:
        for check in doc.checks():
            checks.append(check)
            if not as_json:
                # click.echo drops the colour when stdout is not a terminal
                mark = click.style(f"{check.status:<4}", fg=colours.get(check.status, "yellow"), bold=True)
                click.echo(f"{mark}  {check.name:<16} {safe(check.detail)}")  # details quote the master
    finally:
        doc.close()
    failed = [c for c in checks if c.status == FAIL]
    if as_json:
        click.echo(dumps({"ok": not failed, "checks": [c.as_dict() for c in checks]}))
    else:
        click.echo(f"{len(failed)} of {len(checks)} checks failed" if failed else f"all {len(checks)} checks passed")
    sys.exit(exit_code(checks))
