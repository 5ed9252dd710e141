"""Leases on the whole product (sandbox, real MariaDB, kubectl over SSH, pods as processes, a real
HTTP receiver on 127.0.0.1 for the webhooks): an island's lease runs out and the lease reaper
deletes it (reason LeaseExpired) after its warning was sent; the recover job does the same from
cron; extending past the maximum is refused in words; every face shows the time left."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import timedelta

import pytest

from fixtures.island import IslandEnv, make_settings, wait_until
from island_sandbox.product import running_product
from island_ssh.core.errors import InvalidInput
from island_ssh.core.settings import NotifySettings, WebhookSettings
from island_ssh.service.islands import LaunchRequest
from island_ssh.testing import free_port

from .recovery_helpers import island_ssh_cmd, recover, write_config
from .webhook_receiver import running_receiver

pytestmark = pytest.mark.slow

ID_RANGE = {"id_min": 740, "id_max": 759}
"""Ids (so host ports on the shared node addresses) no other test module hands out."""
SHORT = {"lease_default": "10m", "lease_max": "1h", "lease_warning": "3s", "lease_min": "1s"}
TOKEN, OTHER = "tok-lease-0123456789abcdef0123456789", "tok-other-0123456789abcdef0123456789"
WEB = {"users": {TOKEN: "u-lease", OTHER: "u-other"}, "admins": [],
       "secret_key": "test-secret-key-not-for-production"}


@contextlib.contextmanager
def product(sandbox_info, db_settings, receiver=None, **islands):
    """The product on the sandbox with short leases (one per test module: the tracker's lock)."""
    web_port = free_port()
    settings = make_settings(db_settings, sandbox_info, web_port, web=WEB, **{**ID_RANGE, **SHORT, **islands})
    if receiver is not None:
        settings = settings.replace(notify=NotifySettings(
            webhooks=[WebhookSettings(name="leases", url=receiver.base + "/ok", events=["lease-warning", "expired"])],
            backoff=0.05, backoff_max=0.2, poll_interval=0.05, attempts=4))
    with running_product(settings, web_port) as runtime:
        env = IslandEnv(settings, sandbox_info, runtime, web_port)
        try:
            yield env
        finally:
            env.cleanup()


@pytest.fixture(scope="module")
def receiver():
    with running_receiver() as rx:
        yield rx


@pytest.fixture(scope="module")
def env(sandbox_info, db_settings, receiver):
    """The product with its lease reaper passing every 0.2 s and webhooks to ``receiver``."""
    with product(sandbox_info, db_settings, receiver, lease_check_interval=0.2) as env:
        yield env


def ready(env, owner: str, lease: str | None = None):
    row = env.service.launch(LaunchRequest(owner=owner, branch="dev", lease=lease, owner_id="u-lease"))
    return env.wait_state(row.island_id, "ready", timeout=60)


def reasons(env, island_id: int, generation: int) -> list[str]:
    return [f"{e.to_state}/{e.reason}" for e in env.store.events(island_id, generation=generation)]


def audit_actions(env, row) -> list[tuple[str, str]] | None:
    """The audit log's (action, actor kind) of this island's generation, oldest first (None
    while the audit log is not there)."""
    audit = getattr(env.service, "audit", None)
    if audit is None:
        return None
    entries = audit.query(island_id=row.island_id, limit=100)
    return [(e["action"], (e.get("actor") or {}).get("kind", "")) for e in reversed(entries)
            if e.get("generation") in (None, row.generation)]


def test_a_lease_runs_out_and_the_island_is_deleted_after_its_warning(env, receiver):
    row = ready(env, "lease-owner")
    assert row.lease_expires_at is not None
    # '6s' from now: the warning (3 s before the end) comes first, then the reaper deletes it
    env.service.leases.extend(row.island_id, "6s", user=None)
    gone = wait_until(lambda: (r := env.store.get(row.island_id)).state == "deleted" and r, 40,
                      "the lease reaper to delete the island")
    assert gone.reason == "LeaseExpired", reasons(env, row.island_id, row.generation)
    assert wait_until(lambda: env.kubectl.pod(row.pod_name) is None, 30, "the pod to be gone")
    history = reasons(env, row.island_id, row.generation)
    warned, ending = history.index("ready/LeaseWarning"), history.index("terminating/LeaseExpired")
    assert history.index("ready/LeaseExtended") < warned < ending and history[-1] == "deleted/LeaseExpired"
    # the webhooks on a real HTTP receiver: the warning first, then "expired", each once
    sent = wait_until(lambda: (b := [x for x in receiver.bodies("/ok")
                                     if x.get("island_id") == row.island_id]) and len(b) >= 2 and b,
                      20, "both webhooks")
    assert [b["event"] for b in sent] == ["lease-warning", "expired"]
    actions = audit_actions(env, row)
    if actions is not None:
        mine = [a for a in actions if a[0] in ("lease-warning", "expire")]
        assert mine == [("lease-warning", "lease-reaper"), ("expire", "lease-reaper")]


def test_extending_past_the_maximum_is_refused_in_words_and_changes_nothing(env):
    row = ready(env, "lease-extender", lease="30m")
    with pytest.raises(InvalidInput) as info:
        env.service.leases.extend(row.island_id, "+9d", user=None)
    assert re.fullmatch(rf"island {row.island_id}: \+9d would end \d{{4}}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC, past the "
                        rf"1h maximum \(\d{{4}}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC\); extend by at most \+(29|30)m\d*s?",
                        info.value.message), info.value.message
    assert env.store.get(row.island_id).lease_expires_at == row.lease_expires_at
    for bad in ("0", "-1h", "9999d", "1e9", "８h", "$(id)", "8h\nx", "'8h'", "{a: 1}", "9" * 500):
        with pytest.raises(InvalidInput) as info:
            env.service.leases.extend(row.island_id, bad, user=None)
        assert "\n" not in info.value.message
    # within the maximum: added to the end, and written in the island's history
    longer = env.service.leases.extend(row.island_id, "+20m", user=None)
    assert longer.lease_expires_at == row.lease_expires_at + timedelta(minutes=20)
    assert env.store.events(row.island_id)[-1].reason == "LeaseExtended"
    # only the owner (or an admin) extends
    from island_ssh.core.identity import User
    from island_ssh.core.errors import PermissionDenied
    with pytest.raises(PermissionDenied):
        env.service.leases.extend(row.island_id, "+1m", user=User("u-other", "other"))
    env.cleanup()


def test_a_launch_lease_past_the_maximum_is_refused_before_any_id_is_taken(env):
    before = env.store.active()
    with pytest.raises(InvalidInput, match=r"lease: 9999d is past the 1h maximum \(islands.lease_max\); at most 1h"):
        env.service.launch_many([LaunchRequest(owner="a", branch="dev"),
                                 LaunchRequest(owner="b", branch="dev", lease="9999d")])
    assert env.store.active() == before


def test_every_face_shows_the_time_left_and_extends(env):
    from island_ssh_web import create_app
    row = ready(env, "lease-faces", lease="20m")
    app = create_app(env.settings, service=env.service)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    listed = client.get("/api/islands", headers=auth).get_json()["islands"]
    (mine,) = [i for i in listed if i["id"] == row.island_id]
    assert mine["lease"]["time_left"] in ("20m", "19m59s", "19m58s") or mine["lease"]["time_left"].startswith("19m")
    assert mine["lease"]["expires_at"].endswith("Z") and mine["lease"]["seconds_left"] > 1100
    page = client.get("/", headers=auth).get_data(as_text=True)
    assert "Time left" in page
    assert 'name="lease"' in client.get("/launch", headers=auth).get_data(as_text=True)
    # REST: extend, refusal in words (400), the island's new end
    answer = client.post(f"/api/islands/{row.island_id}/lease", json={"extend": "+10m"}, headers=auth)
    assert answer.status_code == 200 and answer.get_json()["lease"]["seconds_left"] > 1700
    refused = client.post(f"/api/islands/{row.island_id}/lease", json={"extend": "+9d"}, headers=auth)
    assert refused.status_code == 400 and "past the 1h maximum" in refused.get_json()["message"]
    for body in ({"extend": 4}, {"extend": "+1h", "x": 1}, {"extend": "$(id)"}):
        assert client.post(f"/api/islands/{row.island_id}/lease", json=body, headers=auth).status_code == 400
    other = {"Authorization": f"Bearer {OTHER}"}
    assert client.post(f"/api/islands/{row.island_id}/lease", json={"extend": "+1m"}, headers=other).status_code == 403
    view = client.get(f"/api/islands/{row.island_id}/lease", headers=auth).get_json()
    assert view["can_extend"] and view["policy"]["max"] == "1h" and view["policy"]["max_counts_from"] == "now"
    # REST launch with a lease, and one refused
    launched = client.post("/api/islands", json={"branch": "dev", "lease": "5m"}, headers=auth)
    assert launched.status_code == 201 and 280 < launched.get_json()["lease"]["seconds_left"] <= 300
    assert client.post("/api/islands", json={"branch": "dev", "lease": "2h"}, headers=auth).status_code == 400
    env.cleanup()


def test_the_cli_extends_and_lists_with_json(env, tmp_path):
    row = ready(env, "lease-cli", lease="20m")
    config = write_config(env.settings, tmp_path / "island.yaml")

    def cli(*args):
        return island_ssh_cmd(config, *args)

    done = cli("extend", str(row.island_id), "+10m", "--json")
    assert done.returncode == 0, done.stderr
    assert 1700 < json.loads(done.stdout)["lease"]["seconds_left"] <= 1800
    refused = cli("extend", str(row.island_id), "+9d")
    assert refused.returncode == 2 and refused.stdout == ""
    assert re.fullmatch(rf"error: island {row.island_id}: \+9d would end .* UTC, past the 1h maximum "
                        rf"\(.* UTC\); extend by at most \+\S+\n", refused.stderr), refused.stderr
    negative = cli("extend", str(row.island_id), "-1h")
    assert negative.returncode == 2 and "is negative" in negative.stderr and len(negative.stderr.splitlines()) == 1
    table = cli("list").stdout.splitlines()
    assert table[0].split()[-3:] == ["LEFT", "CODE", "REASON"]
    assert [line.split()[6] for line in table[1:] if line.split()[0] == str(row.island_id)][0].startswith("29m")
    listing = json.loads(cli("leases", "--json").stdout)
    assert listing["policy"]["max"] == "1h"
    reaped = json.loads(cli("leases", "--reap", "--json").stdout)["reap"]
    # the service's reaper thread may hold the pass's lock: then this one did nothing, and says so
    assert reaped == {"another_running": True} or row.island_id not in reaped["expired"]
    assert [i["lease"]["time_left"] for i in listing["islands"] if i["id"] == row.island_id][0].startswith("29m")
    env.cleanup()


def test_the_recover_job_warns_then_deletes_an_island_whose_lease_ended(env):
    # the reaper thread stopped: cron's recover is what acts (as with no service running)
    env.runtime.lease_reaper.stop()
    try:
        row = ready(env, "lease-cron")
        now = env.store.leases.now()
        assert env.store.leases.set_expiry(row.island_id, row.generation, now - timedelta(seconds=5))
        report = recover(env)
        assert [(o.action.kind, o.status) for o in report.outcomes] == [("lease_expired", "done")]
        gone = env.store.get(row.island_id)
        assert (gone.state, gone.reason) == ("deleted", "LeaseExpired")
        history = reasons(env, row.island_id, row.generation)
        assert history.index("ready/LeaseWarning") < history.index("deleted/LeaseExpired")
        assert env.kubectl.pod(row.pod_name) is None
        actions = audit_actions(env, row)
        if actions is not None:
            assert [a for a in actions if a[0] in ("lease-warning", "expire")] == [
                ("lease-warning", "lease-reaper"), ("expire", "recover")]
    finally:
        env.runtime.lease_reaper.start()
