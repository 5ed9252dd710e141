"""A non-editable install works: the wheel carries conf/, yaml_templates/, the migrations and the sandbox.

Built from the files git tracks (new files count once they are added).

The wheel is built from this checkout and installed into a fresh virtualenv that sees the
dependencies of ours (a path entry to our venv's site-packages, whose editable-install hook is
not run), from a directory outside the checkout, so nothing can be found through the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(cmd, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ISLAND_SSH_CONFIG", "VIRTUAL_ENV")}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ of a fresh venv holding only the wheel (dependencies seen through a path entry)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy: setuptools writes build/ and *.egg-info beside the sources it builds
    tracked = run(["git", "ls-files", "-z"], cwd=REPO).stdout.split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work / "dist"),
         str(source)], cwd=work)
    wheel = next((work / "dist").glob("island_ssh-*.whl"))
    target = work / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    bin_dir = target / "bin"
    own_site = Path(run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                        cwd=work).stdout.strip())
    # a plain path entry: the deps import from there, the editable hook's .pth there is not processed
    (own_site / "zz_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
    run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "--no-deps", "-q",
         str(wheel)], cwd=work)
    return bin_dir


def test_the_package_is_imported_from_the_wheel_not_the_checkout(installed):
    where = run([str(installed / "python"), "-c", "import island_ssh, island_ssh_web, island_sandbox; "
                 "print(island_ssh.__file__, island_ssh_web.__file__, island_sandbox.__file__)"],
                cwd=installed).stdout.split()
    assert all(str(REPO) not in path and "site-packages" in path for path in where), where


@pytest.mark.parametrize("args", [["--help"], ["doctor", "--help"], ["sandbox", "--help"], ["launch", "--help"]])
def test_the_command_line_answers(installed, args):
    result = run([str(installed / "island-ssh"), *args], cwd=installed)
    assert "Usage: island-ssh" in result.stdout


def test_shipped_config_templates_and_migrations_are_found(installed):
    script = (
        "import json\n"
        "from island_ssh.config import DEFAULT_CONFIG, load_settings\n"
        "from island_ssh.core.manifests import IslandSpec, render_pod\n"
        "from island_ssh.resources import conf_file, load_template\n"
        "from island_ssh.store import load_migrations\n"
        "settings = load_settings(environ={})\n"
        "pod = render_pod(IslandSpec(island_id=269, owner='刘电波', branch='dev', token='t' * 24), settings.islands,"
        " 'default', load_template('pod'))\n"
        "print(json.dumps({'config': str(DEFAULT_CONFIG), 'entry': conf_file('container', 'entry.sh').is_file(),"
        " 'pod': pod['metadata']['name'], 'ports': [p['hostPort'] for p in pod['spec']['containers'][0]['ports']],"
        " 'migrations': len(load_migrations())}))\n"
    )
    facts = json.loads(run([str(installed / "python"), "-c", script], cwd=installed).stdout)
    assert "site-packages" in facts["config"] and str(REPO) not in facts["config"]
    assert facts["entry"] is True
    assert facts["pod"].endswith("-269") and "liudianbo" in facts["pod"]
    assert facts["ports"] == [30807, 30808, 30809]
    assert facts["migrations"] >= 1
