"""MariaDB restarted in the middle of a launch burst.

The product runs on a private mariadbd (island_ssh.testing.mariadb) that the test stops and
starts again while 16 launches are under way. Launches that meet the outage fail with a typed
StoreError; the tracker loses its lock connection and takes it back; pods registering during the
outage retry (entry.sh) and register. Afterwards `recover` settles rows whose launch died between
two statements, and the issue's invariants hold.
"""

from __future__ import annotations

import threading

import pytest

from faults.helpers import assert_consistent, running_env
from fixtures.island import wait_until
from island_ssh.core.errors import StoreError
from island_ssh.service.recovery import run_recovery
from island_ssh.service.islands import LaunchRequest

pytestmark = pytest.mark.slow


def test_mariadb_restarted_during_a_launch_burst(sandbox, private_mariadb):
    settings = private_mariadb.settings("island_faults")
    with running_env(sandbox, settings, tracker={"restart_backoff": 0.2, "restart_backoff_max": 1.0}) as env:
        launched, refused, other = [], [], []

        def one(i):
            try:
                launched.append(env.service.launch(LaunchRequest(owner=f"dbburst{i}", branch="dev")))
            except StoreError as exc:
                refused.append(exc)
            except Exception as exc:  # noqa: BLE001 - asserted empty below
                other.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        # one launch through (the invariants below need an island) and others still under way
        wait_until(lambda: launched and len(env.store.active()) >= 4, 60, "a launch done, a few under way")
        private_mariadb.restart()
        for t in threads:
            t.join(120)
        assert other == [], other
        assert len(launched) + len(refused) == 16
        assert all("MySQL" in e.message for e in refused), [e.message for e in refused]
        wait_until(lambda: env.tracker.acting.is_set(), 30, "the tracker to take its lock back")
        # rows a launch left between two statements (allocated, or applying with no pod)
        report = run_recovery(env.settings.replace(recover={"stuck_after": 0.0}), env.store, env.kubectl, env.service)
        assert not report.failed, report.summary_lines()
        counts = assert_consistent(env)
        assert counts["islands"] >= len(launched) >= 1
