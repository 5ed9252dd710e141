"""Import paths an embedding app or script used before the layout moved keep working.

Each old flat module answers with the very module object at its new home (so monkeypatching and
isinstance see one module) and warns once with the new path. Run in a fresh interpreter: the
test process has imported the new paths already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from island_ssh.legacy_paths import OLD_TO_NEW


def fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-c", code],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("old, new", sorted(OLD_TO_NEW.items()))
def test_an_old_module_is_the_new_module_and_says_where_it_went(old, new):
    done = fresh(f"import importlib, sys\n"
                 f"old = importlib.import_module({old!r})\n"
                 f"print(old is importlib.import_module({new!r}) and sys.modules[{old!r}] is old)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert f"{old} moved to {new}" in done.stderr


def test_the_names_the_readme_promised_still_import():
    done = fresh(
        "import json, warnings\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "from island_ssh.podstate import classify\n"
        "from island_ssh.ssh import RemoteShell, SSHTarget\n"
        "from island_ssh_web import create_app, create_blueprint\n"
        "from island_ssh.service import IslandService, LaunchRequest\n"
        "from island_ssh.runtime import build_runtime\n"
        "from island_ssh.errors import IslandError\n"
        "from island_ssh.core.podstate import classify as new_classify\n"
        "print(json.dumps({'same': classify is new_classify, 'names': [f.__module__ for f in "
        "(classify, RemoteShell, create_app, create_blueprint, IslandService, build_runtime, IslandError)]}))\n")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["same"] is True
    assert facts["names"] == ["island_ssh.core.podstate", "island_ssh.ssh.shell", "island_ssh_web.app",
                              "island_ssh_web.blueprint", "island_ssh.service.islands", "island_ssh.service.wiring",
                              "island_ssh.core.errors"]


def test_an_unknown_old_name_still_fails_as_a_missing_module():
    done = fresh("import island_ssh.no_such_module")
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr
