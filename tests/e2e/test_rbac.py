"""The product works with exactly the rights of conf/kubernetes/rbac.yaml, and a missing right is a
clear error: the sandbox enforces the file (sandbox.rbac), the master's kubectl acts as its
ServiceAccount, and everything runs for real (sshd, kubectl, MariaDB, the island's processes)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from fixtures.island import IslandEnv, ask_time, running_island_env, wait_until
from island_sandbox.product import running_sandbox
from island_ssh.core.errors import Forbidden
from island_ssh.resources import conf_file
from island_ssh.service.islands import LaunchRequest
from service.recovery_helpers import island_ssh_cmd, write_config

pytestmark = pytest.mark.slow
RBAC = conf_file("kubernetes", "rbac.yaml")


def without_exec(tmp_path) -> str:
    """The shipped file less its pods/exec rule (what a master set up by hand may lack)."""
    docs = list(yaml.safe_load_all(RBAC.read_text(encoding="utf-8")))
    for doc in docs:
        if doc["kind"] == "Role":
            doc["rules"] = [r for r in doc["rules"] if r["resources"] != ["pods/exec"]]
    path = tmp_path / "rbac-no-exec.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return str(path)


def test_a_whole_island_life_with_exactly_the_shipped_rights(db_settings, tmp_path):
    with running_sandbox("island-ssh-rbac-", rbac=str(RBAC)) as box, \
            running_island_env(box.info, db_settings) as env:
        assert json.loads(box.info.kubeconfig.read_text())["users"][0]["user"]["as"].endswith(":island-ssh")
        row = env.service.launch(LaunchRequest(owner="刘电波", branch="dev"))
        row = env.wait_state(row.island_id, "ready")
        env.service.set_clock(row.island_id, "2021-09-18 23:30:07")
        wait_until(lambda: dt.datetime.fromisoformat(ask_time(row.host_ip, row.ports[2])["now"]).year == 2021, 5,
                   "the island's clock moved")
        assert env.service.logs(row.island_id, tail=20) is not None
        config = write_config(env.settings, tmp_path / "island.yaml")
        doctor = island_ssh_cmd(config, "doctor", timeout=120)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert any(line.startswith("ok") and "rights island_ssh uses are granted" in line
                   for line in doctor.stdout.splitlines()), doctor.stdout
        env.service.delete(row.island_id, wait=True)
        assert env.store.get(row.island_id).state == "deleted"


def test_a_missing_right_is_a_forbidden_error_exit_5_and_doctor_names_it(db_settings, tmp_path):
    with running_sandbox("island-ssh-rbac-", rbac=without_exec(tmp_path)) as box, \
            running_island_env(box.info, db_settings) as env:
        env: IslandEnv
        row = env.wait_state(env.service.launch(LaunchRequest(owner="bob", branch="dev")).island_id, "ready")
        with pytest.raises(Forbidden) as refused:
            env.service.set_clock(row.island_id, "+1d")
        assert 'cannot create resource "pods/exec"' in refused.value.message
        assert "conf/kubernetes/rbac.yaml" in refused.value.message
        config = write_config(env.settings, tmp_path / "island.yaml")
        clock = island_ssh_cmd(config, "clock", str(row.island_id), "+1d", timeout=120)
        assert clock.returncode == 5, clock.stderr
        assert clock.stderr.count("\n") == 1 and "rbac.yaml" in clock.stderr
        doctor = island_ssh_cmd(config, "doctor", timeout=120)
        assert doctor.returncode == 3, doctor.stdout
        failed = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL")]
        assert any("may create pods/exec" in line and "kubectl apply -f conf/kubernetes/rbac.yaml" in line
                   for line in failed), doctor.stdout
        assert len(failed) == 2 and all("pods/exec" in line for line in failed), failed  # create and get, no more
