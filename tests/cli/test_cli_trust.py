"""What the CLI refuses and what it prints from outside (issue 11, holes 1, 8 and 9): real
`island-ssh` processes on the sandbox (sshd, kubectl, MariaDB, pods as processes).

On the code before: a foreign image was launched; logs, events and kubectl's errors reached the
terminal with their ESC sequences; doctor said nothing of a world-readable key or an http://
registration address on the network."""

from __future__ import annotations

import json
import os

import pytest

from .helpers import cli, one_error_line
from service.recovery_helpers import write_config

pytestmark = pytest.mark.slow

ID_RANGE = {"id_min": 750, "id_max": 799}
"""Ids (so host ports on the shared node addresses) no other test module's sandbox hands out."""
TITLE = "\x1b]0;pwned\x07"   # OSC: retitles the operator's terminal
CLEAR = "\x1b[2J"            # CSI: clears it


@pytest.fixture(scope="module")
def config(island_env, tmp_path_factory):
    return write_config(island_env.settings, tmp_path_factory.mktemp("trust") / "island.yaml", islands=ID_RANGE)


def no_control(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, repr(text)


@pytest.mark.parametrize("image", ["evil.example/miner:1", "bo602505401/jdk8-curl-libfaketime:old",
                                   "alpine:3.14.1", "bo602505401/x$(reboot)"])
def test_launch_with_a_foreign_image_exits_2_in_one_line_and_takes_no_id(config, island_env, image):
    result = cli(config, "launch", "--owner", "eve", "--branch", "dev", "--image", image)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert line.startswith("error: image: ") and "allowed: bo602505401/jdk8-curl-libfaketime:latest" in line
    assert island_env.store.active() == []


def test_logs_events_and_kubectl_errors_reach_the_terminal_escaped(config, island_env):
    # the stand-in server prints its failure mode raw in its first log line: a hostile env value
    # is how a container's own output carries escapes into `kubectl logs`
    launched = cli(config, "launch", "--owner", "mallory", "--branch", "dev", "--wait", "--json",
                   "--env", f"ISLAND_SERVER_FAIL=exit{TITLE}{CLEAR}", "--env", "ISLAND_SERVER_FAIL_AFTER=3600")
    assert launched.returncode == 0, launched.stderr
    island = json.loads(launched.stdout)
    island_id = island["id"]
    raw = island_env.service.logs(island_id)
    assert TITLE in raw and CLEAR in raw  # the log itself carries them...

    logs = cli(config, "logs", str(island_id))
    assert logs.returncode == 0, logs.stderr
    no_control(logs.stdout)  # ...the terminal gets them as text
    assert "exit\\x1b]0;pwned\\x07\\x1b[2J after 3600s" in logs.stdout
    assert logs.stdout.count("\n") == raw.count("\n")  # newlines are kept

    # an event as the tracker stores Kubernetes' reason and message: verbatim
    assert island_env.store.transition(island_id, island["generation"], "ready", f"Odd{CLEAR}",
                                       f"message {TITLE}\r\nfake line", expected_from="ready")
    events = cli(config, "events", str(island_id))
    assert events.returncode == 0
    no_control(events.stdout)
    assert "Odd\\x1b[2J message \\x1b]0;pwned\\x07\\x0d\\x0afake line" in events.stdout
    assert not any(line.startswith("fake line") for line in events.stdout.splitlines())
    listed = cli(config, "list")
    no_control(listed.stdout)
    assert "Odd\\x1b[2J" in listed.stdout

    # --json stays exact: JSON escapes them, and a reader gets the very text back
    as_json = cli(config, "events", str(island_id), "--json")
    no_control(as_json.stdout)
    assert json.loads(as_json.stdout)[-1]["message"] == f"message {TITLE}\r\nfake line"

    # kubectl's own error quotes what it was given
    bad = cli(config, "logs", str(island_id), "-c", f"c{TITLE}")
    assert bad.returncode in (4, 8), bad.stderr
    no_control(bad.stderr)
    assert "\\x1b]0;pwned\\x07" in one_error_line(bad)
    island_env.cleanup()


def test_doctor_warns_about_an_open_key_and_http_registration_off_this_machine(config, island_env, tmp_path):
    key = tmp_path / "id_island"
    key.write_bytes(open(os.path.expanduser(island_env.settings.ssh.key_file), "rb").read())
    key.chmod(0o600)
    quiet = write_config(island_env.settings, tmp_path / "quiet.yaml", ssh={"key_file": str(key)})
    lines = cli(quiet, "doctor").stdout.splitlines()
    assert any(l.startswith("ok    key file mode") and "0600" in l for l in lines), lines
    assert any(l.startswith("ok    registration tls") for l in lines), lines

    key.chmod(0o640)
    loud = write_config(island_env.settings, tmp_path / "loud.yaml", ssh={"key_file": str(key)},
                        islands={**ID_RANGE, "registration_url": "http://10.18.8.97:8080"})
    result = cli(loud, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["key file mode"]["status"] == "warn"
    assert "mode 0640" in checks["key file mode"]["detail"] and f"chmod 600 {key}" in checks["key file mode"]["detail"]
    assert checks["registration tls"]["status"] == "warn"
    assert "http://10.18.8.97:8080" in checks["registration tls"]["detail"]
    assert checks["ssh login"]["status"] == "ok"  # a warning, not a failure: the key still works
