"""Per-island resource use on the sandbox (issue 15): the island's real server process allocates
memory (`eat N` over TCP), the service's ONE metrics poll (`kubectl get --raw` of metrics.k8s.io over
the master's SSH shell) shows it through the REST API, and it crosses islands.memory_warning.
A sandbox without the metrics API (sandbox.metrics_api: false) says "not available", never an error
(test_usage_no_metrics.py).
"""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from fixtures.island import IslandEnv, make_settings, wait_until
from island_sandbox.product import running_product
from island_ssh.service.islands import LaunchRequest
from island_ssh.testing import free_port
from service.recovery_helpers import island_ssh_cmd, write_config

pytestmark = pytest.mark.slow

ISLANDS = {"id_min": 770, "id_max": 789, "memory_limit": "256Mi", "memory_warning": 0.6,
           "usage_cache_seconds": 0.5}
"""Ids (host ports) no other module hands out; a 256Mi limit warned at 60% (154Mi)."""
TOKEN = "usage-test-token-0123456789abcdef0123"
WEB = {"users": {TOKEN: "tester"}, "secret_key": "usage-test-secret-key-0123456789abcdef"}


def api(env, path: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{env.web_port}{path}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def eat(row, mib: int) -> dict:
    with socket.create_connection((row.host_ip, row.ports[0]), timeout=20) as conn:
        conn.sendall(f"eat {mib}\n".encode())
        return json.loads(conn.makefile("rb").readline())


@pytest.fixture(scope="module")
def env(sandbox_info, db_settings, tmp_path_factory):
    web_port = free_port()
    settings = make_settings(db_settings, sandbox_info, web_port, web=WEB, **ISLANDS)
    with running_product(settings, web_port, watch_timeout=30) as runtime:
        env = IslandEnv(settings, sandbox_info, runtime, web_port)
        env.tmp = tmp_path_factory.mktemp("usage")
        try:
            yield env
        finally:
            env.cleanup()


def test_an_island_allocating_memory_shows_it_and_crosses_the_warning(env):
    a, b = env.service.launch_many([LaunchRequest(owner="刘电波", branch="dev"),
                                    LaunchRequest(owner="usage-b", branch="weekly", memory="512Mi")])
    a, b = env.wait_state(a.island_id, "ready", timeout=90), env.wait_state(b.island_id, "ready", timeout=90)
    first = wait_until(lambda: (u := api(env, f"/api/islands/{a.island_id}/usage")[1])["available"] and u, 20,
                       "island a's first sample")
    assert first["memory_limit"] == "256Mi" and first["memory_limit_bytes"] == 256 * 2**20
    assert 5 * 2**20 < first["memory_bytes"] < 120 * 2**20 and not first["warning"]
    assert first["text"].startswith(f"mem {first['memory']} / 256Mi (") and first["cpu"].endswith("m")
    assert first["oom_killed"] is None and first["reason"] == ""

    before = env.kubectl.commands["run"]
    assert eat(a, 150)["holding_mib"] == 150
    warned = wait_until(lambda: (u := api(env, f"/api/islands/{a.island_id}/usage")[1])["warning"] and u, 20,
                        "island a past 60% of its limit")
    assert warned["memory_bytes"] >= first["memory_bytes"] + 140 * 2**20
    assert warned["memory_percent"] >= 60 and "over 60% of the limit" in warned["text"]
    status, listing = api(env, "/api/usage")
    assert status == 200 and listing["available"] and a.island_id in listing["warnings"]
    by_id = {u["id"]: u for u in listing["islands"]}
    assert by_id[b.island_id]["memory_limit"] == "512Mi" and not by_id[b.island_id]["warning"]
    # every read above shared polls: one kubectl call per islands.usage_cache_seconds, not one per island
    polls = env.kubectl.commands["run"] - before
    assert 1 <= polls <= env.service.usage.polls

    # the CLI: `island-ssh top` (one poll) and `show` carry the same numbers
    config = write_config(env.settings, env.tmp / "island.yaml")
    top = island_ssh_cmd(config, "top", "--json")
    assert top.returncode == 0, top.stderr
    assert a.island_id in json.loads(top.stdout)["warnings"]
    table = island_ssh_cmd(config, "top")
    assert table.returncode == 0 and "over 60% of the limit" in table.stdout
    line = next(x for x in table.stdout.splitlines() if x.split() and x.split()[0] == str(a.island_id))
    assert line.split()[1:3] == ["ready", "刘电波"] and "256Mi" in line
    shown = json.loads(island_ssh_cmd(config, "show", str(a.island_id), "--json").stdout)
    assert shown["usage"]["warning"] and shown["usage"]["memory_limit"] == "256Mi"
    assert "    usage: mem " in island_ssh_cmd(config, "show", str(a.island_id)).stdout

    # the page carries the cell the script fills, and the script is served
    page = urllib.request.Request(f"http://127.0.0.1:{env.web_port}/islands/{a.island_id}",
                                  headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(page, timeout=20) as resp:
        html = resp.read().decode()
    assert 'id="d-usage"' in html and "island_usage.js" in html


def test_an_oom_killed_island_names_its_limit(env):
    row = env.service.launch(LaunchRequest(owner="usage-oom", branch="dev"))
    row = env.wait_state(row.island_id, "ready", timeout=90)
    try:
        eat(row, 400)  # past the 256Mi limit: the kernel kills it before it answers
    except (OSError, ValueError):
        pass
    dead = env.wait_state(row.island_id, "failed", timeout=30)
    assert dead.reason == "OOMKilled"
    status, usage = api(env, f"/api/islands/{row.island_id}/usage")
    assert status == 200 and not usage["available"]
    assert usage["oom_killed"] == {"reason": "OOMKilled", "limit": "256Mi", "text": "killed: out of memory at 256Mi"}
    assert usage["text"].startswith("killed: out of memory at 256Mi")


def test_unknown_island_is_404(env):
    status, body = api(env, "/api/islands/4294967295/usage")
    assert status == 404

# without the metrics API: tests/service/test_usage_no_metrics.py (its own database: one tracker per database)
