"""``python -m island_ssh.cli``: the same command line as the ``island-ssh`` script."""

from island_ssh.cli import main

main()
