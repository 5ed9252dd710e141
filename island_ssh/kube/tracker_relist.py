"""The tracker's re-list: what a fresh `kubectl get pods` says that the watch did not.

At the start of each watch the tracker lists at once (the gap between two watches may hide
deletes). While a watch runs it lists again every ``relist_interval`` as a safety net, and that
listing, with reading the active rows and judging them, runs on a thread of its own
(``BackgroundListing``): at 500 pods `kubectl get --raw` over SSH, parsing it and judging 500
rows took up to a second on a busy machine, and the watch lines that came meanwhile waited for
it (the tracker's p99 during a launch burst). The tracker's thread only stores the moves, each
with the state it was judged from as ``expected_from``: a row the watch moved meanwhile refuses.

A listing that ran beside the watch is older than some of the events the tracker has stored
since: a pod created after the listing was taken is missing from it although its row is already
`pending`. So a row is judged by a missing pod only if no watch event newer than the listing
has touched it (``newer_than``: the list's own resourceVersion; without one, the tracker's
position in the watch when the listing started); the watch, still running, reports what happens
to those pods itself.
"""

from __future__ import annotations

import threading
from typing import Callable

from island_ssh.core.podstate import classify
from island_ssh.core.statemachine import IslandSnapshot, on_relist


class BackgroundListing:
    """One listing judged on a thread of its own: ``judge(listing, newer_than)`` gives the moves;
    ``done`` is set when they are ready or the listing failed. (The timeout check of a busy watch
    uses it too, with an empty listing.)"""

    def __init__(self, fetch: Callable[[], dict], judge: Callable[[dict, int], list], watched_rv: int) -> None:
        self.watched_rv = watched_rv
        """The highest resourceVersion the tracker had handled from the watch when this started."""
        self.done = threading.Event()
        self._moves: list | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fetch, judge), name="island-tracker-relist",
                                        daemon=True)
        self._thread.start()

    def _run(self, fetch: Callable[[], dict], judge: Callable[[dict, int], list]) -> None:
        try:
            listing = fetch()
            self._moves = judge(listing, newer_than(listing, self.watched_rv))
        except BaseException as exc:  # noqa: BLE001 -- handed to the tracker's thread by result()
            self._error = exc
        finally:
            self.done.set()

    def result(self) -> list:
        """The (row, transition) moves; raises what the listing or the judging raised."""
        if self._error is not None:
            raise self._error
        assert self._moves is not None
        return self._moves


def newer_than(listing: dict, watched_rv: int) -> int:
    """Rows whose resourceVersion is above this may be newer than the listing: the list's own
    resourceVersion, or without one the watch position when the listing began."""
    try:
        return int((listing.get("metadata") or {}).get("resourceVersion"))
    except (TypeError, ValueError):
        return watched_rv

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def relist_moves(listing: dict, rows, server_container: str, same_incarnation: Callable[[object, dict], bool],
                 newer_than: int | None = None) -> list[tuple[object, object]]:
    """(row, transition) for each active row the listing changes. ``newer_than``: for a listing
    taken beside the watch, the tracker's watch position when it started (see the module)."""
    by_id: dict[int, dict] = {}
    for pod in listing.get("items") or []:
        view = classify(pod, server_container)
        if view.island_id is not None:
            by_id[view.island_id] = pod
    moves = []
    for row in rows:
        if row.state in ("allocated",):
            continue  # nothing applied yet: not ours to judge
        pod = by_id.get(row.island_id)
        if pod is not None and not same_incarnation(row, pod):
            pod = None
        view = classify(pod, server_container) if pod is not None else None
        if view is None and row.state == "applying":
            continue  # apply may still be in flight; recover decides for stuck rows
        if (view is None and newer_than is not None and row.resource_version is not None
                and row.resource_version > newer_than):
            continue  # the watch saw this pod after the listing began: the listing may predate it
        transition = on_relist(IslandSnapshot.of(row), view)
        if transition is not None:
            moves.append((row, transition))
    return moves
