"""The API server ending watches early: this sandbox ends every watch after 3 s.

`kubectl get -w` then exits 0 without a word; the tracker restarts it and re-lists. Nothing may
be missed in the gaps: every island's history is complete, a deletion in a gap is recorded.
"""

from __future__ import annotations

import pytest

from faults.helpers import assert_consistent, running_env
from fixtures.faults import FAULT_SSH, FAULT_TRACKER
from fixtures.island import wait_until
from island_ssh.service.islands import LaunchRequest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_watch_env(short_watch_sandbox, db_settings):
    with running_env(short_watch_sandbox, db_settings, ssh=FAULT_SSH, tracker=FAULT_TRACKER) as env:
        yield env


def test_watches_ended_by_the_api_server_lose_no_transition(short_watch_env):
    env = short_watch_env
    first = env.tracker.watches
    rows = env.service.launch_many([LaunchRequest(owner=f"short{i}", branch="dev" if i % 3 else "weekly")
                                    for i in range(12)])
    counts = assert_consistent(env)
    assert counts["islands"] == 12
    # delete one while watches keep ending: its end is recorded whichever watch (or re-list) sees it
    victim = rows[0]
    env.service.delete(victim.island_id)
    env.wait_state(victim.island_id, "deleted", timeout=60)
    # wait through at least three more watch ends: nothing changes, nothing is duplicated
    seen = env.tracker.watches
    wait_until(lambda: env.tracker.watches >= seen + 3, 30, "three more watches")
    assert env.tracker.watches - first >= 4
    assert env.tracker.last_error is None, env.tracker.last_error
    for row in rows[1:]:
        events = env.store.events(row.island_id, generation=row.generation)
        assert [e.to_state for e in events].count("ready") == 1, [(e.from_state, e.to_state) for e in events]
    assert_consistent(env)
