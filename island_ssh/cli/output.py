"""How the command line prints islands: the table, one-line states, and the ``--json`` shapes.

Kept apart from the commands so every command prints an island the same way; the JSON keys are
stable for scripts. Colour only on a terminal (click.echo drops it when the stream is not one).
"""

from __future__ import annotations

import json

import click

STATE_COLOURS = {"ready": "green", "failed": "red", "unschedulable": "red", "timeout": "red", "lost": "yellow",
                 "deleted": "bright_black"}


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
