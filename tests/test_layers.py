"""The layer rules of setup.cfg hold, and would catch the imports they exist to stop.

`lint-imports` (import-linter) runs on the real tree in the README's test command; here it also
runs on copies of the tree with one forbidden import planted, and must fail naming the contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import island_ssh
import island_ssh_web
import island_sandbox

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CORE_RULE = "The core imports nothing of ours outside core and nothing that does I/O"
FACES_RULE = "The faces (CLI, web) reach the edges only through the use cases"
LAYERS_RULE = "Calls flow down"
SANDBOX_RULE = "The library never imports the sandbox"
CIRCLES_RULE = "No import circles"


def lint(pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """lint-imports puts its working directory first on sys.path: run it where the tree to judge is."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(REPO / "setup.cfg")],
                          cwd=pythonpath or REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The three root packages, copied where PYTHONPATH finds them before the installed ones."""
    root = tmp_path_factory.mktemp("tree")
    for package, name in ((island_ssh, "island_ssh"), (island_ssh_web, "island_ssh_web"),
                          (island_sandbox, "island_sandbox")):
        shutil.copytree(Path(package.__file__).parent, root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "images"))
    return root


def plant(root: Path, module: str, line: str):
    """Append an import to one module of the copy; give back a function that takes it out again."""
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{line}\n", encoding="utf-8")
    return lambda: path.write_text(original, encoding="utf-8")


def test_the_real_tree_keeps_every_contract():
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_the_unchanged_copy_keeps_every_contract(tree_copy):
    result = lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module, line, rule", [
    ("island_ssh.core.ports", "import socket", CORE_RULE),
    ("island_ssh.core.podstate", "import threading", CORE_RULE),
    ("island_ssh.core.manifests", "import subprocess", CORE_RULE),
    ("island_ssh.core.statemachine", "import pymysql", CORE_RULE),
    ("island_ssh.core.watch_events", "import paramiko", CORE_RULE),
    ("island_ssh.core.clock", "import time", CORE_RULE),
    ("island_ssh.core.validate", "from island_ssh.store import Store", CORE_RULE),
    ("island_ssh_web.pages", "from island_ssh.store import Store", FACES_RULE),
    ("island_ssh.cli.main", "from island_ssh.kube.kubectl import Kubectl", FACES_RULE),
    ("island_ssh.store.rows", "from island_ssh.service.islands import IslandService", LAYERS_RULE),
    ("island_ssh.service.wiring", "import island_sandbox.manager", SANDBOX_RULE),
    ("island_ssh.core.names", "import island_ssh.core.podstate", CIRCLES_RULE),
    ("island_ssh.service.check", "from island_ssh.service import doctor", CIRCLES_RULE),
])
def test_a_planted_import_breaks_its_contract(tree_copy, module, line, rule):
    undo = plant(tree_copy, module, line)
    try:
        result = lint(tree_copy)
    finally:
        undo()
    assert result.returncode != 0, f"{line} in {module} went unnoticed:\n{result.stdout}"
    broken = [ln for ln in result.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(ln.startswith(rule) for ln in broken), result.stdout
