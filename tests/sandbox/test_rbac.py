"""RBAC in the sandbox: the rules of conf/kubernetes/rbac.yaml, judged as kube-apiserver judges them.

Unit tests of the authorizer on the shipped file and on small hand-made ones, then the real kubectl
against a sandbox started with --rbac: the master's kubeconfig acts as the file's ServiceAccount,
`kubectl auth can-i` answers from the same rules, and a refusal reads as the real API server's.
"""

from __future__ import annotations

import json

import pytest
import yaml

from island_sandbox.rbac import Authorizer, access_review, forbidden, request_verb
from island_ssh.resources import conf_file

from fixtures.sandbox import running_sandbox_cluster

RBAC = conf_file("kubernetes", "rbac.yaml")
USER = "system:serviceaccount:default:island-ssh"


def shipped() -> Authorizer:
    return Authorizer.from_documents(yaml.safe_load_all(RBAC.read_text(encoding="utf-8")))


def test_the_shipped_file_acts_as_its_service_account():
    assert shipped().user == USER


@pytest.mark.parametrize("verb, resource, sub, ns, allowed", [
    ("list", "pods", "", "default", True),
    ("watch", "pods", "", "default", True),
    ("create", "pods", "exec", "default", True),
    ("get", "pods", "log", "default", True),
    ("delete", "pods", "", "default", True),
    ("update", "pods", "", "default", False),            # apply patches; nothing replaces a pod whole
    ("list", "pods", "", "kube-system", False),          # a Role holds in its own namespace only
    ("create", "pods", "exec", "other", False),
    ("get", "pods", "attach", "default", False),
    ("list", "nodes", "", None, True),                   # the ClusterRole: cluster scope
    ("delete", "nodes", "", None, False),
    ("list", "secrets", "", "default", True),
    ("get", "secrets", "", "kube-system", False),
    ("create", "namespaces", "", None, False),
    ("get", "persistentvolumes", "", None, True),
])
def test_the_shipped_rules(verb, resource, sub, ns, allowed):
    assert shipped().allows(verb, resource, sub, ns) is allowed


def test_cluster_role_bound_in_a_namespace_holds_only_there_and_wildcards_match():
    docs = [
        {"kind": "ClusterRole", "metadata": {"name": "reader"},
         "rules": [{"apiGroups": ["*"], "resources": ["*/log", "pods"], "verbs": ["get"]},
                   {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"], "resourceNames": ["one"]}]},
        {"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "team"},
         "roleRef": {"kind": "ClusterRole", "name": "reader"},
         "subjects": [{"kind": "User", "name": "alice"}]},
    ]
    alice = Authorizer.from_documents(docs, user="alice")
    assert alice.allows("get", "pods", "log", "team") and alice.allows("get", "pods", "", "team")
    assert not alice.allows("get", "pods", "", "default") and not alice.allows("get", "nodes", "", None)
    assert alice.allows("delete", "configmaps", "", "team", name="one")
    assert not alice.allows("delete", "configmaps", "", "team", name="two")
    assert Authorizer.from_documents(docs, user="bob").grants == []


def test_verbs_are_derived_as_the_api_server_does():
    assert request_verb("GET", None, None, watch=False) == "list"
    assert request_verb("GET", None, None, watch=True) == "watch"
    assert request_verb("GET", "p", None, watch=False) == "get"
    assert request_verb("GET", "p", "exec", watch=False) == "create"  # the websocket upgrade
    assert request_verb("PATCH", "p", None, watch=False) == "patch"
    assert request_verb("DELETE", None, None, watch=False) == "deletecollection"


def test_forbidden_is_worded_as_kube_apiserver_words_it():
    error = forbidden(USER, "create", "pods", "exec", "default", "island-1")
    assert error.code == 403 and error.reason == "Forbidden"
    assert error.message == ('pods "island-1" is forbidden: User "system:serviceaccount:default:island-ssh" '
                             'cannot create resource "pods/exec" in API group "" in the namespace "default"')
    assert "at the cluster scope" in forbidden(USER, "delete", "nodes", "", None, "").message


def test_an_access_review_answers_from_the_rules():
    review = {"spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods",
                                              "subresource": "exec"}}}
    assert access_review(shipped(), review)["status"]["allowed"] is True
    review["spec"]["resourceAttributes"]["namespace"] = "kube-system"
    assert access_review(shipped(), review)["status"]["allowed"] is False
    assert access_review(None, review)["status"]["allowed"] is True


@pytest.fixture(scope="module")
def rbac_cluster(tmp_path_factory):
    with running_sandbox_cluster(tmp_path_factory.mktemp("rbac"), extra_args=("--rbac", str(RBAC))) as cluster:
        yield cluster


def test_the_master_kubeconfig_acts_as_the_service_account(rbac_cluster):
    config = json.loads(rbac_cluster.kubeconfig.read_text())
    assert config["users"][0]["user"]["as"] == USER
    assert rbac_cluster.info["rbac_user"] == USER
    admin = json.loads(open(rbac_cluster.info["admin_kubeconfig"]).read())
    assert "as" not in admin["users"][0]["user"]


def test_real_kubectl_is_allowed_what_the_file_grants_and_refused_the_rest(rbac_cluster):
    assert rbac_cluster.kubectl_ok("get", "pods", "-n", "default", "-o", "name") == ""
    refused = rbac_cluster.kubectl("get", "secrets", "-n", "kube-system")
    assert refused.returncode == 1
    assert ('Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:default:island-ssh" '
            'cannot list resource "secrets" in API group "" in the namespace "kube-system"') in refused.stderr
    node = rbac_cluster.kubectl("delete", "node", "dev-1", "--dry-run=server")
    assert node.returncode == 1 and "(Forbidden)" in node.stderr and "at the cluster scope" in node.stderr


@pytest.mark.parametrize("args, answer", [
    (("create", "pods", "--subresource=exec", "-n", "default"), "yes"),
    (("list", "nodes"), "yes"),
    (("create", "pods", "--subresource=exec", "-n", "kube-system"), "no"),
    (("delete", "nodes"), "no"),
])
def test_kubectl_auth_can_i_answers_from_the_same_rules(rbac_cluster, args, answer):
    result = rbac_cluster.kubectl("auth", "can-i", *args)
    assert result.stdout.strip() == answer, result.stderr
    assert result.returncode == (0 if answer == "yes" else 1)


def test_the_admin_kubeconfig_may_do_anything(rbac_cluster):
    env = {**rbac_cluster.env(), "KUBECONFIG": rbac_cluster.info["admin_kubeconfig"]}
    import subprocess

    from fixtures.sandbox import _KUBECTL
    result = subprocess.run([str(_KUBECTL), "get", "secrets", "-n", "kube-system"], env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
