"""Resource use on a cluster without metrics-server (sandbox.metrics_api: false): the island page's
API and GET /api/usage answer 200 with ``available: false`` and the reason, never an error; `island-ssh
top` says so and exits 0. Its own module: one tracker per database (test_usage_sandbox.py has the other)."""

from __future__ import annotations

import pytest

from fixtures.island import IslandEnv, make_settings
from island_sandbox.product import running_product, running_sandbox
from island_ssh.core.quantity import parse_quantity
from island_ssh.service.islands import LaunchRequest
from island_ssh.testing import free_port
from service.recovery_helpers import island_ssh_cmd, write_config
from service.test_usage_sandbox import ISLANDS, WEB, api

pytestmark = pytest.mark.slow


def test_without_the_metrics_api_usage_is_not_available(db_settings, tmp_path):
    with running_sandbox("island-ssh-nometrics-", metrics_api=False) as box:
        web_port = free_port()
        settings = make_settings(db_settings, box.info, web_port, web=WEB, **{**ISLANDS, "id_min": 790, "id_max": 799})
        with running_product(settings, web_port, watch_timeout=30) as runtime:
            env = IslandEnv(settings, box.info, runtime, web_port)
            try:
                row = env.service.launch(LaunchRequest(owner="usage-none", branch="dev"))
                env.wait_state(row.island_id, "ready", timeout=90)
                status, usage = api(env, f"/api/islands/{row.island_id}/usage")
                assert status == 200 and usage["available"] is False
                assert "no metrics API" in usage["reason"] and usage["text"].startswith("usage not available")
                status, listing = api(env, "/api/usage")
                assert status == 200 and listing["available"] is False and "metrics-server" in listing["reason"]
                assert parse_quantity(usage["memory_limit"]) == 256 * 2**20
                top = island_ssh_cmd(write_config(settings, tmp_path / "island.yaml"), "top")
                assert top.returncode == 0, top.stderr
                assert top.stdout.startswith("usage not available: the cluster has no metrics API")
            finally:
                env.cleanup()
