"""``island-ssh remains ID -o FILE`` (issue 15, crash forensics): an ended island's remains as a
tar.gz, streamed to FILE (``-`` for stdout) as it is made, never held whole. The operator's
command: no owner check (as ``logs``).

    island-ssh remains 12 -o remains.tar.gz          # then: bytes, truncated, members
    island-ssh remains 12 -o remains.tar.gz --json   # the summary as JSON (manifest.json's content)

The file is written as FILE.part and renamed when complete, so a cut download never looks whole.
Exit 4 when the pod is gone (its remains went with it), 7 when the master is unreachable or every
users' read channel is busy.
"""

from __future__ import annotations

import os
import sys

import click

from island_ssh.cli.main import Context
from island_ssh.cli.output import dumps, safe


@click.command()
@click.argument("island_id", type=click.IntRange(min=0))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="the tar.gz to write (- for stdout: the summary then goes to stderr)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON (bytes, truncated, members, notes)")
@click.pass_obj
def remains(obj: Context, island_id: int, output: str, as_json: bool) -> None:
    """Download an ended island's remains: its last log lines, events, pod facts, clock, code version
    and the configured files (islands.remains_paths), as one tar.gz."""
    download = obj.runtime().service.remains.open(island_id)
    if output == "-":
        summary = download.write_to(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        part = output + ".part"
        try:
            with open(part, "wb") as out:
                summary = download.write_to(out)
            os.replace(part, output)
        except BaseException:
            try:
                os.unlink(part)
            except OSError:
                pass
            raise
    if as_json:
        click.echo(dumps({**summary, "output": output}), err=output == "-")
        return
    files = [m for m in summary["members"] if m["name"].startswith("files/") and m["kind"] == "file"]
    lines = [f"wrote {output}: {summary['bytes']} bytes, {len(summary['members'])} members "
             f"({len(files)} files, {summary['files_bytes']} bytes of them), "
             f"truncated: {'yes' if summary['truncated'] else 'no'}"]
    lines += [f"  {m['name']}  {m['size']}" for m in summary["members"]]
    lines += [f"note: {n}" for n in summary["notes"]]
    for line in lines:
        click.echo(safe(line), err=output == "-")


COMMANDS = (remains,)
