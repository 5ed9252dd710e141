"""The kubectl version -> capabilities table (core.kubectl_versions), on the JSON real kubectl prints."""

from __future__ import annotations

import json

import pytest

from island_ssh.core import kubectl_versions as kv

# `kubectl version --client -o json` as Debian's kubernetes-client (1.20) and the tested minors print it
DEBIAN_1_20 = json.dumps({"clientVersion": {"major": "1", "minor": "20", "gitVersion": "v1.20.15",
                                            "platform": "linux/amd64"}})
EKS_SERVER = json.dumps({"clientVersion": {"major": "1", "minor": "30", "gitVersion": "v1.30.0"},
                         "serverVersion": {"major": "1", "minor": "28+", "gitVersion": "v1.28.3-eks-4f4795d"}})


def client_json(minor: int, patch: int = 0) -> str:
    return json.dumps({"clientVersion": {"major": "1", "minor": str(minor), "gitVersion": f"v1.{minor}.{patch}"},
                       "kustomizeVersion": "v5.0.1"})


@pytest.mark.parametrize("minor, exec_protocol", [(24, "spdy"), (27, "spdy"), (29, "spdy"), (30, "websocket"),
                                                  (35, "websocket")])
def test_supported_minors_and_their_exec_protocol(minor, exec_protocol):
    caps = kv.capabilities(kv.parse_client_version(client_json(minor)))
    assert caps.supported and caps.problem() is None
    assert caps.watch_events and caps.server_side_apply
    assert caps.exec_protocol == exec_protocol


def test_debian_kubectl_is_too_old_and_the_message_names_the_oldest_supported():
    caps = kv.capabilities(kv.parse_client_version(DEBIAN_1_20))
    assert not caps.supported and caps.exec_protocol == "spdy" and not caps.server_side_apply
    assert caps.problem() == ("kubectl v1.20.15 on the master is older than 1.24, the oldest island_ssh supports; "
                              "install kubectl 1.24 or newer there (the cluster's own minor version, or one minor "
                              "from it) and point kube.kubectl at it")


def test_vendor_minor_with_a_plus_and_server_version():
    server = kv.parse_server_version(EKS_SERVER)
    assert server is not None and server.pair == (1, 28) and str(server) == "v1.28.3-eks-4f4795d"
    assert kv.parse_server_version(client_json(30)) is None  # no server answered
    assert kv.parse_server_version("not json") is None


def test_version_from_git_version_when_minor_is_missing_and_garbage_refused():
    assert kv.parse_version_info({"gitVersion": "v1.31.4"}).pair == (1, 31)
    with pytest.raises(kv.VersionParseError):
        kv.parse_client_version("command not found")
    with pytest.raises(kv.VersionParseError):
        kv.parse_client_version('{"clientVersion": {"gitVersion": "devel"}}')


@pytest.mark.parametrize("setting, client_minor, server_minor, expected", [
    ("true", 20, None, True), ("false", 35, 35, False), (True, 24, None, True), (False, 35, 35, False),
    ("auto", 35, 35, True), ("auto", 35, None, False), ("auto", 35, 21, False), ("auto", 20, 35, False),
    ("auto", 24, 22, True),
])
def test_server_side_apply_setting(setting, client_minor, server_minor, expected):
    client = kv.capabilities(kv.parse_client_version(client_json(client_minor)))
    server = None if server_minor is None else kv.KubectlVersion(1, server_minor, f"v1.{server_minor}.0")
    assert kv.use_server_side_apply(setting, client, server) is expected


def test_apply_flags_name_the_field_manager_and_never_force():
    assert kv.apply_flags(False) == []
    assert kv.apply_flags(True) == ["--server-side", "--field-manager=island-ssh"]
    assert "--force-conflicts" not in kv.apply_flags(True)


def test_exec_hint_only_for_spdy_kubectl_against_a_websocket_only_server():
    old = kv.capabilities(kv.parse_client_version(client_json(27, 1)))
    new = kv.capabilities(kv.parse_client_version(client_json(35)))
    said = "Error from server (BadRequest): exec needs a websocket upgrade (v5.channel.k8s.io)"
    assert "use kubectl 1.30 or newer" in kv.exec_unsupported_hint(old, said)
    assert kv.exec_unsupported_hint(new, said) is None
    assert kv.exec_unsupported_hint(old, 'Error from server (NotFound): pods "x" not found') is None
