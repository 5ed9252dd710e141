"""One group-committed batch of launches -> `kubectl apply`, in parts applied at once.

kubectl applies the objects of one call one after another, each a round trip to the API server
(and each waiting for a core when the machine is busy starting the pods applied before), so a
batch of 200 islands is 400 sequential requests. ``islands.apply_parallel`` splits a batch into
that many parts (each at least ``islands.apply_part_min`` islands, each island's Secret and Pod
together and in that order) and runs one `kubectl apply` per part at once, each on its own
channel of the SSH pool. Each part has its own outcome; a launch's outcome is its parts'.

The outcomes are the ones a single apply had (``IslandService._apply_batch`` has the why):
ConnectionLost leaves the rows `applying` for the tracker and recover; an error raised before
kubectl ran frees the ids; a KubectlError frees only the ids whose pods are confirmed absent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from island_ssh.core.errors import AuthError, ConnectionLost, HostKeyError, IslandError, KubectlError, StoreError
from island_ssh.core.names import GENERATION_LABEL
from island_ssh.ssh.errors import ConnectError

log = logging.getLogger(__name__)


def split_parts(items: Sequence, parts: int, min_part: int) -> list[list]:
    """``items`` in at most ``parts`` contiguous runs of near-equal length, none shorter than
    ``min_part`` (fewer runs when there are too few items); nothing lost, order kept."""
    count = max(1, min(parts, len(items) // max(1, min_part)))
    size, extra = divmod(len(items), count)
    runs, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        if end > start:
            runs.append(list(items[start:end]))
        start = end
    return runs


class BatchApplier:
    """``__call__(launches) -> [None or exception per launch]`` for GroupCommit.

    store, kubectl: the service's; ``applier()``: the name of this process's applier lease (None:
    lost, apply nothing); ``drop_lease()``: give it up; ``drop_token_secret(row)``: the token
    Secret of a pod that failed."""

    def __init__(self, store, kubectl, applier: Callable[[], str | None], drop_lease: Callable[[], None],
                 drop_token_secret: Callable, parallel: int = 1, min_part: int = 1) -> None:
        self.store = store
        self.kubectl = kubectl
        self._applier = applier
        self._drop_lease = drop_lease
        self._drop_token_secret = drop_token_secret
        self.parallel = parallel
        self.min_part = min_part
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="apply-part") if parallel > 1 else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def __call__(self, launches: list[list[tuple]]) -> list[BaseException | None]:
        # an island deleted while its launch waited in the queue is not applied any more
        queued = [row for launch in launches for row, _ in launch]
        # ... nor one another process resumed (service/resume.py); taking the rows un-queues them
        applier = self._applier()
        try:
            wanted = self.store.start_applies([(row.island_id, row.generation) for row in queued], applier) \
                if applier else set()
        except StoreError as exc:
            # applying blindly could race a resumer with another token: give the lease up, so
            # these rows (still queued under it) are resumed by the next start-up or recover
            log.warning("could not take queued launches for apply (%s); left for start-up/recover", exc)
            self._drop_lease()
            return [exc] * len(launches)
        # each island's documents are [token Secret, Pod] (_render): the Secret goes first in the
        # stream, so it exists when the kubelet starts the pod's container
        islands = [(row, docs) for launch in launches for row, docs in launch
                   if (row.island_id, row.generation) in wanted]
        if not islands:
            return [None] * len(launches)
        parts = split_parts(islands, self.parallel, self.min_part)
        if len(parts) == 1 or self._pool is None:
            outcomes = [self._apply_part(part) for part in parts]
        else:
            outcomes = list(self._pool.map(self._apply_part, parts))
        # island id -> (its part's exception, ids confirmed absent in that part or None: unknown)
        failed: dict[int, tuple[BaseException, set[int] | None]] = {}
        for part, outcome in zip(parts, outcomes):
            if outcome is not None:
                for row, _ in part:
                    failed[row.island_id] = outcome
        return [self._launch_outcome(launch, failed) for launch in launches]

    @staticmethod
    def _launch_outcome(launch, failed) -> BaseException | None:
        for row, _ in launch:
            if row.island_id in failed:
                exc, absent = failed[row.island_id]
                # a KubectlError whose pods all exist anyway (another document failed): succeeded
                if not isinstance(exc, KubectlError) or absent is None or row.island_id in absent:
                    return exc
        return None

    def _apply_part(self, part: list[tuple]) -> tuple[BaseException, set[int] | None] | None:
        docs = [doc for _, island_docs in part for doc in island_docs]
        rows = [row for row, _ in part]
        try:
            # kubectl creates the pods one by one: a fixed timeout would kill a big batch mid-way
            self.kubectl.apply(docs, timeout=60.0 + 0.5 * len(docs))
        except ConnectionLost as exc:
            return exc, None
        except (ConnectError, HostKeyError, AuthError) as exc:
            # raised before kubectl was started: no pod exists, the ids are free again
            for row in rows:
                self.store.transition(row.island_id, row.generation, "deleted", "ApplyFailed", exc.message,
                                      expected_from="applying")
            return exc, {row.island_id for row in rows}
        except KubectlError as exc:
            return exc, self._settle_failed_apply(rows, exc)
        return None

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
                self._drop_token_secret(row)  # applied just before the pod that failed
        return absent
