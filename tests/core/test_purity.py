"""The pure core stays pure: no module of island_ssh.core imports I/O, threads, processes or the clock.

import-linter's contracts (setup.cfg, run by the README's test command) say the same for whole
packages; this test also reads the clock calls and the docstrings, which import rules cannot.
"""

import ast
from pathlib import Path

import pytest

import island_ssh.core

CORE = Path(island_ssh.core.__file__).resolve().parent
MODULES = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
FORBIDDEN = {
    "socket", "ssl", "select", "selectors", "subprocess", "threading", "multiprocessing", "asyncio", "time",
    "paramiko", "pymysql", "requests", "urllib", "http", "flask", "os", "shutil", "signal", "random", "secrets",
    "pathlib", "io", "tempfile", "importlib",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}
FILE_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes"}


def _tree(name: str) -> ast.Module:
    return ast.parse((CORE / f"{name}.py").read_text(encoding="utf-8"))


def test_the_core_has_the_modules_it_promises():
    assert {"podstate", "statemachine", "manifests", "ports", "watch_events", "line_splitter", "clock", "validate",
            "quantity", "capacity", "recovery_plan", "settings", "errors", "names"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_core_module_imports_nothing_that_does_io(name):
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
            ours = [alias.name for alias in node.names if alias.name.startswith("island_ssh")]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{name}: relative import; the core imports island_ssh.core.* by name"
            roots = {(node.module or "").split(".")[0]}
            ours = [node.module] if (node.module or "").startswith("island_ssh") else []
        else:
            continue
        assert not roots & FORBIDDEN, f"{name} imports {roots & FORBIDDEN}"
        for module in ours:
            assert module == "island_ssh.core" or module.startswith("island_ssh.core."), f"{name} imports {module}"


@pytest.mark.parametrize("name", MODULES)
def test_core_module_reads_no_clock_and_no_file(name):
    tree = _tree(name)
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    calls |= {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not calls & (CLOCK_CALLS | FILE_CALLS), f"{name} calls {calls & (CLOCK_CALLS | FILE_CALLS)}"


def test_the_core_package_says_it_does_no_io():
    doc = ast.get_docstring(ast.parse((CORE / "__init__.py").read_text(encoding="utf-8")))
    assert doc and "no I/O" in doc.replace("Nothing in this package does I/O", "no I/O")
