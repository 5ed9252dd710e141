"""``island-ssh``: the operators' command line, one module per command group."""

from island_ssh.cli.main import main

__all__ = ["main"]
