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
from island_ssh.service.applying import BatchApplier
from island_ssh.service.batching import GroupCommit, SingleFlight
from island_ssh.service import clock_lifecycle, listing
from island_ssh.service.clocks import ClockService
from island_ssh.service.resume import ApplierLease, resume_applies
from island_ssh.service.audit import Actor, AuditLog
from island_ssh.service.quotas import QuotaService
from island_ssh.service.notify import Notifier
from island_ssh.service.leases import LeaseService
from island_ssh.service.idle import IdleService
from island_ssh.service.usage import UsageService
from island_ssh.service.code_versions import CodeVersionService
from island_ssh.service.metrics import observe_capacity  # node memory gauges from this listing
from island_ssh.core.capacity import capacity_problem
from island_ssh.core.settings import Settings
from island_ssh.core.errors import (AllocationError, CapacityError, ConfigError, IslandError, IslandNotFound,
                                   InvalidInput, KubectlError, LineTooLong, PermissionDenied, StoreError, StreamTimeout)
from island_ssh.kube.kubectl import Kubectl
from island_ssh.core.polling import WaitTimeout, wait_until
from island_ssh.core.manifests import IslandSpec, pod_name, render_pod
from island_ssh.core.token_secret import render_secret
from island_ssh.core.names import (CHANGEABLE_STATES, FINAL_STATES, GENERATION_LABEL, ISLAND_STATES,
                                   OWNER_ID_ANNOTATION, SERVER_CONTAINER, STUCK_STATES)
from island_ssh.core.identity import User, validate_user_id
from island_ssh.core.log_text import LogText, cut_log
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
    """The display name shown with the island."""
    branch: str | None = None
    start_time: str = ""
    memory: str | None = None
    image: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    is_admin: bool = False
    """May the asker choose islands.admin_images too (the face says who is an admin)."""
    owner_id: str | None = None
    """The owner's stable user id, what permission checks compare; None takes ``owner`` as the id."""
    lease: str | None = None
    """How long the island lives ('8h', '2d', core.lease); None or empty: islands.lease_default."""
    by: User | None = None
    """Who asks (the web's user, for the audit log and their quota groups); None: the operator."""


