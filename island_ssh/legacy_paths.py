"""Old import paths of the flat layout keep working for embedding apps and scripts.

Until 0.2 the library was 24 flat modules (``island_ssh.podstate``, ``island_ssh.runtime``, ...).
They now live in ``core/``, ``kube/`` and ``service/``; this finder answers an import of an old
name with the very module object at its new home (no copy, so ``isinstance`` and monkeypatching
see one module), and warns once with the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

OLD_TO_NEW = {
    "island_ssh.batching": "island_ssh.service.batching",
    "island_ssh.capacity": "island_ssh.core.capacity",
    "island_ssh.clock": "island_ssh.core.clock",
    "island_ssh.doctor": "island_ssh.service.doctor",
    "island_ssh.errors": "island_ssh.core.errors",
    "island_ssh.feed": "island_ssh.service.feed",
    "island_ssh.lines": "island_ssh.core.line_splitter",
    "island_ssh.manifests": "island_ssh.core.manifests",
    "island_ssh.podstate": "island_ssh.core.podstate",
    "island_ssh.ports": "island_ssh.core.ports",
    "island_ssh.quantity": "island_ssh.core.quantity",
    "island_ssh.recover": "island_ssh.core.recovery_plan",
    "island_ssh.recover_run": "island_ssh.service.recovery",
    "island_ssh.runtime": "island_ssh.service.wiring",
    "island_ssh.statemachine": "island_ssh.core.statemachine",
    "island_ssh.tracker": "island_ssh.kube.tracker",
    "island_ssh.validate": "island_ssh.core.validate",
    "island_ssh.watch": "island_ssh.core.watch_events",
    "island_ssh.ssh.stream": "island_ssh.ssh.stream_channel",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        """The module at its new home is already executed."""


class LegacyPathFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = OLD_TO_NEW.get(fullname)
        if new is None:
            return None
        warnings.warn(f"{fullname} moved to {new}; the old path will go in a later release",
                      DeprecationWarning, stacklevel=3)
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(f, LegacyPathFinder) for f in sys.meta_path):
        sys.meta_path.append(LegacyPathFinder())
