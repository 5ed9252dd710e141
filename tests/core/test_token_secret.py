"""The registration token travels as the island's own Secret, never as a plain value of the pod."""

from __future__ import annotations

import base64
import json

import pytest

from island_ssh.core.errors import InvalidInput
from island_ssh.core.manifests import IslandSpec, render_pod, to_wire
from island_ssh.core.names import GENERATION_LABEL, ID_LABEL, MANAGED_BY_LABEL
from island_ssh.core.settings import IslandSettings
from island_ssh.core.token_secret import island_id_of_secret, render_secret, token_secret_name
from island_ssh.resources import load_template

TOKEN = "q3Jx2W0mZ7cR9kPz4hV1bA"


def test_the_secret_carries_the_token_base64_with_our_labels():
    secret = render_secret(269, 4, TOKEN, "islands", load_template("secret"))
    assert (secret["apiVersion"], secret["kind"], secret["type"]) == ("v1", "Secret", "Opaque")
    assert secret["metadata"]["name"] == "island-ssh-token-269" == token_secret_name(269)
    assert secret["metadata"]["namespace"] == "islands"
    labels = secret["metadata"]["labels"]
    assert (labels[ID_LABEL], labels[GENERATION_LABEL], labels[MANAGED_BY_LABEL]) == ("269", "4", "island-ssh")
    assert base64.b64decode(secret["data"]["token"]).decode() == TOKEN
    assert "stringData" not in secret


def test_the_pod_references_the_secret_and_never_holds_the_token():
    spec = IslandSpec(island_id=269, owner="刘电波", branch="dev", token=TOKEN)
    pod = render_pod(spec, IslandSettings(), "islands", load_template("pod"))
    assert TOKEN not in json.dumps(pod)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["ISLAND_TOKEN"] == {"name": "ISLAND_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": "island-ssh-token-269", "key": "token"}}}
    # the wire stream of one island: its Secret first, then its pod
    secret = render_secret(269, 1, TOKEN, "islands", load_template("secret"))
    lines = to_wire([secret, pod]).splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["Secret", "Pod"]


@pytest.mark.parametrize("token", ["", "short", "has space in it!!!!!", "x" * 257, None])
def test_a_bad_token_is_refused(token):
    with pytest.raises(InvalidInput, match="token"):
        render_secret(1, 1, token, "islands", load_template("secret"))


def test_secret_names_map_back_to_island_ids():
    assert island_id_of_secret(token_secret_name(42)) == 42
    assert [island_id_of_secret(n) for n in ("island-ssh-token-", "island-ssh-token-x", "other-1", "")] == \
        [None, None, None, None]
