"""The idle probe: the TCP tables of many islands' server containers in ONE remote command.

Not one SSH command per island: a batch of pods costs one command on the persistent shell (a
framed script the master's login shell runs); on the master it runs ``kubectl exec`` for each pod
in turn, printing each pod's table between a BEGIN and an END marker that carry a random token of
this run and the exec's exit code. Inside each container: ``cat /proc/net/tcp`` (and
``/proc/net/tcp6`` when present). The master keeps only the table headers and the lines whose
local port is one of that island's ports (``grep -E``), so a pod that sees a big table (the
sandbox's pods share the host network) sends back a few lines. core.idle parses it strictly; a
pod whose exec failed, timed out or printed no table is unknown, never idle.

Why per batch and not one exec per node: that needs a node-level pod (a DaemonSet with
hostNetwork and hostPID) that island_ssh does not own and the RBAC file does not grant; with a
per-pod network namespace on a real cluster, the node's own table would not show the pods'
connections anyway. Exec into the island's own server container needs only the ``pods/exec``
right island_ssh already has for clocks. What keeps those execs few is the caller: a run probes
only the islands due (islands.idle_probe_every, service/idle.py), about N / 10 a minute at the
defaults, not every island every minute.

Every value in the script is quoted (``shlex.quote``) or built from integers; the pod names come
from our own rows.
"""

from __future__ import annotations

import logging
import secrets
import shlex
from dataclasses import dataclass

from island_ssh.core import idle as core_idle
from island_ssh.core.errors import IslandError
from island_ssh.core.names import SERVER_CONTAINER

log = logging.getLogger(__name__)

READ_TABLES = "cat /proc/net/tcp && { cat /proc/net/tcp6 2>/dev/null || :; }"
"""Run by ``sh -c`` inside the server container: exit 0 once the IPv4 table was read; the IPv6
table is read when the kernel has one."""
MARK = "ISLAND_IDLE_"


@dataclass(frozen=True)
class Target:
    island_id: int
    pod: str
    ports: tuple[int, ...]


class IdleProbe:
    def __init__(self, kubectl, container: str = SERVER_CONTAINER, exec_timeout: int = 20,
                 batch_max: int = 50) -> None:
        self.kubectl = kubectl
        self.container = container
        self.exec_timeout = int(exec_timeout)
        self.batch_max = max(1, int(batch_max))

    def observe(self, targets: list[Target]) -> dict[int, core_idle.Observation]:
        """An Observation per island id; ceil(len/batch_max) remote commands in all."""
        out: dict[int, core_idle.Observation] = {}
        for start in range(0, len(targets), self.batch_max):
            out.update(self._batch(targets[start:start + self.batch_max]))
        return out

    def script(self, targets: list[Target], token: str) -> str:
        """The master-side script for one batch (tests read it; nothing in it is unquoted)."""
        t = int(self.exec_timeout)
        # a pod's exec that hangs must not hold the batch: coreutils `timeout` where the master has it
        lines = [f"_island_idle_x() {{ if command -v timeout >/dev/null 2>&1; then timeout {t + 5} \"$@\"; "
                 f"else \"$@\"; fi; }}"]
        for index, target in enumerate(targets):
            kubectl = self.kubectl.command("exec", target.pod, "-c", self.container, "--", "sh", "-c", READ_TABLES)
            keep = shlex.quote(core_idle.port_pattern(target.ports))
            header = shlex.quote(core_idle.HEADER_PATTERN)
            # the marker's halves are separate printf words: the whole marker is never in the script
            lines += [
                f"printf '%s%s %d\\n' '{MARK}' 'B_{token}' {index}",
                f"_o=$(_island_idle_x {kubectl} </dev/null); _r=$?",
                f"printf '%s\\n' \"$_o\" | grep -E -e {header} -e {keep}",
                f"printf '%s%s %d %d\\n' '{MARK}' 'E_{token}' {index} \"$_r\"",
            ]
        lines.append("true")
        return "\n".join(lines) + "\n"

    def _batch(self, targets: list[Target]) -> dict[int, core_idle.Observation]:
        if not targets:
            return {}
        token = secrets.token_hex(8)
        timeout = 30.0 + (self.exec_timeout + 6) * len(targets)
        try:
            result = self.kubectl.script(self.script(targets, token), timeout=timeout)
        except IslandError as exc:
            reason = f"the probe's remote command failed: {exc.message}"
            log.warning("idle probe of %d pods: %s", len(targets), reason)
            return {t.island_id: core_idle.unknown(reason) for t in targets}
        by_index = {i: t.ports for i, t in enumerate(targets)}
        found = core_idle.parse_probe_output(result.stdout, f"{MARK}B_{token}", f"{MARK}E_{token}", by_index)
        failed = [targets[i].island_id for i, o in found.items() if not o.known]
        if failed:
            log.info("idle probe: %d of %d pods unknown (%s); stderr: %s", len(failed), len(targets),
                     ", ".join(str(i) for i in failed[:20]), (result.stderr or "").strip()[-300:])
        return {targets[i].island_id: obs for i, obs in found.items()}
