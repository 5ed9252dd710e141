"""Notifications end to end on the sandbox: real sshd, kubectl, MariaDB, island processes, the
tracker storing transitions, the web app's delivery worker, a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import contextlib

import pytest

from fixtures.island import IslandEnv, make_settings
from island_sandbox.product import running_product
from island_ssh.core.identity import User
from island_ssh.core.settings import NotifySettings, WebhookSettings
from island_ssh.service.islands import LaunchRequest
from island_ssh.store.notify import NotifyStore
from island_ssh.testing import free_port
from island_ssh.testing.waiting import wait_for
from service.webhook_receiver import running_receiver

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def receiver():
    with running_receiver() as rx:
        yield rx


@pytest.fixture(scope="module")
def notify_env(sandbox_info, db_settings, receiver):
    web_port = free_port()
    template = '{"kind": "{event}", "id": "{island_id}", "owner": "{owner}", "reason": "{reason}", "text": "{text}"}'
    settings = make_settings(db_settings, sandbox_info, web_port).replace(notify=NotifySettings(
        webhooks=[WebhookSettings(name="e2e", url=receiver.base + "/ok", template=template)],
        backoff=0.1, poll_interval=0.2))
    with running_product(settings, web_port, watch_timeout=30) as runtime:
        env = IslandEnv(settings, sandbox_info, runtime, web_port)
        try:
            yield env
        finally:
            with contextlib.suppress(Exception):
                env.cleanup()


def received(receiver, island_id: int, kind: str, timeout: float = 60.0) -> dict:
    return wait_for(lambda: next((b for b in receiver.bodies("/ok") if b["id"] == island_id and b["kind"] == kind),
                                 None), timeout, f"a {kind!r} notification of island {island_id}")


def test_a_launched_island_notifies_ready_and_a_failing_one_failed_with_its_reason(notify_env, receiver):
    env = notify_env
    good = env.service.launch(LaunchRequest(owner="刘电波", branch="dev"))
    bad = env.service.launch(LaunchRequest(owner="erin", branch="dev",
                                           env={"ISLAND_SERVER_FAIL": "crash:3", "ISLAND_SERVER_FAIL_AFTER": "0"}))
    ready = received(receiver, good.island_id, "ready")
    assert ready["owner"] == "刘电波" and ready["text"].startswith(f"island {good.island_id} (刘电波, dev) is ready on")
    failed = received(receiver, bad.island_id, "failed")
    row = env.wait_state(bad.island_id, "failed")
    assert failed["reason"] == row.reason == "Error"
    assert failed["text"].startswith(f"island {bad.island_id} (erin, dev) failed: Error")
    # each once, and recorded as delivered
    kinds = [(b["id"], b["kind"]) for b in receiver.bodies("/ok")]
    assert kinds.count((good.island_id, "ready")) == 1 and kinds.count((bad.island_id, "failed")) == 1
    # the receiver has the body before the worker records its answer: wait for the record
    def states():
        return {(r.island_id, r.event): r.state for r in NotifyStore(env.store).recent(50)}
    wait_for(lambda: states().get((good.island_id, "ready")) == states().get((bad.island_id, "failed")) == "delivered",
             30, f"both notifications recorded as delivered (now {states()})")
    env.service.delete(good.island_id, user=User(id="u-root", name="王管理", is_admin=True))  # the owner hears
    gone = received(receiver, good.island_id, "deleted-by-other")
    assert gone["text"] == f"island {good.island_id} (刘电波, dev) was deleted by 王管理 (u-root)"
