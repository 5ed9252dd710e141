"""cli.output.safe: what the CLI prints from outside shows control characters as text, never
sends them (issue 11, hole 8). The through-the-product test is test_cli_trust.py."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from island_ssh.cli.main import error_line
from island_ssh.cli.output import dumps, print_island, print_islands, safe

TITLE, CLEAR = "\x1b]0;pwned\x07", "\x1b[2J"


@pytest.mark.parametrize("char", [chr(c) for c in [*range(0x00, 0x09), *range(0x0b, 0x20), 0x7f,
                                                     *range(0x80, 0xa0), 0x202e, 0x2066]])
def test_every_control_character_is_shown_not_sent(char):
    for multiline in (False, True):
        shown = safe(f"a{char}b", multiline=multiline)
        assert char not in shown and shown.startswith("a\\") and shown.endswith("b")


def test_newlines_and_tabs_are_kept_in_logs_only():
    assert safe("l1\n\tl2", multiline=True) == "l1\n\tl2"
    assert safe("l1\n\tl2") == "l1\\x0a\\x09l2"
    assert safe(f"{TITLE}{CLEAR}岛") == "\\x1b]0;pwned\\x07\\x1b[2J岛"
    assert safe(None) == ""


def test_json_stays_exact_and_carries_no_raw_control():
    value = {"message": f"{TITLE}{CLEAR}\x9b\x7f\u202e岛\n", "n": 1}
    text = dumps(value)
    assert json.loads(text) == value
    assert not any(ch in text for ch in "\x1b\x07\x9b\x7f\u202e")


def row(**changes):
    base = dict(island_id=7, pod_name="altraserver-x-dev-7", owner=f"eve{CLEAR}", branch="dev", state="failed",
                reason=f"Error{TITLE}", message=f"m{CLEAR}", node=f"node{TITLE}", host_ip="127.0.0.11",
                ports=(30021, 30022, 30023), clock_setting=None, generation=1, created_at=datetime(2026, 1, 1))
    base.update(changes)
    return type("Row", (), base)()


def test_tables_and_error_lines_escape(capsys):
    print_islands([row()], False)
    print_island(row(), False)
    error_line(f"kubectl: container {TITLE} is not valid\r\nerror: fake")
    out, err = capsys.readouterr()
    assert "\x1b" not in out and "\x07" not in out and "\x1b" not in err and "\r" not in err
    assert "Error\\x1b]0;pwned\\x07" in out and "eve\\x1b[" in out
    assert err.count("\n") == 1 and "container \\x1b]0;pwned\\x07 is not valid" in err

