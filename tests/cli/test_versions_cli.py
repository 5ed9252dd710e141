"""``island-ssh versions``: the printed table and --json from the service's report (escaping included)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from island_ssh.cli.versions import versions

REPORT = {
    "branches": [{"branch": "dev", "version": "def456", "shown": "def456", "mixed": False, "nodes": [
        {"node": "node-dev-1", "pod": "altraserver-a-dev-3", "version": "def456", "shown": "def456", "state": "ok",
         "error": "", "read_at": "2026-12-03T12:00:00Z"}]},
        {"branch": "weekly", "version": None, "shown": "unknown", "mixed": False, "nodes": []}],
    "islands": [
        {"id": 3, "owner": "刘电波\x1b[2J", "branch": "dev", "node": "node-dev-1", "state": "ready",
         "code_version": {"shown": "abc123", "outdated": True, "note": "older code: abc123, branch dev is at def456"}},
        {"id": 4, "owner": "bob", "branch": "dev", "node": "node-dev-1", "state": "ready",
         "code_version": {"shown": "def456", "outdated": False, "note": ""}}],
    "outdated": 1, "file": "VERSION", "check_interval": 60.0}


class Obj:
    def __init__(self):
        self.asked = []
        outer = self

        class CodeVersions:
            @staticmethod
            def report(refresh, ids=None):
                outer.asked.append(refresh if ids is None else (refresh, ids))
                return json.loads(json.dumps(REPORT))

        class Service:
            code_versions = CodeVersions

        class Runtime:
            service = Service
        self._runtime = Runtime

    def runtime(self):
        return self._runtime


def test_the_table_names_the_branch_version_and_flags_outdated_islands_escaped():
    obj = Obj()
    result = CliRunner().invoke(versions, [], obj=obj)
    assert result.exit_code == 0 and obj.asked == ["auto"]
    assert "branch dev: def456" in result.output and "no ready island to read it through" in result.output
    assert "older code: abc123, branch dev is at def456" in result.output and "1 outdated" in result.output
    assert "\x1b" not in result.output and "\\x1b[2J" in result.output


def test_check_forces_a_read_and_outdated_json_keeps_only_flagged_islands():
    obj = Obj()
    result = CliRunner().invoke(versions, ["--check", "--outdated", "--json"], obj=obj)
    assert result.exit_code == 0 and obj.asked == ["force"]
    data = json.loads(result.output)
    assert [i["id"] for i in data["islands"]] == [3] and data["branches"][0]["version"] == "def456"
