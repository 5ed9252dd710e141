"""Code version per island (issue 15): each island's version (registered by its entry script) against
its branch's current one, read from the branches' nodes NOW. ``IslandService.code_versions``.

How "the branch's current version" is learned, cheaply and truthfully (README "Code version"): the
version file itself, as the branch's nodes hold it at this moment, read through ONE running island
per node (a ready island's server container mounts the shared code volume read-only; the side
container does not mount it). All nodes of all branches in ONE remote command on the persistent
SSH connection: a script running ``kubectl exec POD -c altraserver -- sh -c 'head -c 512 FILE | od'``
per node, each answer framed by markers carrying a random token (the file's bytes travel as hex,
so no byte of it can forge a marker). Per node, not per branch, because the PV is a hostPath that
CI fills on every node: during a deploy two nodes of one branch may differ ("mixed"), and an island
is compared with the file on its own node when that node was read.

Not the newest version any island registered (that only says what some pod saw when it started)
and not a CI call (it would say what CI meant to deploy, not what the nodes hold). The readings are
kept in MySQL (``branch_code_versions``) for islands.code_version_check_interval, shared by every
web worker and the CLI; one process reads at a time (a MySQL named lock). A branch with no ready
island has no reading: nothing runs there to be outdated.
"""

from __future__ import annotations

import logging
import secrets
import shlex
import threading
import time
from typing import Iterable

from island_ssh.core import code_version as cv
from island_ssh.core.errors import IslandError
from island_ssh.core.names import FREE_STATE, SERVER_CONTAINER
from island_ssh.service.usage import checked_island_ids

log = logging.getLogger(__name__)

LOCK = "island_ssh.code_versions"
MARK = "ISLAND_CODEV_"
EXEC_TIMEOUT = 20
MEMO_SECONDS = 2.0
"""A process keeps what it loaded from MySQL this long: a list of 500 islands asks once, not 500 times."""


