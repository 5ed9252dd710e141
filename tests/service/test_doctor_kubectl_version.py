"""doctor's "kubectl version" line: an unsupported kubectl is named with the oldest supported one
(exit 3), a supported one with its exec protocol and apply mode. The master's answers are what
Debian's kubectl 1.20 and kubectl 1.27 print for ``kubectl version --client -o json``."""

from __future__ import annotations

import json

from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.kube.kubectl import Kubectl
from island_ssh.service.doctor import EXIT_CONFIG, FAIL, OK, Doctor
from island_ssh.testing.fakes import FakeShell, result


def doctor_with(client: dict, server: dict | None = None, **kube) -> Doctor:
    doctor = Doctor(None)
    doctor.settings = load_settings(DEFAULT_CONFIG, environ={}).replace(kube=kube) if kube else \
        load_settings(DEFAULT_CONFIG, environ={})
    both = {"clientVersion": client, **({"serverVersion": server} if server else {})}
    shell = FakeShell({"version --client": result(json.dumps({"clientVersion": client})),
                       "version -o json": result(json.dumps(both))})
    doctor.kubectl = Kubectl(shell, doctor.settings.kube)
    return doctor


def test_debian_kubectl_1_20_fails_with_the_oldest_supported():
    check = doctor_with({"major": "1", "minor": "20", "gitVersion": "v1.20.15"}).check_kubectl_version()
    assert check.status == FAIL and check.exit_code == EXIT_CONFIG == 3
    assert check.detail.startswith("kubectl v1.20.15 on the master is older than 1.24, the oldest island_ssh "
                                   "supports; install kubectl 1.24 or newer there")


def test_a_supported_kubectl_says_how_it_execs_and_applies():
    old = doctor_with({"major": "1", "minor": "27", "gitVersion": "v1.27.1"},
                      {"major": "1", "minor": "27", "gitVersion": "v1.27.4"}, server_side_apply="auto")
    check = old.check_kubectl_version()
    assert check.status == OK
    assert check.detail == ("kubectl v1.27.1: supported; exec over spdy, server-side apply "
                            "(kube.server_side_apply: auto)")
    new = doctor_with({"major": "1", "minor": "35", "gitVersion": "v1.35.2"},
                      server_side_apply="false").check_kubectl_version()
    assert new.detail == "kubectl v1.35.2: supported; exec over websocket, client-side apply " \
                         "(kube.server_side_apply: false)"


def test_auto_stays_client_side_when_the_api_server_is_too_old_or_silent():
    ancient = doctor_with({"major": "1", "minor": "30", "gitVersion": "v1.30.0"},
                          {"major": "1", "minor": "21", "gitVersion": "v1.21.14"}, server_side_apply="auto")
    assert ancient.kubectl.server_side_apply() is False
    silent = doctor_with({"major": "1", "minor": "30", "gitVersion": "v1.30.0"}, server_side_apply="auto")
    assert silent.kubectl.server_side_apply() is False


def test_server_side_apply_setting_takes_auto_true_false_only():
    import pytest

    from island_ssh.config import settings_from_dict
    from island_ssh.core.errors import ConfigError
    assert settings_from_dict({"kube": {"server_side_apply": True}}).kube.server_side_apply == "true"
    assert settings_from_dict({"kube": {"server_side_apply": "AUTO"}}).kube.server_side_apply == "auto"
    with pytest.raises(ConfigError, match="server_side_apply must be auto, true or false, not 'sometimes'"):
        settings_from_dict({"kube": {"server_side_apply": "sometimes"}})
