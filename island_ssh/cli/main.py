"""``island-ssh``: the group every command hangs on, its context, and how errors end (one line
and a stable exit code). The commands are in islands.py, operations.py and doctor.py, the printing
in output.py; island_ssh/cli/__init__.py registers them. The CLI calls the use cases
(island_ssh.service) and the core only.

Exit codes (stable, for scripts):
  0 ok (also: `recover` found another run active and did nothing)
  1 other island_ssh error, or an unexpected one (ISLAND_SSH_DEBUG=1 shows its traceback)
  2 bad arguments or a refused value        3 configuration error
  4 no such island                          5 permission denied
  6 no capacity / no free id / over quota   7 cannot reach the master or the database
  8 kubectl failed on the master            9 `recover`: some repairs failed (see its summary)
    (or printed what we could not read)
  10 the island ended failed, unschedulable, timeout or lost (`launch --wait`)
  130 interrupted (Ctrl-C)
`doctor` exits with the code of its first failing check. Each error class carries its code
(``cli_exit``, island_ssh.core.errors), so the family and this list cannot drift apart.
Errors are one line on stderr: what went wrong, and what to do. Colour only on a terminal.
"""

from __future__ import annotations

import importlib.metadata
import os
import traceback

import click

from island_ssh.cli.output import safe
from island_ssh.config import load_settings
from island_ssh.core.errors import ConfigError, IslandError

EXIT_RECOVER_FAILED = 9
EXIT_ISLAND_FAILED = 10
EXIT_INTERRUPTED = 130


def exit_code_for(exc: IslandError) -> int:
    """The error's documented exit code: each class of the family carries it (``cli_exit``)."""
    return type(exc).cli_exit


def error_line(text: str) -> None:
    # kubectl's and the master's words travel in errors: no control character reaches the terminal
    click.echo(click.style("error: ", fg="red", bold=True) + safe(" ".join(text.split())), err=True)


PLUGIN_GROUP = "island_ssh.commands"
"""Entry-point group of commands shipped apart from the library (the sandbox's ``sandbox`` and
``demo``): the library never imports the sandbox, the command line finds it when installed."""


def plugin_commands() -> dict:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP)}


def unavailable_command(name: str, exc: ImportError) -> click.Command:
    def refuse() -> None:
        raise ConfigError(f"'island-ssh {name}' needs the sandbox extra: pip install 'island-ssh[sandbox]' "
                          f"(importing it failed: {exc})")
    return click.Command(name, callback=refuse, help=f"(unavailable: {exc})",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class IslandGroup(click.Group):
    """Turns every error into one line and its documented exit code; finds plugin commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(plugin_commands()))

    def get_command(self, ctx: click.Context, name: str):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        entry = plugin_commands().get(name)
        if entry is None:
            return None
        try:
            return entry.load()
        except ImportError as exc:
            return unavailable_command(name, exc)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except IslandError as exc:
            error_line(exc.message)
            ctx.exit(exit_code_for(exc))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - a tool's last word must be one line, not a traceback
            if os.environ.get("ISLAND_SSH_DEBUG"):
                traceback.print_exc()
            error_line(f"unexpected {type(exc).__name__}: {exc}; rerun with ISLAND_SSH_DEBUG=1 for the traceback "
                       f"and report it")
            ctx.exit(1)


class Context:
    """What the commands share: the settings, read once, and the use cases, built on first use
    (the store-only records without SSH, or the full runtime) and closed when the command ends."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings = None
        self._runtime = None
        self._records = None

    @property
    def settings(self):
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    def records(self):
        """The store-only use cases, for commands that only need MySQL (no SSH connection)."""
        if self._records is None:
            from island_ssh.service.wiring import build_records
            self._records = build_records(self.settings)
        return self._records

    def runtime(self, with_tracker: bool = False):
        if self._runtime is None:
            from island_ssh.service.wiring import build_runtime
            self._runtime = build_runtime(self.settings, with_tracker=with_tracker)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
        if self._records is not None:
            self._records.close()


@click.group(cls=IslandGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit codes: 0 ok, 1 error, 2 bad arguments, 3 config, 4 no such island, 5 permission, "
                    "6 no capacity, 7 master/database unreachable, 8 kubectl failed, 9 recover partly failed, "
                    "10 island failed.")
@click.option("--config", "config_path", envvar="ISLAND_SSH_CONFIG", type=click.Path(dir_okay=False),
              help="config file (default conf/island.yaml; env ISLAND_SSH_CONFIG)")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Launch and manage game-server islands on Kubernetes over one SSH connection."""
    ctx.obj = Context(config_path)
    ctx.call_on_close(ctx.obj.close)



if __name__ == "__main__":
    # python -m island_ssh.cli.main: this copy of the module has no commands; the package's has
    from island_ssh.cli import main as assembled_main
    assembled_main()
