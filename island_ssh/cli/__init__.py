"""``island-ssh``: the operators' command line, one module per command group.

main.py holds the group (errors, exit codes, the plugin lookup), output.py the printing; the
commands are in islands.py (one island each), operations.py (migrate, recover, serve) and
doctor.py. They are registered here, so the command modules import main.py and never the
other way round. The sandbox's ``sandbox`` and ``demo`` come from the ``island_ssh.commands``
entry points (see main.PLUGIN_GROUP).
"""

from island_ssh.cli import clock, doctor, islands, operations
from island_ssh.cli import idle as idle_cli
from island_ssh.cli import notify as notify_cli
from island_ssh.cli import leases as leases_cli
from island_ssh.cli import audit as audit_cli
from island_ssh.cli import usage as usage_cli
from island_ssh.cli import versions as versions_cli
from island_ssh.cli import remains as remains_cli
from island_ssh.cli.main import main

for _command in (*islands.COMMANDS, *clock.COMMANDS, *operations.COMMANDS, *idle_cli.COMMANDS,
                 *notify_cli.COMMANDS, *leases_cli.COMMANDS, *audit_cli.COMMANDS, *usage_cli.COMMANDS,
                 *versions_cli.COMMANDS, *remains_cli.COMMANDS, doctor.doctor):
    main.add_command(_command)

__all__ = ["main"]
