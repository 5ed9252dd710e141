"""How the command line prints islands: the table, one-line states, and the ``--json`` shapes.

Kept apart from the commands so every command prints an island the same way; the JSON keys are
stable for scripts. Colour only on a terminal (click.echo drops it when the stream is not one).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import click

from island_ssh.core import code_version
from island_ssh.core.lease import lease_json, time_left_text

STATE_COLOURS = {"ready": "green", "failed": "red", "unschedulable": "red", "timeout": "red", "lost": "yellow",
                 "deleted": "bright_black"}


# C0 controls except \t and \n, DEL, C1 controls (U+0080..U+009F: 8-bit CSI/OSC), and the
# bidirectional overrides that make a terminal show text in another order than it is.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text, multiline: bool = False) -> str:
    """Text from outside (container logs, Kubernetes reasons and messages, owner names, kubectl's
    errors) as the terminal may show it: every control character becomes visible ``\\x1b``, so
    an ESC sequence in a log cannot retitle, clear or rewrite the operator's terminal, and a
    ``\\r`` cannot hide a line. ``multiline`` keeps newlines and tabs (logs); a field in a table
    or a one-line message escapes them too. JSON output needs none of this: json.dumps escapes
    every control character itself (U+0080..U+009F are printed as they are, inside a string)."""
    if text is None:
        return ""
    text = str(text)
    return (_CONTROL if multiline else _CONTROL_LINE).sub(_escaped, text)


_JSON_RAW = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def when_text(text: str | None) -> str:
    """An ISO timestamp from the service as the tables show it: ``YYYY-MM-DD HH:MM:SS``, or ``-``."""
    return (text or "-").replace("T", " ").replace("Z", "")[:19]


def dumps(data) -> str:
    """JSON for scripts, exact: json.dumps escapes C0 controls; DEL, C1 and the bidi overrides it
    would print raw are written as \\u escapes too (only strings can hold them, and a JSON reader
    gets the same text back), so --json output is safe on a terminal as well."""
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def island_json(row, branches=None) -> dict:
    """One island as `--json` prints it; keys are stable for scripts. ``branches``: the branches'
    current code versions (core.code_version), for the ``code_version`` verdict."""
    ports = list(row.ports)
    return {
        "id": row.island_id, "pod": row.pod_name, "owner": row.owner,
        "owner_id": row.owner_id, "branch": row.branch,
        "state": row.state, "reason": row.reason, "message": row.message, "node": row.node,
        "host_ip": row.host_ip, "ports": ports,
        "address": f"{row.host_ip}:{ports[0]}" if row.host_ip and ports else None,
        "clock": row.clock_setting, "generation": row.generation,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "lease": lease_json(getattr(row, "lease_expires_at", None), getattr(row, "lease_warned_at", None),
                            datetime.now(timezone.utc)),
        "code_version": code_version.version_json(
            getattr(row, "code_version", None), getattr(row, "code_version_at", None),
            _verdict(row, branches), code_version.iso),
    }


def _verdict(row, branches) -> code_version.Verdict:
    return code_version.judge(getattr(row, "code_version", None), row.branch, row.node,
                              (branches or {}).get(row.branch))


def code_cell(row, branches) -> str:
    """The CODE column: the version (cut to 12) and a * when its branch's code moved on."""
    text = code_version.short(getattr(row, "code_version", None)) if row.state != "deleted" else "-"
    return text + ("*" if row.state != "deleted" and _verdict(row, branches).outdated else "")


def styled_state(state: str, width: int = 0) -> str:
    # click.echo drops the colour when its stream is not a terminal
    colour = STATE_COLOURS.get(state)
    text = f"{state:<{width}}"
    return click.style(text, fg=colour) if colour else text


def print_islands(rows, as_json: bool, branches=None) -> None:
    if as_json:
        click.echo(dumps([island_json(r, branches) for r in rows]))
        return
    click.echo(f"{'ID':>5}  {'STATE':<13} {'OWNER':<12} {'BRANCH':<8} {'NODE':<14} {'ADDRESS:PORTS':<22} "
               f"{'LEFT':<8} {'CODE':<14} REASON")
    now = datetime.now(timezone.utc)
    for r in rows:
        ports = f"{r.ports[0]}-{r.ports[-1]}" if r.ports else "-"
        addr = f"{r.host_ip}:{ports}" if r.host_ip else ports
        left = "-" if r.state == "deleted" else time_left_text(getattr(r, "lease_expires_at", None), now)
        click.echo(f"{r.island_id:>5}  {styled_state(safe(r.state), 13)} {safe(r.owner)[:12]:<12} "
                   f"{safe(r.branch)[:8]:<8} {safe(r.node or '-')[:14]:<14} {safe(addr):<22} {left:<8} "
                   f"{safe(code_cell(r, branches)):<14} {safe(r.reason)}".rstrip())


def print_island(row, as_json: bool) -> None:
    if as_json:
        click.echo(dumps(island_json(row)))
    else:
        click.echo(f"island {row.island_id}: {styled_state(safe(row.state))}"
                   + (f" ({safe(row.reason)})" if row.reason and row.reason.lower() not in (row.state, "ready") else ""))
