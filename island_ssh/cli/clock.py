"""``island-ssh clock``: an island's clock (issue 13), every form with ``--json``.

    island-ssh clock 12 "2021-09-18 04:59:50"     # the island reads that now
    island-ssh clock 12 +1h | -30m | reset | freeze | resume | speed x10
    island-ssh clock 12 --preset daily-reset
    island-ssh clock 12 --show | --history | --timelines
    island-ssh clock 12 --timeline 'at +0 set "2021-09-18 04:59:50"; at +2m preset weekly-reset'
    island-ssh clock 12 --cancel-timeline 3
    island-ssh clock presets

The operator's CLI acts without an owner check; ``--as USER_ID`` acts as that user (the web's
rule: only the island's owner may change it, exit 5 otherwise). Every refusal is one line and the
family's exit code (2 for input, 4 no such island, 5 permission, ...).
"""

from __future__ import annotations

import re
import time

import click

from island_ssh.cli.main import Context
from island_ssh.cli.output import dumps, safe
from island_ssh.core.clock_view import (change_text, clock_json, history_json, presets_json, speed_text,
                                        timeline_json)
from island_ssh.core.errors import InvalidInput

USAGE = ("island-ssh clock ID 'YYYY-MM-DD HH:MM:SS' | +1h | -30m | reset | freeze | resume | speed x10, "
         "or ID --preset NAME | --show | --history | --timelines | --timeline STEPS | --cancel-timeline N, "
         "or clock presets")
MAX_ID_DIGITS = 9
NEGATIVE = "\0-"
NEGATIVE_SHIFT = re.compile(r"-[0-9]")


def _island_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
        raise InvalidInput(f"clock: {safe(text)[:40]!r} is not an island id; usage: {USAGE}")
    return int(text)


def command_text(words: tuple[str, ...]) -> str:
    """The words after the id as the service's clock text: `speed x10`, `freeze`, `+1h`, a date."""
    if len(words) == 2 and words[0].lower() == "speed":
        return "speed " + speed_text(words[1])
    if len(words) == 2 and words[0].lower() == "preset":
        return change_text({"preset": words[1]})
    return change_text({"clock": " ".join(words)})


def acting(as_user: str | None):
    if as_user is None:
        return None  # the operator
    from island_ssh.core.identity import User, validate_user_id
    user_id = validate_user_id(as_user)
    return User(id=user_id, name=user_id)


def print_view(data: dict, as_json: bool) -> None:
    if as_json:
        click.echo(dumps(data))
        return
    extra = " · frozen" if data.get("frozen") else (f" · speed x{data['rate']:g}" if data.get("rate", 1) != 1 else "")
    click.echo(f"island {data.get('island_id')}: clock {safe(data.get('setting') or 'real time')}{extra}")
    if data.get("island_time"):
        click.echo(f"  now reads {safe(data['island_time'])} {safe(data.get('timezone', ''))} "
                   f"(offset {data.get('offset_seconds', 0):+.0f} s)")
    click.echo(f"  {safe(data.get('proof_line') or 'not read back yet')}")
    for t in data.get("timelines") or []:
        click.echo(f"  timeline {t.get('id')} {safe(t.get('state', ''))}: {safe(t.get('text', ''))}")


def history_line(e: dict) -> str:
    verdict = "" if e.get("ok") in (None, True, 1) else f"  did not take: {e.get('error') or ''}"
    diff = f"  read-back {e['diff_seconds']:+.2f} s" if isinstance(e.get("diff_seconds"), (int, float)) else ""
    read = f"  reads {e['read']}" if e.get("read") else ""
    return (f"{safe(e.get('at'))}  {safe(e.get('who'))[:32]:<32} {safe(e.get('source', '')):<9} "
            f"{safe(e.get('text'))}{safe(read)}{diff}{safe(verdict)}")


