"""Read (and write) an island's clock inside its server container, in ONE kubectl exec.

The script is conf/container/clock.sh, shipped as package data and fed to ``sh -s`` on stdin (so
nothing needs installing in the image); its mode, the clock file and the spec are separate argv
entries, data to the script, never pasted into its text. What it prints is
parsed by island_ssh.core.clock_reading (pure).

    probe = ClockProbe(kubectl, settings.islands.faketime_file)
    reading = probe.write(pod, island_id, "offset +3600 1")    # or "frozen 1631980800"
    reading = probe.read(pod, island_id)
    facts = probe.facts(pod, island_id)                        # doctor
"""

from __future__ import annotations

import functools

from island_ssh.core.clock_reading import Reading, ServerFacts, parse_facts, parse_fields, parse_reading
from island_ssh.core.errors import UnreadableOutput
from island_ssh.core.names import SERVER_CONTAINER, SERVICE_WORK
from island_ssh.resources import conf_file

@functools.lru_cache(maxsize=1)
def clock_script() -> str:
    """The text of conf/container/clock.sh."""
    return conf_file("container", "clock.sh").read_text(encoding="utf-8")


class ClockProbe:
    def __init__(self, kubectl, clock_file: str, container: str = SERVER_CONTAINER, timeout: float = 30.0) -> None:
        self.kubectl = kubectl
        self.clock_file = clock_file
        self.container = container
        self.timeout = timeout

    def argv(self, mode: str, spec: str | None = None) -> list[str]:
        # without the preload: the script's shell would make (and leave) a segment of its own.
        # The script itself goes on stdin (`sh -s`): as an argument it would be 9 KB in the exec
        # request's URL, past what some API servers take (the sandbox's: 8 KiB request lines).
        argv = ["env", "-u", "LD_PRELOAD", "sh", "-s", "--", mode, self.clock_file]
        return argv + ([spec] if spec is not None else [])

    def read(self, pod: str, island_id: int | None = None, purpose: str = SERVICE_WORK) -> Reading:
        """What the island's server reads now (with the real time around it)."""
        return parse_reading(self._run(pod, island_id, self.argv("read"), purpose), island_id, self.clock_file)

    def write(self, pod: str, island_id: int | None, spec: str) -> Reading:
        """Write the clock file (``spec``: "offset +O R" or "frozen EPOCH", core.clock.file_spec)
        and read the island's clock back, in one exec. ClockNotTaken's subclasses when it cannot."""
        return parse_reading(self._run(pod, island_id, self.argv("write", spec), SERVICE_WORK),
                             island_id, self.clock_file)

    def facts(self, pod: str, island_id: int | None = None) -> ServerFacts:
        """What doctor needs: does the main process map libfaketime, is it dynamic, is it Go."""
        return parse_facts(parse_fields(self._run(pod, island_id, self.argv("facts"), SERVICE_WORK)))

    def _run(self, pod: str, island_id: int | None, argv: list[str], purpose: str) -> str:
        result = self.kubectl.exec(pod, self.container, argv, stdin=clock_script(), timeout=self.timeout,
                                   island_id=island_id, purpose=purpose)
        if result.exit_code != 0 and "error=" not in result.stdout:
            raise UnreadableOutput(
                f"island {island_id}: the clock script exited {result.exit_code} without an answer: "
                f"{(result.stderr or result.stdout).strip()[:300]!r}", island_id=island_id, exit_code=result.exit_code)
        return result.stdout
