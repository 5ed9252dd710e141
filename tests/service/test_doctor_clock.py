"""doctor's island clock line from what clock.sh found (pure judge_facts; the sandbox run is in
tests/kube/test_clock_probe.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from island_ssh.core.clock_reading import ServerFacts
from island_ssh.service.check import OK, WARN
from island_ssh.service.doctor_clock import UNREACHABLE, judge_facts, newest_ready_pod

FILE = "/tmp/server-faketime.rc"
GOOD = ServerFacts(main_pid=1, main_exe="/usr/bin/java", main_preload=True, main_dynamic=True, main_go=False,
                   pid=1, preload="/usr/lib64/faketime/libfaketime.so.1", clock_file=FILE, cache_duration=1.0,
                   no_cache=False)


def test_preload_active():
    check = judge_facts("altraserver-a-dev-1", GOOD, FILE)
    assert check.status == OK and "libfaketime.so.1" in check.detail and "every 1 s" in check.detail


@pytest.mark.parametrize("change,words", [
    ({"main_go": True}, "Go program"),
    ({"main_dynamic": False, "main_preload": False, "pid": None}, "statically linked"),
    ({"main_preload": False, "pid": None}, "does not run under libfaketime"),
])
def test_servers_libfaketime_cannot_reach(change, words):
    check = judge_facts("p", replace(GOOD, **change), FILE)
    assert check.status == WARN and words in check.detail and UNREACHABLE in check.detail


def test_another_clock_file_and_no_process():
    assert "not /tmp/x.rc" in judge_facts("p", GOOD, "/tmp/x.rc").detail
    assert judge_facts("p", replace(GOOD, main_pid=None), FILE).status == WARN


def pod(name, created, ready):
    return {"metadata": {"name": name, "creationTimestamp": created},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}],
                       "containerStatuses": [{"name": "altraserver", "ready": ready, "state": {"running": {}}}]}}


def test_the_newest_ready_pod():
    pods = {"items": [pod("a", "2026-12-03T10:00:00Z", True), pod("b", "2026-12-03T11:00:00Z", True),
                      pod("c", "2026-12-03T12:00:00Z", False)]}
    assert newest_ready_pod(pods)["metadata"]["name"] == "b"
    assert newest_ready_pod({"items": [pod("c", "x", False)]}) is None
