"""Secrets in the sandbox, as a real API server and kubelet handle them: stored with base64
``data`` (``stringData`` merged in, never stored), listed by ``kubectl get secret`` as NAME TYPE
DATA AGE, deleted by ``kubectl delete secret``, and resolved by the kubelet at container start for
``env[].valueFrom.secretKeyRef`` (a missing Secret keeps the container waiting,
CreateContainerConfigError ``secret "X" not found``, until it exists)."""

from __future__ import annotations

import base64
import json

import pytest

from fixtures.sandbox import real_kubelet_available, wait_for
from island_sandbox import admission
from island_sandbox.apierrors import ApiError
from island_sandbox.podspec import ContainerConfigError, MissingSecret, PodFacts, container_env

FACTS = PodFacts(name="p", namespace="islands", node_name="n", host_ip="127.0.0.11", pod_ip="127.0.0.11",
                 labels={}, annotations={})


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def env_of(*entries: dict, secrets: dict | None = None) -> dict:
    store = secrets or {}
    return container_env({"env": list(entries)}, FACTS, {}, lambda name: store.get(name))


# -- the kubelet's env (pure) ----------------------------------------------------------------------
def test_secret_key_ref_gives_the_decoded_value():
    env = env_of({"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
                 secrets={"s": {"data": {"token": b64("tok-é")}}})
    assert env["TOKEN"] == "tok-é"


def test_a_missing_secret_or_key_waits_with_the_kubelets_message():
    ref = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "island-ssh-token-7", "key": "token"}}}
    with pytest.raises(MissingSecret, match=r'^secret "island-ssh-token-7" not found$'):
        env_of(ref)
    with pytest.raises(MissingSecret, match=r"^couldn't find key token in Secret islands/island-ssh-token-7$"):
        env_of(ref, secrets={"island-ssh-token-7": {"data": {"other": b64("x")}}})
    with pytest.raises(MissingSecret):  # no lookup at all: as if no Secret existed
        container_env({"env": [ref]}, FACTS, {})


def test_an_optional_secret_key_ref_that_is_absent_leaves_the_variable_unset():
    env = env_of({"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}})
    assert "TOKEN" not in env


def test_other_value_sources_are_still_refused_by_name():
    with pytest.raises(ContainerConfigError, match="configMapKeyRef"):
        env_of({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}})


# -- admission (pure) --------------------------------------------------------------------------------
def test_string_data_is_merged_into_data_and_never_stored():
    secret = admission.admit_secret({"metadata": {"name": "s"}, "data": {"a": b64("old"), "b": b64("kept")},
                                     "stringData": {"a": "new", "c": "plain"}})
    assert secret == {"metadata": {"name": "s"}, "type": "Opaque",
                      "data": {"a": b64("new"), "b": b64("kept"), "c": b64("plain")}}


@pytest.mark.parametrize("secret, words", [
    ({"data": {"bad key": b64("x")}}, "a valid config key must consist of alphanumeric characters"),
    ({"data": {"k": "not base64!"}}, "illegal base64 data"),
    ({"stringData": {"k": "x" * (1024 * 1024 + 1)}}, "data: Too long: must have at most 1048576 bytes"),
])
def test_bad_secrets_are_refused_as_invalid(secret, words):
    with pytest.raises(ApiError) as info:
        admission.admit_secret({"metadata": {"name": "s"}, **secret})
    assert info.value.code == 422 and words in info.value.message


# -- kubectl against the sandbox API server ----------------------------------------------------------
def test_kubectl_applies_lists_and_deletes_secrets(standin_cluster):
    doc = {"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "island-ssh-token-5", "namespace": "default", "labels": {"island-ssh/id": "5"}},
           "stringData": {"token": "tok-" + "a" * 30}}
    standin_cluster.kubectl_ok("apply", "-f", "-", stdin=json.dumps(doc))
    stored = standin_cluster.get_json("secret", "island-ssh-token-5")
    assert stored["data"] == {"token": b64("tok-" + "a" * 30)} and "stringData" not in stored
    assert stored["type"] == "Opaque" and "status" not in stored
    # apply again with another value: an update, merged the same way
    doc["stringData"]["token"] = "tok-" + "b" * 30
    standin_cluster.kubectl_ok("apply", "-f", "-", stdin=json.dumps(doc))
    assert standin_cluster.get_json("secret", "island-ssh-token-5")["data"] == {"token": b64("tok-" + "b" * 30)}
    table = standin_cluster.kubectl_ok("get", "secret", "-l", "island-ssh/id=5").splitlines()
    assert table[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert table[1].split()[:3] == ["island-ssh-token-5", "Opaque", "1"]
    out = standin_cluster.kubectl_ok("delete", "secret", "-l", "island-ssh/id=5", "--ignore-not-found")
    assert 'secret "island-ssh-token-5" deleted' in out
    gone = standin_cluster.kubectl("get", "secret", "island-ssh-token-5")
    assert gone.returncode != 0 and 'secrets "island-ssh-token-5" not found' in gone.stderr


# -- the real kubelet ------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not real_kubelet_available(), reason="the sandbox kubelet is not there")
def test_a_pod_waits_for_its_secret_then_starts_with_its_value(sandbox_cluster):
    name, secret = "secret-waiter", "secret-waiter-token"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"nodeSelector": {"branch": "dev"}, "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "alpine:3.14.1",
                                    "command": ["/bin/sh", "-c", 'echo "token=$TOKEN"; exec tail -f /dev/null'],
                                    "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {
                                        "name": secret, "key": "token"}}}]}]}}
    sandbox_cluster.kubectl_ok("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        def waiting():
            statuses = sandbox_cluster.get_json("pod", name).get("status", {}).get("containerStatuses") or []
            state = (statuses[0].get("state") or {}) if statuses else {}
            return state.get("waiting") if (state.get("waiting") or {}).get("reason") == \
                "CreateContainerConfigError" else None
        assert wait_for(waiting, 30, what="the container to wait for its Secret")["message"] == \
            f'secret "{secret}" not found'
        sandbox_cluster.kubectl_ok("apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret, "namespace": "default"},
            "stringData": {"token": "s3cret-value"}}))

        def logged():
            result = sandbox_cluster.kubectl("logs", name, "-c", "c")
            return result.stdout if "token=" in result.stdout else None
        assert wait_for(logged, 30, what="the container to start with the Secret's value").strip() == \
            "token=s3cret-value"
    finally:
        sandbox_cluster.kubectl("delete", "pod", name, "--wait=false", "--ignore-not-found")
        sandbox_cluster.kubectl("delete", "secret", secret, "--ignore-not-found")
