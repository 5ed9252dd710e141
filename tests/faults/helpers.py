"""What every fault test checks afterwards, and the tools to cause the faults.

``assert_consistent(env)`` is the issue's list of what must hold after any fault: no lost
registration, no duplicate pod, no leaked id or port, every island's final state true in MySQL,
its transitions complete (continuous) in island_events. ``master_processes`` finds the real
processes behind the master's sshd (kubectl, the login shells), to kill or freeze them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
from pathlib import Path

from fixtures.island import IslandEnv, running_island_env, wait_until
from island_ssh.core.podstate import classify
from island_ssh.testing.sshd import proc_table
from island_ssh.kube.tracker import GENERATION_LABEL, SERVER_CONTAINER

log = logging.getLogger(__name__)

SETTLED = ("ready", "failed", "unschedulable", "timeout")
"""States an island in these tests ends in (nothing else should be left once faults are over)."""
LOAD = os.environ.get("ISLAND_SSH_LOAD") == "1"


# -- processes behind the master's sshd ---------------------------------------------------------
def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def master_processes(sandbox, comm: str = "kubectl") -> dict[int, list[str]]:
    """{pid: argv} of every process named ``comm`` below the master's sshd (our sessions)."""
    root = sandbox.sshd.pid
    if root is None:
        return {}
    table = proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        for child in children.get(pid, []):
            if table[child][1] == comm:
                found[child] = _cmdline(child)
            frontier.append(child)
    return found


def _tree(sandbox) -> list:
    root = sandbox.sshd.pid
    table = proc_table()
    out, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        for child, (ppid, comm) in table.items():
            if ppid == pid:
                try:
                    st = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    wchan = Path(f"/proc/{child}/wchan").read_text()
                except OSError:
                    st, wchan = "?", "?"
                out.append((child, pid, comm, st, wchan, " ".join(_cmdline(child))[-60:]))
                frontier.append(child)
    return out


def kubectl_running(sandbox, *words: str) -> list[int]:
    """PIDs of kubectl processes on the master whose argv holds every one of ``words``."""
    return [pid for pid, argv in master_processes(sandbox).items() if all(w in argv for w in words)]


def kill_sessions(sandbox, sig: int = signal.SIGKILL, pids=None) -> list[int]:
    """Signal the per-connection sshd processes (all, or ``pids``): cuts or freezes connections."""
    pids = sandbox.sshd.session_pids() if pids is None else pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return pids


# -- a whole product on a sandbox, with settings of the test's choosing ------------------------------
class FaultEnv(IslandEnv):
    """service, store, kubectl and tracker on a sandbox, plus the registration web app."""

    def __init__(self, sandbox, settings, runtime, web_port: int) -> None:
        super().__init__(settings, sandbox.info, runtime, web_port)
        self.sandbox = sandbox
        self.shell = runtime.shell

    def wait_state(self, island_id: int, states, timeout: float = 90.0):
        return super().wait_state(island_id, states, timeout)

    def wait_settled(self, timeout: float = 120.0) -> None:
        wait_until(lambda: all(r.state in SETTLED for r in self.store.active()), timeout,
                   "every island settled: " + ", ".join(f"{r.island_id}:{r.state}" for r in self.store.active()))

    def tracker_state(self) -> str:
        t = self.tracker
        return (f"tracker acting={t.acting.is_set()} watches={t.watches} alive={t._thread and t._thread.is_alive()} "
                f"last_error={t.last_error!r} rows={[(r.island_id, r.state) for r in self.store.active()]} "
                f"master kubectl={master_processes(self.sandbox)} sessions={self.sandbox.sshd.session_pids()} "
                f"streams={[(s.command[-30:], s.finished.is_set(), s.remote_pid, s.exception, s._out_start.done, s._channel.closed, s._channel.eof_received, len(s._channel.in_buffer), s._lines.qsize(), s._thread.is_alive(), s._channel.get_id(), bytes(s._out_start._buf[:200]), s.stderr[-200:]) for s in self.shell._streams]} "
                f"master={_tree(self.sandbox)}")

    def sandbox_pods(self) -> list[dict]:
        """The managed pods as the API server has them, read locally (not over SSH)."""
        import json
        from island_ssh.kube.kubectl import MANAGED_SELECTOR
        return json.loads(self.sandbox.kubectl_local(self.sandbox.info.kubeconfig, "get", "pods", "-l",
                                                     MANAGED_SELECTOR, "-o", "json"))["items"]

    def cleanup(self) -> None:
        """Delete every pod and release every row, so the next test starts from nothing."""
        self.delete_every_pod()
        try:
            wait_until(lambda: not [r for r in self.store.active() if r.state not in ("allocated", "applying")],
                       20, "the tracker to record every deletion")
        except Exception as exc:  # noqa: BLE001 - a test already reported what went wrong; leave a clean slate
            log.warning("cleanup: %s (%s); releasing the rows directly", exc, self.tracker_state())
        for row in self.store.active():
            self.store.release(row.island_id, row.generation, "TestCleanup")


