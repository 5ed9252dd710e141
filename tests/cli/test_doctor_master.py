"""`island-ssh doctor` against masters shaped like real ones (tests/fixtures/login_shells.py): what it
finds about the login shell and sshd's MaxSessions, and, on a master it cannot serve, one line
per problem with what to do and exit 3. Real CLI processes, real sshd and MariaDB."""

from __future__ import annotations

import dataclasses
import json

from island_ssh.config import settings_from_dict

from fixtures.login_shells import REFUSED, SERVED, shaped_sshd
from service.recovery_helpers import island_ssh_cmd, write_config


def _config(tmp_path, db_settings, server, **ssh) -> str:
    settings = settings_from_dict({})
    target = dict(host=server.host, port=server.port, user=server.user, key_file=str(server.key_file),
                  known_hosts=str(server.known_hosts), connect_timeout=5.0, pool_size=4, **ssh)
    return write_config(settings, tmp_path / "island.yaml", ssh=target, database=dataclasses.asdict(db_settings),
                        islands={"registration_url": "http://127.0.0.1:8080/register"})


def _lines(result) -> dict[str, str]:
    """check name -> its whole line (`status  name  detail`)."""
    return {line[6:22].strip(): line for line in result.stdout.splitlines()[:-1]}


def test_doctor_on_a_misconfigured_master_says_what_to_do_and_exits_3(tmp_path, store, db_settings):
    forever = next(s for s in REFUSED if s.name == "forever")
    with shaped_sshd(forever, max_sessions=2) as server:
        result = island_ssh_cmd(_config(tmp_path, db_settings, server), "doctor", timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = _lines(result)
    shell = lines["login shell"]
    assert shell.startswith("FAIL") and "printed more than" in shell and "`[ -t 0 ] || return`" in shell
    sessions = lines["ssh sessions"]
    assert sessions.startswith("FAIL") and "allows 2 sessions per connection (sshd MaxSessions)" in sessions
    assert "set MaxSessions 5 in /etc/ssh/sshd_config" in sessions and "ssh.pool_size 1" in sessions
    assert lines["kubectl"].startswith("skip") and "login shell that runs commands" in lines["kubectl"]
    assert result.stdout.splitlines()[-1].startswith("2 of ")


def test_doctor_reports_the_login_shell_it_serves(tmp_path, store, db_settings):
    noisy = next(s for s in SERVED if s.name == "noisy")
    with shaped_sshd(noisy) as server:
        config = _config(tmp_path, db_settings, server)
        result = island_ssh_cmd(config, "doctor", timeout=120)
        data = json.loads(island_ssh_cmd(config, "doctor", "--json", timeout=120).stdout)
    lines = _lines(result)
    shell = lines["login shell"]
    assert shell.startswith("ok") and "/bin/bash, bash 5." in shell, shell
    assert f"banner {len(noisy.banner)} bytes" in shell and "Studio cluster master" in shell
    assert lines["ssh sessions"].startswith("ok") and "at least 5 sessions" in lines["ssh sessions"]
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["login shell"]["status"] == "ok" and checks["ssh sessions"]["status"] == "ok"
    # the shell serves: doctor goes on to kubectl through it (whatever kubectl finds there)
    assert not lines["kubectl"].startswith("skip")


def test_doctor_warns_about_a_slow_profile(tmp_path, store, db_settings):
    slow = next(s for s in SERVED if s.name == "slow")
    with shaped_sshd(slow) as server:
        result = island_ssh_cmd(_config(tmp_path, db_settings, server), "doctor", timeout=120)
    shell = _lines(result)["login shell"]
    assert shell.startswith("warn") and "every new shell channel waits that long" in shell, shell


def test_a_command_on_an_unservable_login_shell_is_one_error_line_and_exit_3(tmp_path, store, db_settings):
    asks = next(s for s in REFUSED if s.name == "exectmux")
    with shaped_sshd(asks) as server:
        result = island_ssh_cmd(_config(tmp_path, db_settings, server), "recover", "--dry-run", timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: the login shell of islandsh-exectmux")
    assert "exited (status" in result.stderr and "`[ -t 0 ] || return`" in result.stderr
