"""``island-ssh audit`` and ``island-ssh quota`` as operators run them (a real process, a config
file, a real MariaDB; no master needed): filters, --who-deleted, --json, refusals in one line."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from island_ssh.core.audit import Actor
from island_ssh.core.identity import User
from island_ssh.core.settings import IslandSettings
from island_ssh.service.audit import AuditLog
from island_ssh.store import hash_token


@pytest.fixture
def config(fresh_store, tmp_path) -> str:
    path = tmp_path / "island.yaml"
    path.write_text(yaml.safe_dump({"database": dataclasses.asdict(fresh_store.settings),
                                    "quotas": {"max_islands": 3, "max_memory": "6Gi",
                                               "users": {"u-big": {"max_islands": 10}}}},
                                   allow_unicode=True), encoding="utf-8")
    return str(path)


def run(config: str, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "island-ssh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLAND_SSH_")}
    return subprocess.run([str(exe), "--config", config, *args], capture_output=True, text=True, timeout=60, env=env)


def test_audit_and_quota_commands(fresh_store, config):
    islands = IslandSettings(id_min=1, id_max=20)
    row = fresh_store.allocate(owner="刘电波", owner_id="u-1001", branch="dev", pod_name_fn=lambda k: f"island-{k}",
                               overrides={"memory": "1536Mi"}, token_hash=hash_token("t"), settings=islands)
    log = AuditLog(fresh_store)
    log.record(Actor.of(User("u-1001", "刘电波")), "launch", row.island_id, row.generation, "for 刘电波")
    log.record(Actor.of(User("a-1", "管理员")), "delete", row.island_id, row.generation, "pod island-1")

    out = run(config, "audit", "--who-deleted", str(row.island_id))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"island {row.island_id} (generation 1) was deleted by 管理员 (a-1) at ")

    out = run(config, "audit", "--island", str(row.island_id), "--json")
    assert [e["action"] for e in json.loads(out.stdout)["entries"]] == ["delete", "launch"]
    out = run(config, "audit", "--actor", "u-1001")
    assert out.returncode == 0 and "launch" in out.stdout and "by 刘电波 (u-1001): for 刘电波" in out.stdout
    assert run(config, "audit", "--action", "expire").stdout.strip() == "no audit entries match"

    out = run(config, "quota", "u-1001")
    assert out.stdout.strip() == "刘电波 has 1 of 3 islands (1.5Gi of 6Gi)  [default]"
    data = json.loads(run(config, "quota", "--json").stdout)
    assert data["enabled"] is True
    assert [(q["owner_id"], q["owner"], q["islands"], q["memory"]) for q in data["quotas"]] == \
        [("u-1001", "刘电波", 1, "1.5Gi")]
    assert json.loads(run(config, "quota", "u-big", "--json").stdout)["quotas"][0]["max_islands"] == 10


@pytest.mark.parametrize("args, field", [
    (("audit", "--since", "$(id)"), "since"), (("audit", "--island", "12; rm"), "island"),
    (("audit", "--action", "DROP TABLE"), "action"), (("audit", "--limit", "0"), "limit"),
    (("audit", "--since", "２h"), "since"), (("audit", "--actor", "a\nb"), "actor"),
    (("quota", " u1"), "USER"), (("audit", "--who-deleted", "x"), "island"),
])
def test_bad_input_is_one_line_exit_2(config, args, field):
    out = run(config, *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert field in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
