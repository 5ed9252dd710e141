"""The service killed with SIGKILL in the middle of a launch, then `island-ssh recover`.

The launching process (tests/faults/launch_child.py, a service without a tracker, as a web
worker would be) dies while kubectl applies its batch: rows are left `allocated` or `applying`,
some pods exist. The fixture's tracker (another worker) follows the pods it sees; the real CLI
`island-ssh recover` (stuck_after 0 here) applies again the accepted launches whose pods never
came (issue 11: nothing accepted is lost). Then the issue's invariants hold, every island is
ready, and a new launch gets the lowest free id again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from faults.helpers import assert_consistent, kubectl_running
from fixtures.island import wait_until
from island_ssh.service.islands import LaunchRequest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ISLAND_SSH = Path(sys.executable).parent / "island-ssh"


def write_config(settings, path: Path) -> Path:
    raw = dataclasses.asdict(settings)
    raw.pop("source", None)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


@pytest.mark.skipif(not ISLAND_SSH.exists(), reason="the island-ssh CLI is not installed")
def test_service_killed_mid_launch_then_recover(clean_fault_env, tmp_path):
    env = clean_fault_env
    config = write_config(env.settings.replace(recover={"stuck_after": 0.0}), tmp_path / "island.yaml")
    child = subprocess.Popen([sys.executable, str(HERE / "launch_child.py"), str(config), "30", "killed"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(HERE.parents[1])})
    try:
        wait_until(lambda: child.poll() is not None or (kubectl_running(env.sandbox, "apply") and any(
            r.state not in ("allocated", "applying") for r in env.store.active())), 60, "the child's apply half done")
        assert child.poll() is None, child.communicate(timeout=10)
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    left = [r for r in env.store.active() if r.state in ("allocated", "applying")]
    # the orphaned kubectl on the master ends once it writes to the dead connection
    wait_until(lambda: not kubectl_running(env.sandbox, "apply"), 60, "the orphaned kubectl apply to end")
    done = subprocess.run([str(ISLAND_SSH), "--config", str(config), "recover", "--json"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] == 0, report
    counts = assert_consistent(env)
    assert counts["islands"] >= 1
    # every launch was queued (applying) before its apply began: accepted, so applied again, none released
    assert counts["islands"] == 30 and report["counts"]["release_stuck"] == 0, (counts, report)
    print(f"service killed: {len(left)} rows unsettled at the kill; recover: {report['counts']} "
          f"in {report['seconds']}")
    # nothing leaked: the next launch gets the lowest free id
    held = {r.island_id for r in env.store.active()}
    lowest_free = min(set(range(1, 100)) - held)
    again = env.service.launch(LaunchRequest(owner="after-kill", branch="dev"))
    assert again.island_id == lowest_free
