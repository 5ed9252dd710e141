"""Use cases: what the web page, the CLI and cron ask for, and the wiring that builds them.

islands.py (launch, delete, restart, clock, logs), recovery.py (the cron job's run), doctor.py
(the checks), wiring.py (settings -> store + SSH + kubectl + tracker + service), feed.py (the live
feed of transitions), batching.py (group commit and single flight for launches arriving together).
The faces (``island_ssh.cli``, ``island_ssh_web``) call this layer and the core, never the edges.
"""

from island_ssh.service.islands import FINAL_STATES, CapacityError, IslandService, LaunchRequest

__all__ = ["FINAL_STATES", "CapacityError", "IslandService", "LaunchRequest"]
