"""MySQL store: islands, their events, registrations, id allocation, named locks, migrations.

    store = Store(settings.database)
    store.check_schema()          # at start-up; StoreError says to run `island-ssh migrate`
    row = store.allocate(owner, branch, pod_name_fn, overrides, hash_token(token), settings.islands)
    store.transition(row.island_id, row.generation, "applying", "Applying", "")
"""

from .allocator import island_ports
from .islands import Move
from .locks import NamedLock
from .migrations import Migration, load_migrations
from .registrations import hash_token, new_token
from .rows import ISLAND_STATES, EventRow, IslandRow, RegistrationResult, RegistrationRow
from .store import Store

__all__ = [
    "ISLAND_STATES", "EventRow", "IslandRow", "Migration", "Move", "NamedLock", "RegistrationResult", "RegistrationRow",
    "Store", "hash_token", "island_ports", "load_migrations", "new_token",
]