def acting_user(user: User | str | None) -> User | None:
    """None is the operator (no owner check); a plain string, as internal callers and old tests
    pass, is a user whose id and name are that string."""
    return User(id=user, name=user) if isinstance(user, str) else user


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
        self.secret_template = load_template("secret")
        if self.islands.apply_batch_max < 1:
            raise ConfigError(f"islands.apply_batch_max: {self.islands.apply_batch_max}; at least 1 pod per apply")
        if self.islands.apply_parallel < 1 or self.islands.apply_part_min < 1:
            raise ConfigError(f"islands.apply_parallel ({self.islands.apply_parallel}) and apply_part_min "
                              f"({self.islands.apply_part_min}) must be at least 1")
        # rows queued for apply name this process's lock: if it dies, they are resumed (resume.py)
        self.lease = ApplierLease(store)
        # launches arriving together (a burst of REST POSTs) share one batch, applied in up to
        # apply_parallel parts at once, and one capacity listing
        self._batch_applier = BatchApplier(store, kubectl, self.lease.current, self.lease.drop, self._drop_token_secret,
                                           parallel=self.islands.apply_parallel, min_part=self.islands.apply_part_min)
        self._applies = GroupCommit(self._apply_batch, max_batch=self.islands.apply_batch_max,
                                    on_dropped=self._background_apply_failed)
        self._cluster_use = SingleFlight(self._list_cluster_use, ttl=self.islands.capacity_cache_seconds)
        # who did what (service/audit.py): record() never raises into the action
        self.audit = AuditLog(store, settings.web.admins)
        self.quotas = QuotaService(settings, store, self.audit)  # per-owner limits (service/quotas.py)
        # webhooks (service/notify.py): emit() only queues; a no-op without notify.webhooks
        self.notify = Notifier(getattr(settings, "notify", None), store)
        # every island ends (service/leases.py): extend, warn, expire
        self.leases = LeaseService(self)
        # idle islands (service/idle.py): the batched probe of game ports, idle marks, idle expiry
        self.idle = IdleService(self)
        # the island's clock as state (service/clocks.py): change, proof, history, timelines
        self.clocks = ClockService(self)
        self.usage = UsageService(self)  # per-island memory/cpu from metrics.k8s.io (service/usage.py)
        self.code_versions = CodeVersionService(self)  # code each island mounted vs its branch's now (service/code_versions.py)
        from island_ssh.service.remains import RemainsService  # noqa: PLC0415 (crash forensics, service/remains.py)
        self.remains = RemainsService(self)

    def close(self) -> None:
        self.clocks.stop()
        self.idle.stop()
        self.notify.close()
        self.lease.close()
        self._batch_applier.close()

    def resume_applies(self, targets=None, unqueued_ok: bool = False):
        """Apply again what was accepted and never applied (service.resume); start-up and recover."""
        return resume_applies(self, targets, unqueued_ok=unqueued_ok)

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
        lease_seconds = [self.leases.launch_seconds(getattr(r, "lease", None)) for r in requests]
        owner_ids = [validate_user_id(r.owner_id) if getattr(r, "owner_id", None) is not None else c.owner
                     for r, c in zip(requests, checked)]
        if self.islands.capacity_check:
            self._check_capacity(checked)
        rows, docs = [], []
        by = next((r.by for r in requests if getattr(r, "by", None) is not None), None)
        try:  # quotas.py: the whole batch fits the owners' quotas, decided under their MySQL locks
            with self.quotas.allocating(checked, owner_ids, by):
                for req, owner_id, lease in zip(checked, owner_ids, lease_seconds):
                    row, doc = self._allocate_and_render(req, owner_id, lease)
                    rows.append(row)
                    docs.append(doc)
        except AllocationError:
            for row in rows:
                self.store.release(row.island_id, row.generation, "AllocationFailed")
            raise
        # the queue is durable from here: the rows name this process's lock (service/resume.py)
        self.store.queue_applies([(row.island_id, row.generation) for row in rows], self.lease.name())
        self.audit.record_rows(Actor.of(by), "launch", rows)
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
        """The kubectl apply of one batch of launches (service/applying.py); each launch's outcome."""
        return self._batch_applier(launches)

    @staticmethod
    def _background_apply_failed(launch: list[tuple], exc: BaseException) -> None:
        # the islands' rows already say what happened (deleted/ApplyFailed, or still applying
        # for the tracker and recover after a lost connection); this is for the operator's log
        ids = ", ".join(str(row.island_id) for row, _ in launch)
        log.warning("background apply of island %s failed: %s", ids, exc)

    def _allocate_and_render(self, req, owner_id: str, lease_seconds: float | None = None):
        token = new_token()
        row = self.store.allocate(
            owner=req.owner, owner_id=owner_id, branch=req.branch,
            pod_name_fn=lambda island_id: pod_name(req.owner, req.branch, island_id),
            overrides=req.overrides(), token_hash=hash_token(token), settings=self.islands,
            lease_seconds=self.leases.policy.default if lease_seconds is None else lease_seconds)
        if req.start_time:
            offset = clocks.initial_offset(req.start_time, time.time())
            self.store.set_clock(row.island_id, row.generation, offset, req.start_time)
            clock_lifecycle.on_launch(self.clocks, row, req.start_time)
        return row, self._render(row, req, token, clock_arg=req.start_time)

    def _render(self, row, req, token: str, clock_arg: str | None = None) -> list[dict]:
        """The island's documents for one apply: its token Secret, then its Pod (which only
        references the Secret: the token is not readable with `get pods`). ``clock_arg``: the
        entry script's clock argument; None takes the island's stored clock (a re-apply), else
        the launch's start time (service/clock_lifecycle.py)."""
        if clock_arg is None:
            clock_arg = clock_lifecycle.entry_arg(self.clocks, row, req.start_time, reanchor=True)
        spec = IslandSpec(
            island_id=row.island_id, owner=req.owner, branch=req.branch, start_time=clock_arg,
            memory_request=req.memory_request, memory_limit=req.memory_limit, image=req.image,
            extra_env=dict(req.env), token=token, debug_flag=self.islands.debug_flag)
        pod = render_pod(spec, self.islands, self.settings.kube.namespace, self.pod_template)
        pod["metadata"]["labels"][GENERATION_LABEL] = str(row.generation)
        pod["metadata"]["annotations"][OWNER_ID_ANNOTATION] = row.owner_id or req.owner
        secret = render_secret(row.island_id, row.generation, token, self.settings.kube.namespace,
                               self.secret_template)
        return [secret, pod]

    def _drop_token_secret(self, row) -> None:
        """The island's token goes with it; if kubectl cannot say so now, recover sweeps it."""
        try:
            self.kubectl.delete_token_secret(row.island_id, row.generation)
        except IslandError as exc:
            log.warning("island %s: its token Secret was not deleted (%s); `island-ssh recover` sweeps it",
                        row.island_id, exc)

    def _list_cluster_use(self) -> tuple[list, list]:
        nodes = self.kubectl.nodes()
        return observe_capacity(nodes, self.kubectl.pods(selector="").get("items", []) if nodes else [])

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

    def list(self, owner: str | None = None, branch: str | None = None, states=None, owner_id: str | None = None):
        return self.store.list(owner=owner, branch=branch, states=states, owner_id=owner_id)

    def list_page(self, **filters):
        """One page, the total and the page's registrations in one read (service/listing.py)."""
        return listing.list_page(self.store, **filters)

    def events(self, island_id: int, limit: int = 200):
        row = self.get(island_id)
        return self.store.events(island_id, generation=row.generation, limit=limit)

    # -- acting on one island --------------------------------------------------------------------
    def _owned(self, island_id: int, user: User | str | None, deleted_ok: bool = False):
        """The island's row if ``user`` may act on it: None (the operator), an admin, or the user
        whose id is the row's owner_id. Ids only: a display name decides nothing (namesakes)."""
        row = self.get(island_id)
        if row.state == "deleted" and not deleted_ok:
            raise IslandNotFound(f"island {island_id} was deleted", island_id=island_id)
        who = acting_user(user)
        if who is not None and not (who.is_admin or who.id in self.settings.web.admins
                                    or (row.owner_id and who.id == row.owner_id)):
            raise PermissionDenied(f"island {island_id} belongs to {row.owner}; only its owner or an admin may "
                                   f"change it or read its logs", island_id=island_id)
        return row

    def delete(self, island_id: int, user: str | None = None, wait: bool = False):
        row = self._owned(island_id, user)
        who = acting_user(user)
        by = f"{who.name} ({who.id})" if who is not None and who.name != who.id else (who.id if who else "an operator")
        if row.state == "applying":
            # its apply may still be queued or in flight (a background launch): deleting now
            # could find no pod and free the id just before the pod appears
            row = self.wait_for_state(island_id, AFTER_APPLYING, timeout=APPLY_SETTLE_SECONDS)
            if row.state == "deleted":
                return row
        existed = self.kubectl.delete_pod(row.pod_name, wait=wait)
        self._drop_token_secret(row)
        if not existed:
            # the pod is confirmed gone: the id and ports are free again
            self.store.transition(row.island_id, row.generation, "deleted", "NotFound",
                                  "pod was already gone when deleted")
        elif wait:
            # kubectl waited until the API server no longer has the pod: confirmed gone
            self.store.transition(row.island_id, row.generation, "deleted", "Deleted",
                                  f"pod {row.pod_name} deleted by {by}")
        else:
            # Record the request, so a watch gap that hides the DELETED event still ends in
            # `deleted` (re-list: pod missing after a delete) rather than `lost`.
            self.store.transition(row.island_id, row.generation, "terminating", "DeleteRequested",
                                  f"deletion requested by {by}", expected_from=row.state)
        self.audit.record(Actor.of(who), "delete", row.island_id, row.generation, f"{row.owner}'s island, pod "
                          f"{row.pod_name}", owner_id=row.owner_id or row.owner)
        if who is None or who.id != (row.owner_id or row.owner):  # the owner hears of it (service/notify.py)
            self.notify.emit("deleted-by-other", row, actor=by, actor_id=who.id if who else "",
                             key=f"deleted-by-other:{row.island_id}:{row.generation}")
        return self.store.get(island_id)

    def wait_for_state(self, island_id: int, states, timeout: float):
        return self._wait_for_row(island_id, states, timeout, 0.1)

    def restart(self, island_id: int, user: str | None = None):
        """Same id and ports, a new pod (new generation and token). Ends as the old island or
        the new one, never as nothing, whatever step a crash (SIGKILL, power loss) cuts:

        1. validate and render the new pod from the row. A refusal changes nothing.
        2. ONE commit: generation N+1, ``applying``, queued under this process's lock
           (store.restart_queued). A crash before it leaves the old island untouched.
        3. delete the old pod, waiting until it is gone. A crash between 2 and the end of 3
           leaves N+1 ``applying`` beside the old pod (generation N, maybe terminating) and its
           queueing lock free: start-up or recover resumes it (service/resume.py), deleting
           the old pod first, then applying N+1.
        4. the apply, on the group-commit worker (taking the row for kubectl un-queues it). A
           crash between 3 and 4 leaves N+1 ``applying``, no pod, lock free: resumed likewise.
           A crash while kubectl runs: the pod exists (the tracker follows it) or not (recover,
           past recover.stuck_after, applies it again: ``reapply``).
        A failed delete (SSH down) un-queues the row for recover to finish; an apply kubectl
        refuses ends the island deleted/ApplyFailed, as it ends a launch.
        """
        row = self._owned(island_id, user)
        token = new_token()
        req = validate_launch(LaunchRequest(**self._request_fields(row)), self.islands)
        clock_state, rendered_at = clock_lifecycle.stored_state(self.clocks, row), time.time()
        clock_arg = clock_lifecycle.entry_arg(self.clocks, row, req.start_time, clock_state, rendered_at)
        doc = self._render(dataclasses.replace(row, generation=row.generation + 1), req, token, clock_arg)
        new = self.store.restart_queued(island_id, row.generation, hash_token(token), self.lease.name())
        self.audit.record(Actor.of(acting_user(user)), "restart", island_id, new.generation,
                          f"generation {row.generation} -> {new.generation}", owner_id=row.owner_id or row.owner)
        clock_lifecycle.restarted(self.clocks, island_id, new.generation, clock_state, clock_arg, rendered_at,
                                  clock_lifecycle.actor_ref(user))
        try:
            self.kubectl.delete_pod(row.pod_name, wait=True, timeout=120)
        except IslandError:
            self.store.start_applies([(new.island_id, new.generation)], self.lease.name())
            raise
        self._drop_token_secret(row)
        self._applies.submit([(new, doc)])
        return self.store.get(island_id)

    @staticmethod
    def _request_fields(row) -> dict:
        o = row.overrides or {}
        return {"owner": row.owner, "branch": row.branch, "start_time": o.get("start_time", ""),
                "memory": o.get("memory"), "image": o.get("image"), "env": o.get("env") or {},
                # the image was allowed at launch (perhaps by an admin's list); one since removed
                # from both lists is refused
                "is_admin": True}

    def set_clock(self, island_id: int, text: str, user: str | None = None):
        """Change the island's clock (service/clocks.py: ClockService.change, with its proof);
        the island's row after it, as faces written before issue 13 expect."""
        self.clocks.change(island_id, text, user)
        return self.store.get(island_id)

    def reset_clock(self, island_id: int, user: str | None = None):
        return self.set_clock(island_id, "reset", user)

    def logs(self, island_id: int, tail: int | None = 200, container: str = SERVER_CONTAINER,
             user: User | str | None = None) -> str:
        """``user`` None: the operator. Logs are the owner's (and admins'): a server log can hold
        what the tester typed and the game's secrets, so namesakes and others are refused."""
        return self.read_logs(island_id, tail, container, user).text

    def read_logs(self, island_id: int, tail: int | None = 200, container: str = SERVER_CONTAINER,
                  user: User | str | None = None) -> LogText:
        """As ``logs``, with whether the text was cut at islands.log_limit_bytes (LogText.note)."""
        row = self._owned(island_id, user, deleted_ok=True)
        limit = self.islands.log_limit_bytes
        # one byte more than shown: getting it back says the log went on (core.log_text)
        return cut_log(self.kubectl.logs(row.pod_name, container, tail=tail, limit_bytes=limit + 1), limit)

    def follow_logs(self, island_id: int, tail: int = 200, container: str = SERVER_CONTAINER,
                    user: User | str | None = None):
        """The log's last ``tail`` lines, then each new line as it comes, until the log ends (the
        pod's end) or the caller stops (Ctrl-C). KubectlError when kubectl ends with a failure."""
        row = self._owned(island_id, user, deleted_ok=True)
        limit = self.islands.log_limit_bytes
        # a user's read: one of their few channels (ReadChannelsBusy when none is free); a line
        # over the limit ends it, and a slow reader pauses kubectl instead of piling lines up here
        with self.kubectl.follow_logs(row.pod_name, container, tail, max_line=limit, max_buffered=limit) as stream:
            while True:
                try:
                    line = stream.get_line(timeout=1.0)
                except StreamTimeout:
                    continue  # quiet log; the SSH layer's keepalive notices a dead master
                except LineTooLong:
                    raise LineTooLong(f"island {island_id}'s log has a line longer than {limit} bytes "
                                      f"(islands.log_limit_bytes); the follow stopped. `island-ssh logs "
                                      f"{island_id}` shows the log cut at that size", island_id=island_id) from None
                if line is None:
                    break
                yield line
            if stream.exit_code not in (0, None):
                raise KubectlError(f"kubectl logs -f ended with exit {stream.exit_code}: "
                                   f"{stream.stderr.strip()[:300]}",
                                   stderr=stream.stderr, exit_code=stream.exit_code, island_id=island_id)

    # -- registration (the container's call) -----------------------------------------------------
    def register(self, island_id: int, token: str, node_ip: str, ports: str, pod_name: str, code_version=None):
        # a missing token gets the store's one refusal, like a wrong one (no id probing)
        result = self.store.register(island_id, token or "", node_ip, ports, pod_name, code_version)
        if result.created:  # the first call of this launch; an entry script's retries are not news
            self.audit.record(Actor.pod(pod_name), "register", island_id, result.generation, f"node {node_ip}, ports {ports}")
        clock_lifecycle.registered(self.clocks, island_id)  # its server starts now: the clock's anchor
        return result
