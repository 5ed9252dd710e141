"""The audit trail of a full island life on the whole product (sandbox, real MariaDB, kubectl over
SSH, pods as processes, the web app on 127.0.0.1), and quotas at its faces.

One island: launched by its owner through the REST API (quota 1: a second launch is refused
with the numbers, 409), registered by its pod, restarted by its owner, deleted by an admin
through the REST API. Then "who deleted my island?" is answered with the admin's name by the
service, the owner's REST call, the island's page and ``island-ssh audit --who-deleted``; a
third user reads none of it. Two sandbox pod starts in all.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from fixtures.island import IslandEnv, make_settings, wait_until
from island_sandbox.product import running_product
from island_ssh.core.identity import User
from island_ssh.core.quota import human_memory
from island_ssh.core.validate import memory_bytes
from island_ssh.core.settings import QuotaSettings
from island_ssh.testing import free_port

from .recovery_helpers import island_ssh_cmd, write_config

pytestmark = pytest.mark.slow

ID_RANGE = {"id_min": 760, "id_max": 769}
"""Ids (so host ports on the shared node addresses) no other test module hands out."""
OWNER_TOKEN = "tok-audit-owner-0123456789abcdef012345"
ADMIN_TOKEN = "tok-audit-admin-0123456789abcdef012345"
OTHER_TOKEN = "tok-audit-other-0123456789abcdef012345"
WEB = {"users": {OWNER_TOKEN: "u-audit", ADMIN_TOKEN: "a-audit", OTHER_TOKEN: "u-stranger"},
       "admins": ["a-audit"], "secret_key": "test-secret-key-not-for-production"}


def call(env, method: str, path: str, token: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{env.web_port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read().decode()
            return resp.status, (json.loads(raw) if resp.headers.get_content_type() == "application/json" else raw)
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode()
        return exc.code, (json.loads(raw) if exc.headers.get_content_type() == "application/json" else raw)


@pytest.fixture(scope="module")
def env(sandbox_info, db_settings):
    web_port = free_port()
    settings = make_settings(db_settings, sandbox_info, web_port, web=WEB, **ID_RANGE)
    settings = settings.replace(quotas=QuotaSettings(max_islands=1, max_memory="3Gi"))
    with running_product(settings, web_port) as runtime:
        env = IslandEnv(settings, sandbox_info, runtime, web_port)
        try:
            yield env
        finally:
            env.cleanup()


def test_the_audit_trail_of_a_full_island_life(env, tmp_path):
    # launch through the REST API, as the owner; the page's quota line and /api/quota say so
    status, body = call(env, "POST", "/api/islands", OWNER_TOKEN, {"branch": "dev"})
    assert status == 201, body
    island_id = body["id"]
    row = env.wait_state(island_id, "ready")
    used = human_memory(memory_bytes(env.settings.islands.memory_request))  # the sandbox's small default
    status, quota = call(env, "GET", "/api/quota", OWNER_TOKEN)
    assert status == 200 and quota["text"] == f"you use 1 of 1 island ({used} of 3Gi)"
    assert (quota["islands"], quota["max_islands"], quota["max_memory"]) == (1, 1, "3Gi")
    status, page = call(env, "GET", "/launch", OWNER_TOKEN)
    assert status == 200 and f"you use 1 of 1 island ({used} of 3Gi)" in page

    # over quota: refused at once with the numbers, no id taken, and the refusal is audited
    active = len(env.store.active())
    status, refused = call(env, "POST", "/api/islands", OWNER_TOKEN, {"branch": "dev"})
    assert status == 409
    assert refused["message"].startswith(f"u-audit has 1 of 1 island ({used} of 3Gi); 1 more island would "
                                                  "make 2 (limit 1)"), refused
    assert len(env.store.active()) == active
    # an admin reads anyone's quota; a tester only their own
    assert call(env, "GET", "/api/quota?user=u-audit", ADMIN_TOKEN)[1]["islands"] == 1
    assert call(env, "GET", "/api/quota?user=u-audit", OTHER_TOKEN)[0] == 403

    # restart by the owner (a new generation), then delete by an admin through the REST API
    env.service.restart(island_id, user=User("u-audit", "u-audit"))
    row = env.wait_state(island_id, "ready")
    assert row.generation == 2
    status, _ = call(env, "DELETE", f"/api/islands/{island_id}", ADMIN_TOKEN)
    assert status == 202
    env.wait_state(island_id, "deleted")

    # the trail, oldest first: who did what, people and the island's own pod told apart
    trail = [(e["action"], e["actor"]["kind"], e["actor"]["id"], e["generation"])
             for e in reversed(env.service.audit.query(island_id=island_id))]
    assert trail[0] == ("launch", "user", "u-audit", 1)
    assert ("register", "pod", "", 1) in trail and ("register", "pod", "", 2) in trail
    assert trail.index(("restart", "user", "u-audit", 2)) < trail.index(("register", "pod", "", 2))
    assert trail[-1] == ("delete", "user", "a-audit", 2)
    refusals = env.service.audit.query(action="quota-refused")
    assert refusals and refusals[0]["owner_id"] == "u-audit" and refusals[0]["actor"]["id"] == "u-audit"

    # "who deleted my island?": the service, the owner's REST call, the island's page, the CLI
    entry, line = env.service.audit.who_deleted(island_id)
    assert entry.actor.id == "a-audit"
    assert line.startswith(f"island {island_id} (generation 2) was deleted by a-audit at ")
    status, mine = call(env, "GET", f"/api/islands/{island_id}/audit", OWNER_TOKEN)
    assert status == 200 and mine["who_deleted"] == line and mine["deleted_by"]["actor"]["id"] == "a-audit"
    status, page = call(env, "GET", f"/islands/{island_id}", OWNER_TOKEN)
    assert status == 200 and 'id="audit-who-deleted"' in page and "was deleted by a-audit" in page
    config = write_config(env.settings, tmp_path / "island.yaml")
    cli = island_ssh_cmd(config, "audit", "--who-deleted", str(island_id))
    assert cli.returncode == 0 and cli.stdout.strip() == line, cli.stderr
    cli = island_ssh_cmd(config, "audit", "--island", str(island_id), "--action", "delete", "--json")
    assert [e["actor"]["id"] for e in json.loads(cli.stdout)["entries"]] == ["a-audit"]
    cli = island_ssh_cmd(config, "quota", "u-audit", "--json")
    assert json.loads(cli.stdout)["quotas"][0]["islands"] == 0

    # a stranger reads none of another tester's trail; the owner reads it whoever acted
    status, theirs = call(env, "GET", f"/api/audit?island={island_id}", OTHER_TOKEN)
    assert status == 200 and theirs == {"entries": [], "scope": "own"}
    status, owners = call(env, "GET", "/api/audit?action=delete", OWNER_TOKEN)
    assert [e["actor"]["id"] for e in owners["entries"]] == ["a-audit"]
    # bad filters refused in words
    for query in ("island=%24(id)", "since=yesterday", "limit=0", "action=DROP%20TABLE", "color=red"):
        status, bad = call(env, "GET", f"/api/audit?{query}", OWNER_TOKEN)
        assert status == 400 and "\n" not in bad["message"], (query, bad)


def test_the_tracker_records_the_end_it_decides_and_the_operator_deletes(env):
    """A server that crashes: the tracker's ``failed`` is in the trail (an automatic actor), then
    the operator's (the CLI's) delete; the quota counts the failed island until it is deleted."""
    from island_ssh.service.islands import LaunchRequest
    row = env.service.launch(LaunchRequest(owner="崩溃", owner_id="u-crash", branch="dev",
                                           env={"ISLAND_SERVER_FAIL": "crash:3", "ISLAND_SERVER_FAIL_AFTER": "0"}))
    row = env.wait_state(row.island_id, ("failed", "ready"))
    assert row.state == "failed"
    entries = wait_until(lambda: (e := env.service.audit.query(island_id=row.island_id, action="failed")) and e,
                         10, "the tracker's audit entry")
    assert entries[0]["actor"] == {"kind": "tracker", "id": "", "name": "", "label": "tracker", "automatic": True}
    assert entries[0]["owner_id"] == "u-crash" and entries[0]["detail"].startswith("Error")
    assert env.service.quotas.view("u-crash").usage.islands == 1  # failed still holds its id and ports
    env.service.delete(row.island_id, user=None, wait=True)
    entry, line = env.service.audit.who_deleted(row.island_id)
    assert entry.actor.kind == "operator" and "was deleted by operator (CLI)" in line
    assert env.service.quotas.view("u-crash").usage.islands == 0