class CodeVersionService:
    def __init__(self, service) -> None:
        self.service = service
        self.settings = service.settings.islands
        self.store = service.store
        self.kubectl = service.kubectl
        self._memo: tuple[float, dict[str, cv.BranchVersion]] | None = None
        self._memo_lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._last_try: float | None = None

    # -- the branches' current versions -------------------------------------------------------------
    def branches(self, refresh: str = "auto") -> dict[str, cv.BranchVersion]:
        """branch -> BranchVersion. ``refresh``: ``auto`` reads the nodes first when the stored
        readings are older than the interval (and waits for it), ``force`` reads them now,
        ``background`` starts a read on a thread when stale and answers from what is stored
        (pages and lists never wait on kubectl), ``never`` answers from what is stored."""
        if refresh == "force" or (refresh == "auto" and self.stale()):
            self.refresh(force=refresh == "force")
        elif refresh == "background" and self._memo_fresh() is None and self._may_try() and self.stale():
            self._start_background()
        return self._load()

    def _may_try(self) -> bool:
        """A background read at most once per interval per process (a branch with no ready island
        stores no reading, so "stale" alone would retry on every page view)."""
        now = time.monotonic()
        if self._last_try is not None and now - self._last_try < float(self.settings.code_version_check_interval):
            return False
        self._last_try = now
        return True

    def stale(self) -> bool:
        last, now = self.store.code_versions.last_read()
        return last is None or (now - last).total_seconds() >= float(self.settings.code_version_check_interval)

    def refresh(self, force: bool = False) -> dict:
        """Read every branch's nodes now (one remote command); what was read. Another process
        reading at the same moment is waited for (up to the probe's time) and its result used."""
        with self.store.named_lock(LOCK, timeout=EXEC_TIMEOUT + 10) as acquired:
            if not acquired or (not force and not self.stale()):
                self._forget()
                return {"read": False, "nodes": 0, "seconds": 0.0}
            started = time.monotonic()
            targets = self._targets()
            readings = self._probe(targets)
            branches = sorted(set(self.settings.branches) | {t[0] for t in targets})
            self.store.code_versions.replace(branches, readings)
            self._forget()
            return {"read": True, "nodes": len(readings), "seconds": round(time.monotonic() - started, 3),
                    "remote_commands": 1 if targets else 0}

    def _targets(self) -> list[tuple[str, str, str]]:
        """(branch, node, pod): one ready island per node of each branch, the newest ready."""
        chosen: dict[tuple[str, str], object] = {}
        for row in self.store.list(states=["ready"]):
            if not row.node or not row.pod_name:
                continue
            key = (row.branch, row.node)
            best = chosen.get(key)
            if best is None or (row.ready_at or row.state_since) > (best.ready_at or best.state_since):
                chosen[key] = row
        return [(b, n, r.pod_name) for (b, n), r in sorted(chosen.items())]

    def script(self, targets: list[tuple[str, str, str]], token: str) -> str:
        """The master-side script: one kubectl exec per target, each answer framed (tests read it)."""
        path = shlex.quote(cv.file_path(self.settings.code_mount, self.settings.code_version_file))
        inner = cv.probe_command(path)
        lines = [f"_codev_x() {{ if command -v timeout >/dev/null 2>&1; then timeout {EXEC_TIMEOUT} \"$@\"; "
                 f"else \"$@\"; fi; }}"]
        for index, (_, _, pod) in enumerate(targets):
            kubectl = self.kubectl.command("exec", pod, "-c", SERVER_CONTAINER, "--", "sh", "-c", inner)
            lines += [f"printf '%s%s %d\\n' '{MARK}' 'B_{token}' {index}",
                      f"_codev_x {kubectl} </dev/null; _r=$?",
                      f"printf '\\n%s%s %d %d\\n' '{MARK}' 'E_{token}' {index} \"$_r\""]
        lines.append("true")
        return "\n".join(lines) + "\n"

    def _probe(self, targets: list[tuple[str, str, str]]) -> list[cv.NodeReading]:
        if not targets:
            return []
        token = secrets.token_hex(8)
        try:
            result = self.kubectl.script(self.script(targets, token), timeout=30.0 + (EXEC_TIMEOUT + 2) * len(targets))
            found = cv.parse_framed(result.stdout, f"{MARK}B_{token}", f"{MARK}E_{token}", len(targets))
        except IslandError as exc:
            log.warning("reading the code version on %d nodes failed: %s", len(targets), exc.message)
            found = {i: (None, f"the remote command failed: {exc.message}"[:255]) for i in range(len(targets))}
        return [cv.NodeReading(branch=b, node=n, pod=p, version=found[i][0], error=found[i][1])
                for i, (b, n, p) in enumerate(targets)]

    def _start_background(self) -> None:
        if not self._refreshing.acquire(blocking=False):
            return

        def run():
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a page must never fail for it; logged
                log.exception("background read of the branches' code versions failed")
            finally:
                self._refreshing.release()

        threading.Thread(target=run, name="code-versions", daemon=True).start()

    # -- what the faces show ---------------------------------------------------------------------------
    def _memo_fresh(self):
        with self._memo_lock:
            if self._memo is not None and time.monotonic() - self._memo[0] < MEMO_SECONDS:
                return self._memo[1]
        return None

    def _forget(self) -> None:
        with self._memo_lock:
            self._memo = None

    def _load(self) -> dict[str, cv.BranchVersion]:
        fresh = self._memo_fresh()
        if fresh is not None:
            return fresh
        by_branch: dict[str, list[cv.NodeReading]] = {b: [] for b in self.settings.branches}
        for reading in self.store.code_versions.readings():
            by_branch.setdefault(reading.branch, []).append(reading)
        loaded = {b: cv.branch_version(b, rs) for b, rs in by_branch.items()}
        with self._memo_lock:
            self._memo = (time.monotonic(), loaded)
        return loaded

    def verdict(self, row, branches: dict[str, cv.BranchVersion] | None = None) -> cv.Verdict:
        branches = self.branches("background") if branches is None else branches
        return cv.judge(row.code_version, row.branch, row.node, branches.get(row.branch))

    def island_json(self, row, branches: dict[str, cv.BranchVersion] | None = None) -> dict:
        """The island's ``code_version`` object (GET /api/islands/<id>, the page, the table)."""
        return cv.version_json(row.code_version, row.code_version_at, self.verdict(row, branches), cv.iso)

    def branches_json(self, refresh: str = "auto") -> list[dict]:
        return [cv.branch_json(b, cv.iso) for _, b in sorted(self.branches(refresh).items())]

    def report(self, refresh: str = "auto", ids: Iterable[int] | None = None) -> dict:
        """``island-ssh versions`` and GET /api/branches: each branch's current version (per node)
        and every live island's version with its verdict. ``ids``: only those islands (read by id in
        one query; ``outdated`` counts them); the branches stay whole, they are a few lines."""
        branches = self.branches(refresh)
        islands = []
        rows = self.store.list() if ids is None else self.store.get_many(checked_island_ids(ids))
        for row in rows:
            if row is None or row.state == FREE_STATE:
                continue
            body = cv.version_json(row.code_version, row.code_version_at, self.verdict(row, branches), cv.iso)
            islands.append({"id": row.island_id, "owner": row.owner, "branch": row.branch, "node": row.node,
                            "state": row.state, "code_version": body})
        return {"branches": [cv.branch_json(b, cv.iso) for _, b in sorted(branches.items())],
                "islands": islands, "outdated": sum(1 for i in islands if i["code_version"]["outdated"]),
                "file": self.settings.code_version_file,
                "check_interval": float(self.settings.code_version_check_interval)}
