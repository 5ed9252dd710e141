"""The pure core stays pure: no module of it imports I/O, threads, processes or the clock."""

import ast
from pathlib import Path

import pytest

import island_ssh

PURE = ["ports", "podstate", "watch", "statemachine", "clock", "validate", "manifests", "quantity", "capacity"]
FORBIDDEN = {
    "socket", "ssl", "select", "selectors", "subprocess", "threading", "multiprocessing", "asyncio", "time",
    "paramiko", "pymysql", "requests", "urllib", "http", "flask", "os", "shutil", "signal", "random", "secrets",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}
PACKAGE = Path(island_ssh.__file__).resolve().parent
SIBLINGS = {"errors", "config"} | set(PURE)


@pytest.mark.parametrize("name", PURE)
def test_pure_module_imports_nothing_that_does_io(name):
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                targets = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
                assert set(targets) <= SIBLINGS, f"{name} imports .{targets}"
                continue
            roots = {(node.module or "").split(".")[0]}
        else:
            continue
        assert not roots & FORBIDDEN, f"{name} imports {roots & FORBIDDEN}"


@pytest.mark.parametrize("name", PURE)
def test_pure_module_reads_no_clock(name):
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert not calls & CLOCK_CALLS


@pytest.mark.parametrize("name", PURE)
def test_pure_module_says_so(name):
    doc = ast.get_docstring(ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8")))
    assert doc and "Pure" in doc
