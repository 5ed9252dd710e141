"""The pure core of island_ssh: data in, data out.

Nothing in this package does I/O: no sockets, files, processes, threads, database or clock.
Pod classification, the island state machine, manifest rendering (given its templates), port
arithmetic, kubectl watch-line parsing, line splitting, clock arithmetic, validation of what users
type, Kubernetes quantities, capacity arithmetic, recovery planning, lease durations and expiries,
the settings dataclasses and the one error family all take plain values and return plain values,
so they are tested with data.
The one wait loop (polling.wait_until) is here too: its clock and its pause are arguments.
The edges (``island_ssh.ssh``, ``island_ssh.store``, ``island_ssh.kube``) do the I/O around it;
import-linter's contracts in setup.cfg keep it that way.
"""
