"""Test fixtures live in tests/fixtures/<area>.py, one module per area (ssh, db, sandbox, ...).

Every public name of those modules is made visible here, so pytest finds their fixtures
wherever a test lives under tests/.
"""

import importlib
import os
import pkgutil
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

for _module in pkgutil.iter_modules([str(_HERE / "fixtures")]):
    _mod = importlib.import_module(f"fixtures.{_module.name}")
    globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("_")})


# -- parallel runs (pytest-xdist; ./island.sh test runs `-n 3 --dist loadgroup`) ---------------
# A module's tests stay on one worker (its module-scoped sandbox, product and database are made
# once), and modules marked ``pytest.mark.xdist_group("name")`` share one worker with every other
# module of that group: those that use something machine-wide one at a time. The modules that
# start a sandbox, a cluster or a private server go first, so no long one starts last.

_SLOW_FIXTURES = frozenset({"sandbox", "island_env", "sandbox_cluster", "standin_cluster", "big_sandbox",
                            "short_watch_sandbox", "fault_env", "private_mariadb", "installed", "served_shape"})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleOrGroupScheduling(LoadGroupScheduling):
        """loadgroup, but a test without an xdist_group mark goes with its module, not alone."""

        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return nodeid.split("::", 1)[0] if scope == nodeid else scope

    return ModuleOrGroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # a plain run keeps pytest's order

    def slow(item) -> bool:
        return item.get_closest_marker("slow") is not None or not _SLOW_FIXTURES.isdisjoint(item.fixturenames)

    modules: dict[str, list] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    ordered = sorted(modules.values(), key=lambda group: not any(map(slow, group)))  # stable
    items[:] = [item for group in ordered for item in group]
