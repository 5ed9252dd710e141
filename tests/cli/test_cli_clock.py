"""`island-ssh clock` as operators run it (real `.venv/bin/island-ssh` processes): every form, with
--json, against one island on the whole product (island_env: the cluster sandbox, real kubectl,
real libfaketime, the island's server a real process whose own `time` answer is checked), and
the refusals: one `error:` line and the family's exit code."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from fixtures.island import ask_time
from island_ssh.testing.waiting import wait_for
from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.service.islands import LaunchRequest

from .helpers import cli, one_error_line
from service.recovery_helpers import write_config

HOSTILE = ["$(id)", "`id`", "a'b\"c", "x\ny", "k: [v", "刘电波", "x" * 5000, "1969-12-31 23:59:59",
           "2038-01-19 03:14:08", "9999-01-01 00:00:00"]


# -- refused before anything connects (the database in this config is a closed port) -------------------
@pytest.fixture(scope="module")
def offline_config(tmp_path_factory):
    settings = load_settings(DEFAULT_CONFIG, environ={})
    return write_config(settings, tmp_path_factory.mktemp("clock-offline") / "island.yaml",
                        database={"host": "127.0.0.1", "port": 9, "connect_timeout": 1})


@pytest.mark.parametrize("args", [
    ("abc", "reset"), ("-1", "reset"), ("99999999999", "reset"), (), ("12",), ("12", "freeze", "--show"),
    ("12", "--show", "--history"), ("12", "--preset", "daily-reset", "+1h"), ("12", "speed", "fast"),
    ("12", "speed", "$(id)"), ("12", "speed", "nan"), ("presets", "--show"), ("12", "--timeline", "x", "--history")])
def test_malformed_commands_are_one_line_and_exit_2_without_connecting(offline_config, args):
    result = cli(offline_config, "clock", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "usage" in one_error_line(result) or "speed" in result.stderr
    assert result.stdout == ""


def test_a_negative_shift_is_a_shift_not_an_option(offline_config):
    # reaches the database (exit 7 here): `-1h` was taken as the clock text, not as -1 -h (help)
    result = cli(offline_config, "clock", "12", "-1h")
    assert result.returncode == 7 and "Usage" not in result.stdout, (result.stdout, result.stderr)
    one_error_line(result)


# -- on the whole product ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def config(island_env, tmp_path_factory):
    return write_config(island_env.settings, tmp_path_factory.mktemp("clock-cli") / "island.yaml")


@pytest.fixture(scope="module")
def island(island_env):
    row = island_env.service.launch(LaunchRequest(owner="刘电波", owner_id="u-1001", branch="dev"))
    row = island_env.wait_state(row.island_id, ("ready", "failed", "timeout"), timeout=90)
    assert row.state == "ready", row
    yield row
    island_env.cleanup()


def reads(row) -> dt.datetime:
    return dt.datetime.fromisoformat(ask_time(row.host_ip, row.ports[2])["now"])


def eventually(row, predicate, seconds: float = 5.0) -> None:
    """What the island's own server reads satisfies ``predicate`` within ``seconds``: libfaketime
    in the running server re-reads the clock file within the cache duration + 1 s of a change."""
    wait_for(lambda: predicate(reads(row)), seconds, f"island {row.island_id}'s server to read the new time")


def ok_json(config, *args):
    result = cli(config, "clock", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_every_clock_form_as_the_island_reads_it(config, island, island_env):
    i = str(island.island_id)
    cache = island_env.settings.islands.faketime_cache_duration
    presets = ok_json(config, "presets")["presets"]
    assert {p["name"] for p in presets} >= {"daily-reset", "weekly-reset"}
    listed = cli(config, "clock", "presets")
    assert listed.returncode == 0 and "daily-reset" in listed.stdout

    # an absolute time, in text: the first line as before, then what the island reads, then the proof
    result = cli(config, "clock", i, "2021-09-18 04:59:50")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"island {i}: clock 2021-09-18 04:59:50"
    assert any(line.strip().startswith("reads 2021-09-18 04:59:5") for line in lines), lines
    eventually(island, lambda now: abs((now - dt.datetime(2021, 9, 18, 4, 59, 50)).total_seconds()) < 5)

    shifted = ok_json(config, i, "+1h")
    assert shifted["setting"] == "+1h" and abs(shifted["proof"]["diff"]) < 1.5
    eventually(island, lambda now: -3 < (now - dt.datetime(2021, 9, 18, 5, 59, 50)).total_seconds() < 60)  # + 1 h
    back = ok_json(config, i, "-30m")
    assert back["setting"] == "-30m"

    preset = ok_json(config, i, "--preset", "daily-reset")
    assert preset["setting"] == "preset daily-reset" and preset["proof_line"].startswith("reads ")
    eventually(island, lambda now: (now.hour, now.minute) in ((4, 59), (5, 0)))

    frozen = ok_json(config, i, "freeze")
    assert frozen["frozen"] is True and frozen["badge"] == "frozen"
    changed_at = time.monotonic()  # the server re-reads its clock file once per cache duration
    wait_for(lambda: time.monotonic() > changed_at + cache + 1.2, cache + 5, "the cache duration + 1 s to pass")
    first = reads(island)
    shown = ok_json(config, i, "--show")  # a second process later: still the same second
    assert shown["frozen"] is True and abs((reads(island) - first).total_seconds()) < 0.5

    fast = ok_json(config, i, "speed", "x10")  # sticks, and a frozen clock stays frozen
    assert fast["rate"] == 10 and fast["frozen"] is True
    resumed = ok_json(config, i, "resume")
    assert resumed["frozen"] is False and resumed["badge"] == "x10"
    reset = ok_json(config, i, "reset")
    assert reset["setting"] == "reset"
    eventually(island, lambda now: abs((now - dt.datetime.now()).total_seconds()) < 3)

    history = ok_json(config, i, "--history")["history"]
    assert [h["text"] for h in history[:3]] == ["reset", "resume", "speed x10"]
    text = cli(config, "clock", i, "--history", "--limit", "2")
    assert text.returncode == 0 and len(text.stdout.splitlines()) == 2


@pytest.mark.slow
def test_a_timeline_started_and_cancelled(config, island):
    i = str(island.island_id)
    timeline = ok_json(config, i, "--timeline", 'at +0 set "2021-09-18 04:59:50"; at +1h reset')
    assert timeline["state"] == "active" and len(timeline["steps"]) == 2
    eventually(island, lambda now: abs((now - dt.datetime(2021, 9, 18, 4, 59, 50)).total_seconds()) < 5)  # step 1
    listed = ok_json(config, i, "--timelines")["timelines"]
    assert listed[0]["id"] == timeline["id"]
    refused = cli(config, "clock", i, "--cancel-timeline", str(timeline["id"]), "--as", "bob")
    assert refused.returncode == 5 and "刘电波" in one_error_line(refused)
    cancelled = ok_json(config, i, "--cancel-timeline", str(timeline["id"]))
    assert cancelled["state"] == "cancelled"
    text = cli(config, "clock", i, "--timelines")
    assert text.returncode == 0 and f"timeline {timeline['id']} cancelled" in text.stdout
    ok_json(config, i, "reset")


@pytest.mark.slow
@pytest.mark.parametrize("form", ["text", "preset", "timeline"])
def test_hostile_values_are_refused_in_one_line(config, island, form):
    i = str(island.island_id)
    for value in HOSTILE:
        args = {"text": (i, value), "preset": (i, "--preset", value),
                "timeline": (i, "--timeline", f"at +0 set \"{value}\"")}[form]
        result = cli(config, "clock", *args)
        assert result.returncode == 2, (value, result.stdout, result.stderr)
        line = one_error_line(result)
        assert "x" * 200 not in line and "\x1b" not in line
    assert reads(island).year >= 2026  # nothing moved the clock


@pytest.mark.slow
def test_another_tester_may_not_and_unknown_islands_are_4(config, island):
    i = str(island.island_id)
    for args in ((i, "+1h"), (i, "--preset", "daily-reset"), (i, "freeze"), (i, "--timeline", "at +1h reset")):
        result = cli(config, "clock", *args, "--as", "bob")
        assert result.returncode == 5, (args, result.stderr)
        assert "刘电波" in one_error_line(result)
    owner = cli(config, "clock", i, "+0", "--as", "u-1001", "--json")
    assert owner.returncode == 0, owner.stderr
    missing = cli(config, "clock", "899", "--show")
    assert missing.returncode == 4 and "899" in one_error_line(missing)