class ClockCommand(click.Command):
    """Takes a negative shift (`clock 12 -1h`) as words, not as options (-1, -h = help)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # "\0" cannot be in a real argument (argv is C strings): the word is restored below
        return super().parse_args(ctx, [NEGATIVE + a[1:] if NEGATIVE_SHIFT.match(a) else a for a in args])


@click.command(cls=ClockCommand, context_settings={"ignore_unknown_options": True})
@click.argument("words", nargs=-1, type=click.UNPROCESSED)
@click.option("--preset", help="a preset of clock.presets (`island-ssh clock presets` lists them)")
@click.option("--show", is_flag=True, help="the island's clock, and the proof of what it last read")
@click.option("--history", is_flag=True, help="the island's clock changes, newest first, with who made them")
@click.option("--timelines", "list_timelines", is_flag=True, help="the island's timelines")
@click.option("--timeline", "timeline", help="start a timeline: 'at +0 preset daily-reset; at +2m reset'")
@click.option("--cancel-timeline", "cancel", type=click.IntRange(min=0), help="cancel the island's timeline N")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="--history entries")
@click.option("--as", "as_user", help="act as this user id (the owner check applies, as on the web)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_obj
def clock(obj: Context, words, preset, show, history, list_timelines, timeline, cancel, limit, as_user,
          as_json) -> None:
    """Set, freeze, speed up, show or script an island's clock; `clock presets` lists the presets.

    ID 'YYYY-MM-DD HH:MM:SS' (the island reads that now, studio timezone), ID +1h / -30m (shift),
    ID reset | freeze | resume | speed x10, ID --preset NAME; --show, --history, --timelines,
    --timeline STEPS, --cancel-timeline N."""
    words = tuple("-" + w[len(NEGATIVE):] if w.startswith(NEGATIVE) else w for w in words)
    if words == ("presets",):
        if preset or show or history or list_timelines or timeline is not None or cancel is not None:
            raise InvalidInput("clock presets takes no other option; usage: " + USAGE)
        data = presets_json(obj.settings.clock.presets)  # the configuration's: nothing to connect to
        if as_json:
            click.echo(dumps(data))
            return
        if not data["presets"]:
            click.echo("no presets: add some under clock.presets in the configuration")
        for p in data["presets"]:
            click.echo(f"{safe(p['name']):<20} {safe(p['spec'])}")
        return
    if not words:
        raise InvalidInput("clock: which island? usage: " + USAGE)
    island_id = _island_id(words[0])
    rest = words[1:]
    chosen = [name for name, on in (("a clock text", bool(rest)), ("--preset", preset is not None),
                                    ("--show", show), ("--history", history), ("--timelines", list_timelines),
                                    ("--timeline", timeline is not None), ("--cancel-timeline", cancel is not None))
              if on]
    if len(chosen) != 1:
        what = " and ".join(chosen) if chosen else "nothing"
        raise InvalidInput(f"clock {island_id}: one thing at a time (got {what}); usage: {USAGE}")
    user = acting(as_user)
    text = None
    if rest or preset is not None:  # refused before anything connects
        text = change_text({"preset": preset}) if preset is not None else command_text(rest)
    service = obj.runtime().service
    clocks = service.clocks
    if show:
        row = service.get(island_id)
        print_view(clock_json(clocks.state(island_id), time.time(), row), as_json)
    elif history:
        service.get(island_id)
        data = history_json(island_id, clocks.history(island_id, limit=limit))
        if as_json:
            click.echo(dumps(data))
            return
        if not data["history"]:
            click.echo(f"island {island_id}: no clock changes yet")
        for e in data["history"]:
            click.echo(history_line(e))
    elif list_timelines:
        service.get(island_id)
        items = [timeline_json(t) for t in clocks.timelines(island_id)]
        if as_json:
            click.echo(dumps({"island_id": island_id, "timelines": items}))
            return
        if not items:
            click.echo(f"island {island_id}: no timelines")
        for t in items:
            click.echo(f"timeline {t.get('id')} {safe(t.get('state', ''))} by {safe(t.get('who', ''))}: "
                       f"{safe(t.get('text', ''))}")
    elif timeline is not None:
        t = timeline_json(clocks.start_timeline(island_id, timeline, user=user))
        if as_json:
            click.echo(dumps(t))
        else:
            click.echo(f"island {island_id}: timeline {t.get('id')} started, {len(t.get('steps') or [])} steps; "
                       f"cancel with: island-ssh clock {island_id} --cancel-timeline {t.get('id')}")
    elif cancel is not None:
        t = timeline_json(clocks.cancel_timeline(island_id, cancel, user=user))
        if as_json:
            click.echo(dumps(t))
        else:
            click.echo(f"island {island_id}: timeline {t.get('id')} {safe(t.get('state') or 'cancelled')}")
    else:
        view = clocks.change(island_id, text, user=user)
        print_view(clock_json(view, time.time(), service.get(island_id)), as_json)


COMMANDS = (clock,)
