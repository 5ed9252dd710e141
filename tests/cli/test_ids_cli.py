"""``island-ssh top ID...`` and ``island-ssh versions ID...`` as operators run them (a real process, a
config file, a real MariaDB): only those islands, --json as GET /api/usage?ids= and
GET /api/branches?ids= answer, bad ids refused in one line (exit 2). The islands here run no server,
so neither command needs the master (no metrics poll, no ready island to read a version through)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from island_ssh.core.settings import IslandSettings
from island_ssh.store import hash_token
from service.recovery_helpers import island_ssh_cmd


@pytest.fixture
def made(fresh_store, tmp_path):
    """(config path, {name: island id}): a failed, a pending and a deleted island."""
    path = tmp_path / "island.yaml"
    path.write_text(yaml.safe_dump({"database": dataclasses.asdict(fresh_store.settings)}, allow_unicode=True),
                    encoding="utf-8")
    ids, islands = {}, IslandSettings(id_min=1, id_max=20)
    for name in ("failed", "pending", "deleted"):
        row = fresh_store.allocate(owner="刘电波", owner_id="u-1001", branch="dev", pod_name_fn=lambda k: f"island-{k}",
                                   overrides={}, token_hash=hash_token("t"), settings=islands)
        fresh_store.transition(row.island_id, row.generation, "applying", "Applying", "")
        fresh_store.transition(row.island_id, row.generation, "pending", "Pending", "")
        if name == "failed":
            fresh_store.transition(row.island_id, row.generation, "failed", "Crashed", "")
        ids[name] = row.island_id
    deleted = fresh_store.get(ids["deleted"])
    assert fresh_store.release(deleted.island_id, deleted.generation, "TestDeleted")
    return str(path), ids


def run_json(config, *args):
    out = island_ssh_cmd(config, *args, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_top_and_versions_json_with_ids_answer_those_islands(made):
    config, ids = made
    failed, pending, deleted = ids["failed"], ids["pending"], ids["deleted"]
    everything = run_json(config, "top", "--json")
    assert [u["id"] for u in everything["islands"]] == sorted([failed, pending])
    some = run_json(config, "top", "--json", str(pending), str(deleted), "99", f"{pending},{failed}")
    assert [u["id"] for u in some["islands"]] == sorted([failed, pending])  # once each, id order
    assert run_json(config, "top", "--json", str(pending))["islands"] == \
        [u for u in everything["islands"] if u["id"] == pending]
    assert run_json(config, "top", "--json", str(deleted))["islands"] == []

    report = run_json(config, "versions", "--json", str(failed), str(deleted))
    assert [i["id"] for i in report["islands"]] == [failed]
    whole = run_json(config, "versions", "--json")
    assert [i["id"] for i in whole["islands"]] == sorted([failed, pending])
    assert report["branches"] == whole["branches"] and report["outdated"] == 0

    table = island_ssh_cmd(config, "top", str(pending))  # named islands are shown whatever their state
    assert table.returncode == 0 and f"{pending:>5}  pending" in table.stdout, table.stdout
    assert "no such islands" in island_ssh_cmd(config, "versions", str(deleted)).stdout


@pytest.mark.parametrize("command", ["top", "versions"])
@pytest.mark.parametrize("bad", ["３", "$(id)", "3,,5", "x", "99999999999999999999", "4294967296", "+3"])
def test_bad_ids_are_one_line_exit_2(made, command, bad):
    config, _ = made
    out = island_ssh_cmd(config, command, "--json", bad, timeout=60)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error: ID: ") and ("is not an island id" in out.stderr
                                                     or "an empty item" in out.stderr), out.stderr
