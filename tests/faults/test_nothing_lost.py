"""Nothing accepted is lost (issue 11): the web process SIGKILLed after answering 201 to a burst of
launches, and in the middle of a restart; one start of the service (or one `island-ssh recover`)
then brings every island up, and none is released without a user asking.

The web process is tests/faults/web_child.py: the real app under waitress, killed at a hold
point (no sleep decides where). The fixture's tracker is the other worker that follows the
pods; the sandbox is the cluster. On the code before the durable queue, the killed launches
stayed `applying` with no pod (no start applied them) and recover, once stuck_after passed,
released them; the killed restart stayed `allocated` with no pod of its generation (recover
deletes the old pod as an orphan and, past stuck_after, releases the island): every test here
times out waiting for `ready` or finds no `reapply` in the report. Checked by running these
tests on a copy of the tree with the start-up resume and recover's reapply of applying rows
turned back into the old behaviour: all three fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from faults.helpers import assert_consistent, history, in_thread
from faults.test_service_killed import ISLAND_SSH, write_config
from fixtures.island import wait_until
from island_ssh.core.names import GENERATION_LABEL
from island_ssh.service.islands import LaunchRequest
from island_ssh.testing import free_port

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
TOKEN = "tok-durable-0123456789abcdef0123456789"
USER = "durable"
LAUNCHES = 10


class Child:
    """web_child.py as a process; its stdout lines are read on a thread and waited for."""

    def __init__(self, config: Path, hold: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(HERE / "web_child.py"), str(config), str(self.port), hold],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(HERE.parents[1])})
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_line(self, wanted: str, timeout: float = 60.0) -> None:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"web child never printed {wanted!r} within {timeout} s") from None
            if line is None:
                raise AssertionError(f"web child ended before {wanted!r}: {self.proc.stderr.read()[-3000:]}")
            if line == wanted:
                return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        assert self.proc.poll() is None, self.proc.stderr.read()[-3000:]
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        assert self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@contextlib.contextmanager
def web_child(config: Path, hold: str):
    child = Child(config, hold)
    try:
        child.wait_line("serving")
        yield child
    finally:
        child.stop()


def config_for(env, tmp_path, **recover) -> Path:
    settings = env.settings.replace(web={"users": {TOKEN: USER}, "admins": [USER],
                                         "secret_key": "fault-test-secret-key-not-for-production"},
                                    recover={"stuck_after": 3600.0, **recover})
    return write_config(settings, tmp_path / "island.yaml")


def post(url: str, body: dict | None = None) -> requests.Response:
    return requests.post(url, json=body or {}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)


def changes(env, row) -> list[tuple]:
    """The generation's history as (from, to, reason), state changes and re-queues only."""
    return [(e.from_state, e.to_state, e.reason) for e in history(env, row)
            if e.from_state != e.to_state or e.reason == "Reapplied"]


def test_web_killed_after_201_then_one_start_applies_every_launch(clean_fault_env, tmp_path):
    env = clean_fault_env
    # stuck_after 1 h: nothing here may depend on an island looking old
    config = config_for(env, tmp_path)
    with web_child(config, "start") as child:
        with ThreadPoolExecutor(LAUNCHES) as pool:
            answers = list(pool.map(lambda i: post(f"{child.url}/api/islands", {"branch": "dev"}), range(LAUNCHES)))
        assert [a.status_code for a in answers] == [201] * LAUNCHES, [a.text[:300] for a in answers]
        child.wait_line("holding start")  # the worker holds its batch: no apply has run
        ids = sorted(a.json()["id"] for a in answers)
        accepted = env.store.get_many(ids)
        assert all(r.state == "applying" and r.applier for r in accepted), [(r.island_id, r.state) for r in accepted]
        child.kill()
    assert not [p for p in env.sandbox_pods() if p["metadata"]["name"] in {r.pod_name for r in accepted}]
    assert {r.island_id for r in env.store.orphaned_applies()} == set(ids)
    # one start of the web process: it applies what the dead one accepted
    with web_child(config, "none"):
        for island_id in ids:
            env.wait_state(island_id, "ready", timeout=120)
    for before in accepted:
        row = env.store.get(before.island_id)
        assert (row.state, row.generation, row.owner, row.pod_name) == ("ready", before.generation, USER,
                                                                         before.pod_name)
        assert row.token_hash != before.token_hash  # a new token: the old one was never given to a pod
        steps = changes(env, row)
        assert steps[:3] == [(None, "allocated", "Allocated"), ("allocated", "applying", "Applying"),
                             ("applying", "applying", "Reapplied")], steps
        assert steps[-1][1] == "ready" and not [s for s in steps if s[1] == "deleted"], steps
        assert env.store.registration(row.island_id) is not None
    assert not env.store.orphaned_applies()
    counts = assert_consistent(env)
    assert counts["islands"] == LAUNCHES


@pytest.mark.parametrize("hold", ["delete", "start"])
@pytest.mark.skipif(not ISLAND_SSH.exists(), reason="the island-ssh CLI is not installed")
def test_web_killed_mid_restart_then_recover_finishes_it(clean_fault_env, tmp_path, hold):
    """hold=delete: killed after the generation commit, the old pod still there; hold=start:
    killed after the old pod was deleted, before the new one was applied."""
    env = clean_fault_env
    old = env.service.launch(LaunchRequest(owner=USER, branch="dev"))
    old = env.wait_state(old.island_id, "ready")
    config = config_for(env, tmp_path)
    with web_child(config, hold) as child:
        thread, box = in_thread(post, f"{child.url}/api/islands/{old.island_id}/restart")
        child.wait_line(f"holding {hold}")
        mid = env.store.get(old.island_id)
        assert (mid.generation, mid.state) == (old.generation + 1, "applying") and mid.applier
        old_pod = [p for p in env.sandbox_pods() if p["metadata"]["name"] == old.pod_name]
        assert bool(old_pod) == (hold == "delete")
        child.kill()
    thread.join(30)
    assert "result" not in box  # the restart never answered: its process died
    # one recover run (stuck_after 1 h: the dead process's lock, not the row's age, decides)
    done = subprocess.run([str(ISLAND_SSH), "--config", str(config), "recover", "--json"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] == 0 and report["counts"]["reapply"] == 1, report
    assert report["counts"]["release_stuck"] == report["counts"]["release"] == 0, report
    row = env.wait_state(old.island_id, "ready", timeout=120)
    # the new island: same id, ports and owner, the next generation, its pod labelled so
    assert (row.generation, row.ports, row.owner, row.pod_name) == (old.generation + 1, old.ports, USER, old.pod_name)
    (pod,) = [p for p in env.sandbox_pods() if p["metadata"]["name"] == row.pod_name
              and not p["metadata"].get("deletionTimestamp")]
    assert pod["metadata"]["labels"][GENERATION_LABEL] == str(row.generation)
    assert changes(env, old)[-1] == ("ready", "deleted", "Restarted")
    steps = changes(env, row)
    assert steps[:3] == [(None, "allocated", "Restart"), ("allocated", "applying", "Applying"),
                         ("applying", "applying", "Reapplied")], steps
    assert steps[-1][1] == "ready" and not [s for s in steps if s[1] == "deleted"], steps
    assert_consistent(env)
