"""Running the installed `island-ssh` against a config file, for the CLI tests."""

from __future__ import annotations

from service.recovery_helpers import island_ssh_cmd


def cli(config, *args, timeout=120):
    return island_ssh_cmd(config, *args, timeout=timeout)


def one_error_line(result) -> str:
    """The command's stderr, which must be exactly one `error: ...` line."""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    return result.stderr
