"""Use cases: what the web UI, the CLI and cron ask for. They call this layer only.

launch -> validate, check capacity, allocate id+ports (MySQL), render the seed's Pod, apply over
SSH; the tracker takes it from there. delete / restart / set_clock / logs act on one island.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from island_ssh.core import clock as clocks
from island_ssh.service.batching import GroupCommit, SingleFlight
from island_ssh.core.capacity import capacity_problem
from island_ssh.core.settings import Settings
from island_ssh.core.errors import (AllocationError, AuthError, CapacityError, ConfigError, ConnectionLost,
                                   HostKeyError, IslandError, IslandNotFound, InvalidInput, KubectlError,
                                   PermissionDenied, StoreError)
from island_ssh.kube.kubectl import Kubectl
from island_ssh.ssh.errors import ConnectError
from island_ssh.core.polling import WaitTimeout, wait_until
from island_ssh.core.manifests import IslandSpec, pod_name, render_pod
from island_ssh.core.names import (CHANGEABLE_STATES, FINAL_STATES, GENERATION_LABEL, ISLAND_STATES, SERVER_CONTAINER,
                                   STUCK_STATES)
from island_ssh.core.tokens import hash_token
from island_ssh.core.validate import validate_launch
from island_ssh.store import new_token
from island_ssh.resources import load_template

log = logging.getLogger(__name__)

APPLY_SETTLE_SECONDS = 60.0
AFTER_APPLYING = tuple(s for s in ISLAND_STATES if s not in STUCK_STATES)


@dataclass(frozen=True)
class LaunchRequest:
    owner: str
    branch: str | None = None
    start_time: str = ""
    memory: str | None = None
    image: str | None = None
    env: dict[str, str] = field(default_factory=dict)


class IslandService:
    def __init__(self, settings: Settings, store, kubectl: Kubectl, pod_template: dict | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` times the waits (a test passes one it moves by hand)."""
        self.settings = settings
        self._clock = clock
        self.islands = settings.islands
        self.store = store
        self.kubectl = kubectl
        self.pod_template = load_template("pod") if pod_template is None else pod_template
        if self.islands.apply_batch_max < 1:
            raise ConfigError(f"islands.apply_batch_max: {self.islands.apply_batch_max}; at least 1 pod per apply")
        # launches arriving together (a burst of REST POSTs) share one apply and one capacity listing
        self._applies = GroupCommit(self._apply_batch, max_batch=self.islands.apply_batch_max,
                                    on_dropped=self._background_apply_failed)
        self._cluster_use = SingleFlight(self._list_cluster_use, ttl=self.islands.capacity_cache_seconds)

    # -- launch ------------------------------------------------------------------------------
    def launch(self, request: LaunchRequest, wait: bool = False, timeout: float | None = None,
               background: bool = False):
        return self.launch_many([request], wait=wait, timeout=timeout, background=background)[0]

    def launch_many(self, requests: list[LaunchRequest], wait: bool = False, timeout: float | None = None,
                    background: bool = False):
        """Allocate every island, then apply all their Pods in ONE kubectl call.

        background=True returns once the islands are allocated (`applying`): the apply runs on a
        worker thread, shared with other launches, and its failure shows as each island's state
        (`deleted`, ApplyFailed, with kubectl's words). The web app launches so: a request
        thread is not held for an apply, and the pods' registration calls never queue behind
        a burst of launches."""
        checked = [validate_launch(r, self.islands) for r in requests]
        if self.islands.capacity_check:
            self._check_capacity(checked)
        rows, docs = [], []
        try:
            for req in checked:
                row, doc = self._allocate_and_render(req)
                rows.append(row)
                docs.append(doc)
        except AllocationError:
            for row in rows:
                self.store.release(row.island_id, row.generation, "AllocationFailed")
            raise
        self.store.transition_many([(row.island_id, row.generation) for row in rows], "applying", "Applying",
                                   "manifest sent to kubectl apply", expected_from="allocated")
        # ConnectionLost: unknown whether the API server stored them, so the rows stay `applying`
        # for the tracker's re-list or the recover job; never re-run blindly. KubectlError: the
        # ids whose pods are confirmed absent are free again (see _apply_batch).
        if background:
            self._applies.submit_nowait(list(zip(rows, docs)))
        else:
            self._applies.submit(list(zip(rows, docs)))
        try:
            rows = self.store.get_many([r.island_id for r in rows])
        except StoreError as exc:
            # the pods are applied; only this re-read failed (the database restarting): the
            # islands exist, the tracker records what follows once MySQL answers again
            log.warning("launched islands %s, but re-reading them failed: %s",
                        ", ".join(str(r.island_id) for r in rows), exc)
            rows = [dataclasses.replace(r, state="applying", reason="Applying") for r in rows]
        if wait:
            rows = [self.wait(r.island_id, timeout=timeout) for r in rows]
        return rows

    def _apply_batch(self, launches: list[list[tuple]]) -> list[BaseException | None]:
        """ONE kubectl apply for every launch in the batch; each launch's own outcome."""
        # an island deleted while its launch waited in the queue is not applied any more
        queued = [row for launch in launches for row, _ in launch]
        try:
            wanted = {(r.island_id, r.generation) for r in self.store.get_many([row.island_id for row in queued])
                      if r is not None and r.state == "applying"}
        except StoreError as exc:
            log.warning("could not re-check queued launches (%s); applying them all", exc)
            wanted = {(row.island_id, row.generation) for row in queued}
        docs = [doc for launch in launches for row, doc in launch if (row.island_id, row.generation) in wanted]
        if not docs:
            return [None] * len(launches)
        try:
            # kubectl creates the pods one by one: a fixed timeout would kill a big batch mid-way
            self.kubectl.apply(docs, timeout=60.0 + 0.5 * len(docs))
        except ConnectionLost as exc:
            return [exc] * len(launches)
        except (ConnectError, HostKeyError, AuthError) as exc:
            # raised before kubectl was started: no pod exists, the ids are free again
            for row in queued:
                if (row.island_id, row.generation) in wanted:
                    self.store.transition(row.island_id, row.generation, "deleted", "ApplyFailed", exc.message,
                                          expected_from="applying")
            return [exc] * len(launches)
        except KubectlError as exc:
            absent = self._settle_failed_apply(
                [row for row in queued if (row.island_id, row.generation) in wanted], exc)
            # a launch whose pods all exist succeeded, whatever became of the others in the batch
            return [exc if absent is None or any(row.island_id in absent for row, _ in launch) else None
                    for launch in launches]
        return [None] * len(launches)

    @staticmethod
    def _background_apply_failed(launch: list[tuple], exc: BaseException) -> None:
        # the islands' rows already say what happened (deleted/ApplyFailed, or still applying
        # for the tracker and recover after a lost connection); this is for the operator's log
        ids = ", ".join(str(row.island_id) for row, _ in launch)
        log.warning("background apply of island %s failed: %s", ids, exc)

    def _settle_failed_apply(self, rows, exc: KubectlError) -> set[int] | None:
        """kubectl may have created some pods before it failed (killed on the master, or one bad
        document among many): free only the ids whose pods are confirmed absent, and return them.
        The others stay `applying` for the tracker (their pods exist), or for recover if even this
        listing fails (None: nothing is known)."""
        try:
            present = {(p["metadata"]["name"], (p["metadata"].get("labels") or {}).get(GENERATION_LABEL))
                       for p in self.kubectl.pods().get("items") or []}
        except IslandError:
            return None
        absent = set()
        for row in rows:
            # a pod of that name from another generation (a leftover recover has not removed) is not ours
            if (row.pod_name, str(row.generation)) not in present:
                absent.add(row.island_id)
                self.store.transition(row.island_id, row.generation, "deleted", "ApplyFailed",
                                      exc.message, expected_from="applying")
        return absent

    def _allocate_and_render(self, req):
        token = new_token()
        row = self.store.allocate(
            owner=req.owner, branch=req.branch,
            pod_name_fn=lambda island_id: pod_name(req.owner, req.branch, island_id),
            overrides=req.overrides(), token_hash=hash_token(token), settings=self.islands)
        if req.start_time:
            offset = clocks.initial_offset(req.start_time, time.time())
            self.store.set_clock(row.island_id, row.generation, offset, req.start_time)
        return row, self._render(row, req, token)

    def _render(self, row, req, token: str) -> dict:
        spec = IslandSpec(
            island_id=row.island_id, owner=req.owner, branch=req.branch, start_time=req.start_time,
            memory_request=req.memory_request, memory_limit=req.memory_limit, image=req.image,
            extra_env=dict(req.env), token=token, debug_flag=self.islands.debug_flag)
        pod = render_pod(spec, self.islands, self.settings.kube.namespace, self.pod_template)
        pod["metadata"]["labels"][GENERATION_LABEL] = str(row.generation)
        return pod

    def _list_cluster_use(self) -> tuple[list, list]:
        nodes = self.kubectl.nodes()
        return nodes, (self.kubectl.pods(selector="").get("items", []) if nodes else [])

    def _check_capacity(self, checked) -> None:
        # Advisory, as it always is (two launches can race for the last free memory; the
        # scheduler decides): launches within capacity_cache_seconds share one listing.
        nodes, pods = self._cluster_use.get()
        for req in checked:
            problem = capacity_problem(nodes, pods, req.branch, req.memory_request)
            if problem:
                raise CapacityError(problem)

    def wait(self, island_id: int, timeout: float | None = None, poll: float = 0.1):
        """Block until the island reaches a final state (ready, failed, ...) or timeout."""
        limit = self.islands.ready_timeout + 30 if timeout is None else timeout
        return self._wait_for_row(island_id, FINAL_STATES, limit, poll)

    def _wait_for_row(self, island_id: int, states, timeout: float, interval: float):
        """The island's row once its state is one of ``states``, else as it is when ``timeout``
        has passed (the caller goes on with it: a timeout here is an answer, not a failure)."""
        def arrived():
            row = self.get(island_id)
            return row if row.state in states else None

        try:
            return wait_until(arrived, timeout, f"island {island_id} to be {'/'.join(states)}",
                              clock=self._clock, pause=threading.Event().wait, interval=interval)
        except WaitTimeout as exc:
            log.info("%s; going on with it as it is", exc)
            return self.get(island_id)

    # -- reads ---------------------------------------------------------------------------------
    def get(self, island_id: int):
        row = self.store.get(island_id)
        if row is None:
            raise IslandNotFound(f"no island {island_id}", island_id=island_id)
        return row

    def list(self, owner: str | None = None, branch: str | None = None, states=None):
        return self.store.list(owner=owner, branch=branch, states=states)

    def events(self, island_id: int, limit: int = 200):
        row = self.get(island_id)
        return self.store.events(island_id, generation=row.generation, limit=limit)

    # -- acting on one island --------------------------------------------------------------------
    def _owned(self, island_id: int, user: str | None):
        row = self.get(island_id)
        if row.state == "deleted":
            raise IslandNotFound(f"island {island_id} was deleted", island_id=island_id)
        if user is not None and user != row.owner and user not in self.settings.web.admins:
            raise PermissionDenied(f"island {island_id} belongs to {row.owner}; only its owner or an admin may change it",
                                   island_id=island_id)
        return row

    def delete(self, island_id: int, user: str | None = None, wait: bool = False):
        row = self._owned(island_id, user)
        if row.state == "applying":
            # its apply may still be queued or in flight (a background launch): deleting now
            # could find no pod and free the id just before the pod appears
            row = self.wait_for_state(island_id, AFTER_APPLYING, timeout=APPLY_SETTLE_SECONDS)
            if row.state == "deleted":
                return row
        existed = self.kubectl.delete_pod(row.pod_name, wait=wait)
        if not existed:
            # the pod is confirmed gone: the id and ports are free again
            self.store.transition(row.island_id, row.generation, "deleted", "NotFound",
                                  "pod was already gone when deleted")
        elif wait:
            # kubectl waited until the API server no longer has the pod: confirmed gone
            self.store.transition(row.island_id, row.generation, "deleted", "Deleted",
                                  f"pod {row.pod_name} deleted by {user or 'an operator'}")
        else:
            # Record the request, so a watch gap that hides the DELETED event still ends in
            # `deleted` (re-list: pod missing after a delete) rather than `lost`.
            self.store.transition(row.island_id, row.generation, "terminating", "DeleteRequested",
                                  f"deletion requested by {user or 'an operator'}", expected_from=row.state)
        return self.store.get(island_id)

    def wait_for_state(self, island_id: int, states, timeout: float):
        return self._wait_for_row(island_id, states, timeout, 0.1)

    def restart(self, island_id: int, user: str | None = None):
        """Same id and ports, a new pod (new generation and token)."""
        row = self._owned(island_id, user)
        token = new_token()
        new = self.store.restart(island_id, row.generation, hash_token(token))
        self.kubectl.delete_pod(row.pod_name, wait=True, timeout=120)
        req = validate_launch(LaunchRequest(**self._request_fields(new)), self.islands)
        self.store.transition(new.island_id, new.generation, "applying", "Applying", "restart",
                              expected_from="allocated")
        try:
            self.kubectl.apply([self._render(new, req, token)])
        except KubectlError as exc:
            self._settle_failed_apply([new], exc)
            raise
        return self.store.get(island_id)

    @staticmethod
    def _request_fields(row) -> dict:
        o = row.overrides or {}
        return {"owner": row.owner, "branch": row.branch, "start_time": o.get("start_time", ""),
                "memory": o.get("memory"), "image": o.get("image"), "env": o.get("env") or {}}

    def set_clock(self, island_id: int, text: str, user: str | None = None):
        """Absolute ('2021-09-18 23:30:07': the island reads that now), shift ('+2d') or 'reset'."""
        row = self._owned(island_id, user)
        if row.state not in CHANGEABLE_STATES:
            raise InvalidInput(f"island {island_id} is {row.state}; its clock can be set once its server runs",
                               island_id=island_id)
        setting = clocks.parse_clock(text, real_now=time.time(), current_offset=row.clock_offset_seconds or 0)
        content = clocks.faketime_file_content(setting.offset_seconds)
        result = self.kubectl.exec(
            row.pod_name, SERVER_CONTAINER, ["sh", "-c", 'cat > "$1"', "island-clock", self.islands.faketime_file],
            stdin=(content + "\n").encode(), island_id=island_id)
        if result.exit_code != 0:
            raise KubectlError(f"writing the clock file of island {island_id} failed: {result.stderr.strip()}",
                               stderr=result.stderr, exit_code=result.exit_code, island_id=island_id)
        self.store.set_clock(island_id, row.generation, setting.offset_seconds, setting.text)
        return self.store.get(island_id)

    def reset_clock(self, island_id: int, user: str | None = None):
        return self.set_clock(island_id, "reset", user)

    def logs(self, island_id: int, tail: int | None = 200, container: str = SERVER_CONTAINER) -> str:
        row = self.get(island_id)
        return self.kubectl.logs(row.pod_name, container, tail=tail)

    def follow_logs(self, island_id: int, tail: int = 200, container: str = SERVER_CONTAINER):
        """The log's last ``tail`` lines, then each new line as it comes, until the log ends (the
        pod's end) or the caller stops (Ctrl-C). KubectlError when kubectl ends with a failure."""
        from island_ssh.ssh import StreamTimeout
        row = self.get(island_id)
        # no --request-timeout: a followed log is long-lived; Ctrl-C (or the pod's end) stops it
        cmd = self.kubectl.command("logs", "-f", row.pod_name, "-c", container, f"--tail={tail}",
                                   request_timeout=False)
        with self.kubectl.shell.stream(cmd) as stream:
            while True:
                try:
                    line = stream.get_line(timeout=1.0)
                except StreamTimeout:
                    continue  # quiet log; the SSH layer's keepalive notices a dead master
                if line is None:
                    break
                yield line
            if stream.exit_code not in (0, None):
                raise KubectlError(f"kubectl logs -f ended with exit {stream.exit_code}: "
                                   f"{stream.stderr.strip()[:300]}",
                                   stderr=stream.stderr, exit_code=stream.exit_code, island_id=island_id)

    # -- registration (the container's call) -----------------------------------------------------
    def register(self, island_id: int, token: str, node_ip: str, ports: str, pod_name: str):
        if not token:
            raise PermissionDenied("registration needs the island's token", island_id=island_id)
        return self.store.register(island_id, token, node_ip, ports, pod_name)