def running_env(sandbox, db_settings, **changes):
    """The product on ``sandbox`` as a FaultEnv: tests/fixtures/island.py's running_island_env with
    some settings changed (ssh=, tracker=, web= dicts; islands fields as keywords; with_tracker)."""
    return running_island_env(sandbox.info, db_settings, make_env=functools.partial(FaultEnv, sandbox), **changes)


# -- what must hold after a fault -------------------------------------------------------------------
def history(env, row) -> list:
    return [e for e in env.store.events(row.island_id, generation=row.generation, limit=1000)]


def assert_history_complete(env, row) -> None:
    """From allocated to the row's state, each event starting where the previous one ended."""
    events = [e for e in history(env, row) if e.from_state != e.to_state]
    chain = [(e.from_state, e.to_state) for e in events]
    assert events and events[0].to_state == "allocated", (row.island_id, chain)
    for before, after in zip(events, events[1:]):
        assert after.from_state == before.to_state, (row.island_id, chain)
    assert events[-1].to_state == row.state, (row.island_id, row.state, chain)


def assert_consistent(env, settle_timeout: float = 120.0, expect_ready: bool = True) -> dict:
    """The issue's invariants over MySQL and the cluster. Returns counts for the test to check."""
    env.wait_settled(settle_timeout)
    rows = list(env.store.active())
    pods = env.managed_pods()
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    by_id: dict[int, list[dict]] = {}
    for pod in live:
        island_id = classify(pod, SERVER_CONTAINER).island_id
        by_id.setdefault(island_id, []).append(pod)
    # no duplicate pod
    dupes = {i: [p["metadata"]["name"] for p in ps] for i, ps in by_id.items() if len(ps) > 1}
    assert not dupes, f"more than one pod per island id: {dupes}"
    # no leaked id or port: ids and ports distinct, every pod owned by a row, every row owning a pod
    assert len({r.island_id for r in rows}) == len(rows)
    ports = [p for r in rows for p in r.ports]
    assert len(ports) == len(set(ports)), "two islands share a port"
    held = {r.island_id: r for r in rows}
    orphans = [p["metadata"]["name"] for i, ps in by_id.items() for p in ps if i not in held]
    assert not orphans, f"pods without an island row (their ports leak): {orphans}"
    for row in rows:
        pods_of = by_id.get(row.island_id, [])
        assert pods_of, f"island {row.island_id} is {row.state} in MySQL but has no pod"
        pod = pods_of[0]
        assert pod["metadata"]["name"] == row.pod_name
        assert pod["metadata"]["labels"].get(GENERATION_LABEL) == str(row.generation)
        # the final state true in MySQL
        view = classify(pod, SERVER_CONTAINER)
        assert view.state == row.state or (row.state == "timeout" and view.state != "ready"), \
            (row.island_id, row.state, view.state, view.reason)
        assert row.node == view.node
        # no lost registration
        if row.state == "ready":
            reg = wait_until(lambda: env.store.registration(row.island_id), 30,
                             f"island {row.island_id}'s registration")
            assert reg.pod_name == row.pod_name and reg.node_ip == row.host_ip
        assert_history_complete(env, row)
    if expect_ready:
        assert all(r.state == "ready" for r in rows), [(r.island_id, r.state, r.reason, r.message) for r in rows]
    return {"islands": len(rows), "pods": len(live)}


def settle_unknown_applies(env) -> None:
    """Rows left in `applying` by a cut apply: the pod either exists (tracker moves it on) or not
    (release it, as `recover` does once stuck_after passes)."""
    for row in env.store.active():
        if row.state in ("allocated", "applying") and env.kubectl.pod(row.pod_name) is None:
            assert env.store.release(row.island_id, row.generation, "FaultTestSettled",
                                     "no pod after the apply was cut")


def in_thread(fn, *args, **kwargs):
    """Run fn in a thread; the returned box gets result or error, and seconds taken."""
    box = {}

    def run():
        started = time.monotonic()
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
        box["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box
