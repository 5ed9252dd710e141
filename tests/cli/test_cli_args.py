"""Argument errors, configuration errors and output shapes, through click's CliRunner (no I/O
beyond reading a config file)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from island_ssh.cli.main import exit_code_for, main
from island_ssh.core.errors import (AllocationError, CapacityError, ConfigError, InvalidInput, IslandError,
                                   IslandNotFound, KubectlError, NotFound, PermissionDenied, PodParseError,
                                   StoreError, WatchParseError)
from island_ssh.ssh import AuthError, ConnectError, HostKeyError

COMMANDS = ["clock", "delete", "demo", "doctor", "events", "launch", "list", "logs", "migrate", "recover",
            "remains", "restart", "sandbox", "serve", "show"]


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def test_help_lists_every_command_and_the_exit_codes():
    result = run("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"\n  {name} " in result.output
    assert "Exit codes:" in result.output and "7 master/database unreachable" in result.output.replace("\n  ", " ")


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name):
    result = run(name, "--help")
    assert result.exit_code == 0 and result.output.startswith(f"Usage: main {name}")


@pytest.mark.parametrize("args, says", [
    (["show", "abc"], "'abc' is not a valid integer range"),
    (["show", "-3"], "ISLAND_ID"),
    (["launch"], "Missing option '--owner'"),
    (["launch", "--owner", "x", "--env", "NOEQUALS"], "expected NAME=VALUE"),
    (["launch", "--owner", "x", "--timeout", "-1"], "--timeout"),
    (["clock", "5"], "clock 5: one thing at a time (got nothing)"),
    (["logs", "5", "--tail", "x"], "--tail"),
    (["remains", "5"], "Missing option '-o'"),
    (["list", "--bogus"], "No such option"),
    (["nosuchcommand"], "No such command 'nosuchcommand'"),
    (["sandbox", "sideways"], "No such command 'sideways'"),
    (["serve", "--port", "70000"], "--port"),
])
def test_bad_arguments_exit_2_with_the_reason(args, says):
    result = run(*args)
    assert result.exit_code == 2
    assert says in result.output


def test_missing_config_file_is_one_line_exit_3(tmp_path):
    result = run("--config", str(tmp_path / "absent.yaml"), "list")
    assert result.exit_code == 3
    assert result.output == f"error: config file {tmp_path / 'absent.yaml'} does not exist; set ISLAND_SSH_CONFIG " \
                            f"or pass --config\n"


def test_config_from_the_environment_variable(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("ssh: [not, a, mapping]\n")
    result = run("list", env={"ISLAND_SSH_CONFIG": str(bad)})
    assert result.exit_code == 3
    assert result.output.count("\n") == 1 and "ssh: expected a mapping" in result.output


@pytest.mark.parametrize("text, says", [
    ("ssh: {port: [1]}\n", "ssh.port: expected an integer"),
    ("recover: {orphan_action: maybe}\n", "recover.orphan_action is 'maybe'; use one of adopt, delete, report"),
    ("recover: {stuck_action: pray}\n", "recover.stuck_action is 'pray'; use one of release, reapply"),
    ("bogus: {}\n", "unknown section 'bogus'"),
    ("ssh: {port: 22\n", "not valid YAML"),
])
def test_config_errors_exit_3_one_line(tmp_path, text, says):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = run("--config", str(path), "recover")
    assert result.exit_code == 3, result.output
    assert says in result.output and result.output.count("\n") == 1 and result.output.startswith("error: ")


def test_doctor_stops_at_a_broken_config_with_exit_3(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("islands: {id_min: one}\n")
    result = run("--config", str(path), "doctor")
    assert result.exit_code == 3
    lines = result.output.splitlines()
    assert lines[0].startswith("FAIL  config") and "islands.id_min: expected an integer" in lines[0]
    assert lines[-1] == "1 of 1 checks failed"


def test_doctor_json_shape_on_a_broken_config(tmp_path):
    import json
    path = tmp_path / "c.yaml"
    path.write_text("islands: {id_min: one}\n")
    result = CliRunner().invoke(main, ["--config", str(path), "doctor", "--json"])
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["checks"][0]["name"] == "config" and data["checks"][0]["status"] == "fail"


@pytest.mark.parametrize("exc, code", [
    (ConfigError("x"), 3), (IslandNotFound("x"), 4), (PermissionDenied("x"), 5), (AllocationError("x"), 6),
    (ConnectError("x"), 7), (HostKeyError("x"), 7), (AuthError("x"), 7), (StoreError("x"), 7),
    (KubectlError("x"), 8), (NotFound("x"), 8), (CapacityError("x"), 6), (WatchParseError("x"), 8),
    (PodParseError("x"), 8), (InvalidInput("x"), 2), (IslandError("x"), 1),
])
def test_exit_codes_by_error_family(exc, code):
    assert exit_code_for(exc) == code


@pytest.fixture
def raising_command():
    """Adds to the real command group a command that raises the given error, so the group's own
    handler (not this test) turns it into the exit code; removed again afterwards."""
    name = "raise-for-test"

    def add(exc: Exception) -> str:
        def fail() -> None:
            raise exc
        main.add_command(click.Command(name, callback=fail))
        return name

    yield add
    main.commands.pop(name, None)


@pytest.mark.parametrize("exc, code", [
    (CapacityError("no dev node has 64Gi free: largest free is 900Mi (on dev-2)"), 6),
    (WatchParseError("watch line: not JSON (Expecting value): '<html>'"), 8),
])
def test_a_command_raising_the_error_exits_with_its_code_and_one_line(raising_command, exc, code):
    result = run(raising_command(exc))
    assert result.exit_code == code
    assert result.output == f"error: {exc.message}\n"


def test_no_colour_when_not_a_terminal(tmp_path):
    result = run("--config", str(tmp_path / "absent.yaml"), "list")
    assert "\x1b[" not in result.output
