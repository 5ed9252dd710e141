"""Manifest rendering round trip, as the manifest really travels: through ``Kubectl.apply``'s
own serialisation (pure property), and through SSH, kubectl and the API server and back
(``kubectl get -o json`` on the sandbox). Every string a user gives must come back unchanged.

What kubectl receives is whatever ``Kubectl.apply`` writes (``manifests.to_wire``: a stream of
JSON objects), so that is what is checked here.
"""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from island_ssh.resources import load_template
from island_ssh.core.settings import IslandSettings, KubeSettings
from island_ssh.core.errors import InvalidInput
from island_ssh.kube.kubectl import Kubectl
from island_ssh.core.manifests import IslandSpec, render_pod
from island_ssh.testing.fakes import FakeShell, result

TOKEN = "t" * 32
LINE_BREAKS = ["\x85", "\u2028", "\u2029"]
TRICKY = st.sampled_from(list("'\"\\:-?#&*!|>%@`{}[],\n\r\t \x00\x1b") + LINE_BREAKS +
                         ["---", "...", "$(", "刘", "\ufeff", "null", "~", "0x1F", "1e3", "yes", "<<"])
any_text = (st.text(st.characters(codec="utf-8"), max_size=60)
            | st.lists(TRICKY | st.text(max_size=3), max_size=12).map("".join))

# owners with control characters or nothing visible are refused by validation; keep most owners
# acceptable so each batch carries many pods (values keep every character)
owner_text = any_text.map(lambda t: "p" + "".join(ch for ch in t if ch.isprintable())) | st.sampled_from(
    ["刘电波", "O'Brien", "yes", "y", "N", "1e3", "0.1e5", "null", "~", "- x", "a: b", "#x", "José"])


SERVER_SIDE = KubeSettings(server_side_apply="true")
"""What a supported master gets (kube.server_side_apply auto): no version question first."""


def recording_shell() -> FakeShell:
    """Keeps what kubectl would have read on stdin (``calls[i].stdin``) and answers like kubectl."""
    return FakeShell({"apply": result("pod/x\n")})


def render(island_id: int, owner: str, value: str) -> dict | None:
    spec = IslandSpec(island_id, owner, "dev", extra_env={"USER_VALUE": value}, token=TOKEN)
    try:
        return render_pod(spec, IslandSettings(), "default", load_template("pod"))
    except InvalidInput:
        return None


def sent_pods(stdin: bytes) -> list[dict]:
    """The pods in what Kubectl.apply wrote, read as kubectl reads input that opens with ``{``:
    a stream of JSON values."""
    text, decoder, docs, at = stdin.decode("utf-8"), json.JSONDecoder(), [], 0
    while text[at:].strip():
        doc, at = decoder.raw_decode(text, len(text) - len(text[at:].lstrip()))
        docs.append(doc)
    return docs


def env_of(pod: dict) -> dict:
    return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(owner=owner_text | any_text, value=any_text)
def test_what_kubectl_apply_sends_loads_back_unchanged(owner, value):
    pod = render(7, owner, value)
    if pod is None:
        return
    shell = recording_shell()
    Kubectl(shell, SERVER_SIDE).apply([pod])
    assert sent_pods(shell.calls[0].stdin) == [pod]


@pytest.mark.parametrize("mark", LINE_BREAKS, ids=["NEL", "LS", "PS"])
def test_unicode_line_breaks_survive_kubectl_apply_serialisation(mark):
    pod = render(7, "ann", f"a{mark}b")
    shell = recording_shell()
    Kubectl(shell, SERVER_SIDE).apply([pod])
    assert env_of(sent_pods(shell.calls[0].stdin)[0])["USER_VALUE"] == f"a{mark}b"


# -- through SSH, kubectl and the API server ----------------------------------------------------------
@pytest.fixture(scope="module")
def master_kubectl(sandbox):
    from island_ssh.ssh import RemoteShell, SSHTarget
    info = sandbox.info
    shell = RemoteShell(SSHTarget(host=info.ssh_host, port=info.ssh_port, user=info.ssh_user,
                                  key_file=str(info.key_file), known_hosts=str(info.known_hosts)))
    try:
        yield Kubectl(shell)
    finally:
        shell.close()


BATCH = 40


@pytest.mark.slow
@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(owner_text, any_text), min_size=BATCH, max_size=BATCH),
       big=st.sampled_from(["", "x" * 300_000, "\u2028" * 1000 + "刘" * 50_000]))
def test_strings_come_back_unchanged_from_the_api_server(master_kubectl, values, big):
    pods = {}
    for i, (owner, value) in enumerate(values, start=1):
        pod = render(i, owner, value + (big if i == 1 else ""))
        if pod is None:
            continue
        pod["metadata"]["labels"] = {"island-ssh-fuzz": "1"}  # not ours: the tracker must ignore it
        pod["spec"]["nodeSelector"] = {"branch": "nowhere"}  # stays Pending: no process starts
        pods[pod["metadata"]["name"]] = pod
    if not pods:
        return
    try:
        master_kubectl.apply(list(pods.values()), timeout=120)
        stored = json.loads(master_kubectl.run("get", "pods", "-l", "island-ssh-fuzz=1", "-o", "json", timeout=120))
        back = {p["metadata"]["name"]: p for p in stored["items"]}
        assert set(back) == set(pods)
        for name, pod in pods.items():
            assert env_of(back[name]) == env_of(pod), name
            theirs = {k: v for k, v in back[name]["metadata"]["annotations"].items()
                      if k != "kubectl.kubernetes.io/last-applied-configuration"}
            assert theirs == pod["metadata"]["annotations"], name
            assert back[name]["spec"]["containers"][0]["command"] == pod["spec"]["containers"][0]["command"]
    finally:
        master_kubectl.run("delete", "pods", "-l", "island-ssh-fuzz=1", "--grace-period=0", "--force",
                           "--wait=false", timeout=120)


def test_owner_annotation_is_the_normalised_name():
    pod = render(3, " Jose\u0301 ", "v")
    assert pod["metadata"]["annotations"]["island-ssh/owner"] == unicodedata.normalize("NFC", "Jose\u0301")
