"""MySQL store: islands, their events, registrations, id allocation, named locks, migrations.

    store = Store(settings.database)
    store.check_schema()          # at start-up; StoreError says to run `island-ssh migrate`
    row = store.allocate(owner, branch, pod_name_fn, overrides, hash_token(token), settings.islands)
    store.transition(row.island_id, row.generation, "applying", "Applying", "")
"""

from island_ssh.store.allocator import island_ports
from island_ssh.store.islands import Move
from island_ssh.store.locks import NamedLock
from island_ssh.store.migrations import Migration, load_migrations
from island_ssh.core.tokens import hash_token
from island_ssh.store.registrations import new_token
from island_ssh.store.rows import ISLAND_STATES, EventRow, IslandRow, RegistrationResult, RegistrationRow
from island_ssh.store.store import Store

__all__ = [
    "ISLAND_STATES", "EventRow", "IslandRow", "Migration", "Move", "NamedLock", "RegistrationResult", "RegistrationRow",
    "Store", "hash_token", "island_ports", "load_migrations", "new_token",
]
