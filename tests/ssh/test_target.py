"""SSHTarget from the settings file's section."""

from pathlib import Path

import pytest

from island_ssh.core.settings import SSHSettings
from island_ssh.ssh import SSHTarget


def test_from_settings_copies_fields_and_expands_home():
    settings = SSHSettings(host="10.0.0.52", port=2222, user="islandmaster", key_file="~/.ssh/k",
                           known_hosts="~/.ssh/kh", connect_timeout=3.0, keepalive_interval=2.0,
                           inactivity_timeout=9.0, pool_size=2)  # fmt: skip
    target = SSHTarget.from_settings(settings)
    assert (target.host, target.port, target.user, target.pool_size) == ("10.0.0.52", 2222, "islandmaster", 2)
    assert (target.connect_timeout, target.keepalive_interval, target.inactivity_timeout) == (3.0, 2.0, 9.0)
    assert target.key_file == str(Path.home() / ".ssh/k")
    assert target.known_hosts == str(Path.home() / ".ssh/kh")
    assert target.address == "[10.0.0.52]:2222"
    assert SSHTarget(host="m").address == "m"


def test_nonsense_values_are_refused():
    with pytest.raises(ValueError):
        SSHTarget(host="m", pool_size=0)
    with pytest.raises(ValueError):
        SSHTarget(host="m", inactivity_timeout=0)
