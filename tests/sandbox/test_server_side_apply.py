"""Server-side apply on the sandbox (island_sandbox/ssa.py) with the real kubectl, and the product
launching with ``kube.server_side_apply: auto`` (kubectl apply --server-side --field-manager=island-ssh)."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from island_sandbox import ssa
from island_ssh.service.islands import LaunchRequest
from sandbox.helpers import dump, pod
from sandbox.test_kubectl_versions import product_with

SSA = ("apply", "--server-side", "-f", "-")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def managers(obj: dict) -> dict[str, dict]:
    return {e["manager"]: e for e in obj["metadata"].get("managedFields") or []}


def get_all(c, name: str) -> dict:
    """The pod with metadata.managedFields (kubectl get leaves them out unless asked)."""
    return c.get_json("pod", name, "--show-managed-fields")


def test_apply_creates_then_updates_and_records_the_manager(standin_cluster):
    c, name = standin_cluster, unique("ssa")
    out = c.kubectl_ok(*SSA, "--field-manager=island-ssh", stdin=dump(pod(name, labels={"app": "a"})))
    assert out.strip() == f"pod/{name} serverside-applied"
    created = get_all(c, name)
    entry = managers(created)["island-ssh"]
    assert entry["operation"] == "Apply" and entry["fieldsType"] == "FieldsV1" and entry["apiVersion"] == "v1"
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert entry["fieldsV1"]["f:spec"]["f:containers"]['k:{"name":"server"}']["."] == {}
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (created["metadata"].get("annotations") or {})
    # the same manager applies again without the label: the label it alone owned goes
    c.kubectl_ok(*SSA, "--field-manager=island-ssh", stdin=dump(pod(name, labels={"keep": "1"})))
    assert c.get_json("pod", name)["metadata"]["labels"] == {"keep": "1"}
    c.kubectl("delete", "pod", name, "--grace-period=0", "--force")


def test_a_field_another_manager_owns_is_a_conflict_unless_forced(standin_cluster):
    c, name = standin_cluster, unique("ssa")
    c.kubectl_ok(*SSA, "--field-manager=island-ssh", stdin=dump(pod(name, labels={"app": "a", "tier": "front"})))
    refused = c.kubectl(*SSA, "--field-manager=other", stdin=dump(pod(name, labels={"app": "b", "tier": "back"})))
    assert refused.returncode == 1
    assert refused.stderr.startswith('error: Apply failed with 2 conflicts: conflicts with "island-ssh":\n'
                                     "- .metadata.labels.app\n- .metadata.labels.tier\n")
    assert "--force-conflicts" in refused.stderr  # kubectl's own advice, for a real 409 Conflict
    assert c.get_json("pod", name)["metadata"]["labels"] == {"app": "a", "tier": "front"}
    # the same value is no conflict: both own it
    c.kubectl_ok(*SSA, "--field-manager=other", stdin=dump(pod(name, labels={"app": "a"})))
    owners = managers(get_all(c, name))
    assert "f:app" in owners["other"]["fieldsV1"]["f:metadata"]["f:labels"]
    assert "f:app" in owners["island-ssh"]["fieldsV1"]["f:metadata"]["f:labels"]
    # forced: the field changes hands
    c.kubectl_ok(*SSA, "--field-manager=other", "--force-conflicts", stdin=dump(pod(name, labels={"app": "b"})))
    after = get_all(c, name)
    assert after["metadata"]["labels"] == {"app": "b", "tier": "front"}
    assert managers(after)["island-ssh"]["fieldsV1"]["f:metadata"] == {"f:labels": {"f:tier": {}}}
    c.kubectl("delete", "pod", name, "--grace-period=0", "--force")


def test_the_raw_conflict_status_and_a_missing_field_manager(standin_cluster):
    c, name = standin_cluster, unique("ssa")
    path = f"/api/v1/namespaces/default/pods/{name}"
    body = pod(name, labels={"app": "a"})
    status, created = c.api("PATCH", path + "?fieldManager=first", body, content_type=ssa.APPLY_PATCH)
    assert status == 201 and created["metadata"]["managedFields"][0]["manager"] == "first"
    status, again = c.api("PATCH", path + "?fieldManager=first", body, content_type=ssa.APPLY_PATCH)
    assert status == 200 and managers(again)["first"]["fieldsV1"] == managers(created)["first"]["fieldsV1"]
    body["metadata"]["labels"]["app"] = "b"
    status, conflict = c.api("PATCH", path + "?fieldManager=second&force=false", body, content_type=ssa.APPLY_PATCH)
    assert status == 409 and conflict["reason"] == "Conflict"
    assert conflict["message"] == 'Apply failed with 1 conflict: conflict with "first": .metadata.labels.app'
    assert conflict["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "first"',
                                              "field": ".metadata.labels.app"}]
    status, invalid = c.api("PATCH", path, body, content_type=ssa.APPLY_PATCH)
    assert status == 422 and "fieldManager: Required value" in invalid["message"]
    c.kubectl("delete", "pod", name, "--grace-period=0", "--force")


def test_client_side_applied_objects_are_taken_over_by_a_server_side_apply(standin_cluster):
    c, name = standin_cluster, unique("ssa")
    c.kubectl_ok("apply", "-f", "-", stdin=dump(pod(name, labels={"app": "a"})))
    c.kubectl_ok(*SSA, "--field-manager=island-ssh", stdin=dump(pod(name, labels={"app": "z"})))
    obj = get_all(c, name)
    assert obj["metadata"]["labels"] == {"app": "z"} and list(managers(obj)) == ["island-ssh"]
    c.kubectl("delete", "pod", name, "--grace-period=0", "--force")


def test_field_paths_and_fields_v1_round_trip():
    applied = yaml.safe_load(dump(pod("x", labels={"a": "1"}, host_ports=[30001])))
    paths = set(ssa.leaf_paths(applied))
    assert ("metadata", "name") not in paths and ("kind",) not in paths
    assert ssa.decode_fields(ssa.encode_fields(paths)) == paths
    port = next(p for p in paths if p[-1] == "hostPort")
    assert ssa.path_string(port) == '.spec.containers[name="server"].ports[containerPort=30001,protocol="TCP"].hostPort'
    assert json.dumps(ssa.encode_fields({port})).count("k:") == 2


@pytest.mark.slow
def test_a_product_launch_with_server_side_apply(sandbox, db_settings):
    with product_with(sandbox, db_settings, {"server_side_apply": "auto"}) as env:
        assert env.kubectl.server_side_apply() is True  # kubectl 1.35 and the sandbox's 1.35 API server
        row = env.service.launch(LaunchRequest(owner="ssa", branch="dev"))
        ready = env.wait_state(row.island_id, "ready", timeout=60)
        applied = json.loads(env.kubectl.run("get", "pod", ready.pod_name, "-o", "json", "--show-managed-fields"))
        entry = managers(applied)["island-ssh"]
        assert entry["operation"] == "Apply" and "f:spec" in entry["fieldsV1"]
        assert "kubectl.kubernetes.io/last-applied-configuration" not in (applied["metadata"].get("annotations") or {})
        env.service.delete(row.island_id)
        env.wait_state(row.island_id, "deleted", timeout=60)
