"""doctor's island clock check: on one running island, is libfaketime in its server process?

Island clocks are libfaketime's (LD_PRELOAD): it reaches a dynamically linked server that calls
libc for the time (the Java game servers do), not a statically linked one, nor a Go program (Go
reads the clock through its own vDSO calls). The check runs conf/container/clock.sh's ``facts``
mode in the newest ready island's server container (kube.clock_probe) and says which it is. It
changes nothing; without a ready island it is skipped.
"""

from __future__ import annotations

from island_ssh.core.errors import IslandError
from island_ssh.core.names import SERVER_CONTAINER
from island_ssh.core.podstate import classify
from island_ssh.kube.clock_probe import ClockProbe
from island_ssh.service.check import OK, WARN, Check

NAME = "island clock"
UNREACHABLE = "libfaketime cannot reach it: its clock cannot be changed"


def newest_ready_pod(pods: dict) -> dict | None:
    """The most recently created island pod whose server container is ready, or None."""
    ready = [p for p in pods.get("items") or [] if classify(p, SERVER_CONTAINER).ready]
    if not ready:
        return None
    return max(ready, key=lambda p: ((p.get("metadata") or {}).get("creationTimestamp") or "",
                                     (p.get("metadata") or {}).get("name") or ""))


def check_island_clock(kubectl, clock_file: str) -> Check:
    try:
        pod = newest_ready_pod(kubectl.pods())
    except IslandError as exc:
        return Check(NAME, WARN, f"not checked: listing the island pods failed: {exc.message}")
    if pod is None:
        # not a failure of anything, and nothing earlier failed (SKIP): ok, saying it was not looked at
        return Check(NAME, OK, "skipped: no running island")
    name = pod["metadata"]["name"]
    try:
        facts = ClockProbe(kubectl, clock_file).facts(name)
    except IslandError as exc:
        return Check(NAME, WARN, f"not checked on {name}: {exc.message}")
    return judge_facts(name, facts, clock_file)


def judge_facts(pod: str, facts, clock_file: str) -> Check:
    """The check's line for what clock.sh found in ``pod`` (pure, so it is tested with data)."""
    if facts.main_pid is None:
        return Check(NAME, WARN, f"{pod}: no process found in its server container")
    what = f"{pod}: server process (pid {facts.main_pid}, {facts.main_exe or 'unknown executable'})"
    if facts.main_go:
        return Check(NAME, WARN, f"{what} is a Go program: {UNREACHABLE}")
    if not facts.main_dynamic:
        return Check(NAME, WARN, f"{what} is statically linked: {UNREACHABLE}")
    if not facts.main_preload:
        where = f" (pid {facts.pid} is)" if facts.pid is not None else ""
        return Check(NAME, WARN, f"{what} does not run under libfaketime{where}: {UNREACHABLE}; "
                     "is LD_PRELOAD (islands.faketime_lib) right for the image?")
    if facts.clock_file != clock_file:
        return Check(NAME, WARN, f"{what} reads clock file {facts.clock_file or '(none)'}, not "
                     f"{clock_file} (islands.faketime_file): clock changes would not reach it")
    cache = "every call" if facts.no_cache else f"every {facts.cache_bound:g} s"
    return Check(NAME, OK, f"{what} runs under {facts.preload or 'libfaketime'}, reading {clock_file} "
                 f"({cache})")
