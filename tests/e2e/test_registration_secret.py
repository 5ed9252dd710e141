"""Issue 11, hole 4, end to end on the sandbox: the pod gets its registration token from its own
Secret (never a plain env value of the pod), registers once with the island's own facts, and the
Secret goes with the island (deleted with it, or swept by recover once the island is gone)."""

from __future__ import annotations

import base64
import json

import pytest

from fixtures.island import wait_until
from island_ssh.core.token_secret import token_secret_name
from island_ssh.core.tokens import hash_token
from island_ssh.service.islands import LaunchRequest
from island_ssh.service.recovery import run_recovery

pytestmark = pytest.mark.slow


def secret_of(env, island_id: int) -> dict | None:
    found = [s for s in env.kubectl.token_secrets() if s["island_id"] == str(island_id)]
    return found[0] if found else None


def test_the_pod_registers_through_its_secret_and_the_secret_goes_with_the_island(island_env):
    env = island_env
    row = env.service.launch(LaunchRequest(owner="secret-keeper", branch="dev"))
    row = env.wait_state(row.island_id, "ready", timeout=90)
    reg = wait_until(lambda: env.store.registration(row.island_id), 10, "registration row")
    assert (reg.node_ip, reg.ports, reg.pod_name) == (row.host_ip, row.ports, row.pod_name)
    assert [e.reason for e in env.store.events(row.island_id)].count("Registered") == 1

    # the pod holds only a reference: `get pods` shows no token
    pod = env.kubectl.pod(row.pod_name)
    token_env = next(e for e in pod["spec"]["containers"][0]["env"] if e["name"] == "ISLAND_TOKEN")
    assert token_env == {"name": "ISLAND_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": token_secret_name(row.island_id), "key": "token"}}}
    # the Secret holds the token the row's hash was made from, labelled with the launch
    secret = json.loads(env.kubectl.run("get", "secret", token_secret_name(row.island_id), "-o", "json"))
    assert hash_token(base64.b64decode(secret["data"]["token"]).decode()) == row.token_hash
    assert secret["metadata"]["labels"]["island-ssh/generation"] == str(row.generation)
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert token not in json.dumps(pod, ensure_ascii=False)  # nor in kubectl's last-applied annotation

    deleted = env.service.delete(row.island_id, wait=True)
    assert deleted.state == "deleted"
    assert secret_of(env, row.island_id) is None


def test_recover_sweeps_the_secret_of_an_island_that_went_without_it(island_env):
    env = island_env
    row = env.service.launch(LaunchRequest(owner="secret-sweeper", branch="dev"))
    row = env.wait_state(row.island_id, ("starting", "ready"), timeout=90)
    # the pod vanishes behind the service's back (a node gone, an admin's kubectl): the tracker
    # frees the id, but nothing deleted the token Secret
    env.store.transition(row.island_id, row.generation, "terminating", "Test", "", expected_from=row.state)
    env.kubectl.delete_pod(row.pod_name, grace_period=0, force=True, wait=True)
    env.wait_state(row.island_id, "deleted")
    assert secret_of(env, row.island_id) is not None
    report = run_recovery(env.settings, env.store, env.kubectl, env.service)
    swept = [o for o in report.outcomes if o.action.kind == "remove_secret"]
    assert [(o.action.island_id, o.action.generation, o.status) for o in swept] == \
        [(row.island_id, row.generation, "done")]
    assert secret_of(env, row.island_id) is None
