"""conf/kubernetes/rbac.yaml grants exactly the rights island_ssh uses (kube.rights.REQUIRED): no fewer,
or a real master refuses us, and no more, or the service account holds rights nobody audited."""

from __future__ import annotations

import yaml

from island_ssh.kube.rights import RBAC_FILE, REQUIRED
from island_ssh.resources import conf_file


def granted() -> set[tuple[str, str, bool]]:
    docs = list(yaml.safe_load_all(conf_file("kubernetes", "rbac.yaml").read_text(encoding="utf-8")))
    rights = set()
    for doc in docs:
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in doc["rules"]:
            # the core group, and metrics-server's for resource use; no wildcard
            assert rule["apiGroups"] in ([""], ["metrics.k8s.io"]), rule
            group = rule["apiGroups"][0]
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (resource, verb), rule
                    rights.add((verb, f"{resource}.{group}" if group else resource, doc["kind"] == "ClusterRole"))
    return rights


def test_the_file_grants_exactly_the_rights_island_ssh_uses():
    wanted = {(r.verb, r.resource_path, r.cluster_scoped) for r in REQUIRED}
    assert granted() == wanted


def test_every_role_is_bound_to_the_service_account_and_nothing_else():
    docs = list(yaml.safe_load_all(conf_file("kubernetes", "rbac.yaml").read_text(encoding="utf-8")))
    roles = {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in ("Role", "ClusterRole")}
    bindings = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings} == roles
    assert all(b["subjects"] == [{"kind": "ServiceAccount", "name": "island-ssh", "namespace": "default"}]
               for b in bindings)
    assert RBAC_FILE == "conf/kubernetes/rbac.yaml"


def test_each_right_says_why_and_asks_can_i_as_kubectl_spells_it():
    for right in REQUIRED:
        assert right.why
        args = right.can_i_args()
        assert args[:4] == ["auth", "can-i", right.verb, right.resource]
        assert (f"--subresource={right.subresource}" in args) == bool(right.subresource)
