"""Crash forensics on the sandbox (issue 15): an island's server writes files into its working
directory (islands.remains_dir, the emptyDir the side container shares), crashes, and its remains
bundle holds its log, its events, its pod facts and the configured files, read from the SIDE
container over the one SSH connection; a 200 MB core file streams through within the cap with
bounded memory (tracemalloc over every thread: the SSH reader, paramiko, the bundle), a lower cap
cuts it and says so; strangers get 403; a deleted pod's remains are 410. Hostile remains_paths stop
the config load (no sandbox)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import socket
import tarfile
import time
import tracemalloc

import pytest

from fixtures.island import IslandEnv, make_settings, wait_until
from island_sandbox.product import running_product
from island_ssh.config import load_settings
from island_ssh.core.errors import ConfigError, PermissionDenied, PodGone
from island_ssh.core.identity import User
from island_ssh.core.names import SERVER_CONTAINER, SIDE_CONTAINER
from island_ssh.service.islands import LaunchRequest
from island_ssh.service.remains import RemainsService
from island_ssh.testing import free_port
from service.recovery_helpers import island_ssh_cmd, write_config

pytestmark = pytest.mark.alone  # 200 MB written, read and packed: run with nothing beside it
ISLANDS = {"id_min": 960, "id_max": 979}
CORE_BYTES = 200_000_000
MIB = 1 << 20
OWNER = User(id="u-liu", name="刘电波")
# written by the SERVER container, relative to its working directory (islands.remains_dir)
WRITE = ("mkdir -p logs && printf 'boom at frame 7\\n' > logs/server-crash.log && "
         "printf 'SIGSEGV (0xb) at pc=0x00007f\\n' > hs_err_pid42.log && "
         "printf 'not configured\\n' > other.txt && "
         f"head -c {CORE_BYTES} /dev/urandom > core.42 && pwd")


@pytest.fixture(scope="module")
def env(sandbox_info, db_settings):
    web_port = free_port()
    settings = make_settings(db_settings, sandbox_info, web_port, **ISLANDS)
    with running_product(settings, web_port, watch_timeout=30) as runtime:
        env = IslandEnv(settings, sandbox_info, runtime, web_port)
        try:
            row = env.service.launch(LaunchRequest(owner=OWNER.name, owner_id=OWNER.id, branch="dev"))
            row = env.wait_state(row.island_id, "ready", timeout=90)
            written = env.kubectl.exec(row.pod_name, SERVER_CONTAINER, ["sh", "-c", WRITE], timeout=120)
            assert written.exit_code == 0, written
            env.workdir = written.stdout.strip()
            pod = env.kubectl.pod(row.pod_name)
            with socket.create_connection((pod["status"]["hostIP"], row.ports[0]), timeout=5) as conn:
                conn.sendall(b"crash 3\n")
                conn.makefile("rb").readline()
            env.row = env.wait_state(row.island_id, "failed", timeout=60)
            yield env
        finally:
            env.cleanup()


def read_bundle(path_or_bytes) -> dict[str, bytes]:
    """name -> content of every member except the big core file (name -> size for that one)."""
    out = {}
    fileobj = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb")
    with fileobj, tarfile.open(fileobj=fileobj, mode="r|gz") as archive:
        for member in archive:
            if member.isdir():
                continue
            data = archive.extractfile(member)
            if member.name.endswith("core.42"):
                digest, size = hashlib.sha256(), 0
                while chunk := data.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
                out[member.name] = (size, digest.hexdigest())
            else:
                out[member.name] = data.read()
    return out


def test_the_server_works_in_the_shared_directory(env):
    assert env.workdir == env.settings.islands.remains_dir
    # the side container sees the dead server's files (the emptyDir outlives the server container)
    listing = env.kubectl.exec(env.row.pod_name, SIDE_CONTAINER, ["ls", env.settings.islands.remains_dir])
    assert set(listing.stdout.split()) >= {"logs", "hs_err_pid42.log", "core.42", "other.txt"}


def test_a_crashed_islands_bundle_holds_its_log_events_facts_and_files_streamed_within_the_cap(env, tmp_path):
    row = env.row
    digest = env.kubectl.exec(row.pod_name, SIDE_CONTAINER,
                              ["sha256sum", f"{env.settings.islands.remains_dir}/core.42"], timeout=120)
    want_sha = digest.stdout.split()[0]
    before = dict(env.kubectl.commands)
    download = env.service.remains.open(row.island_id, user=OWNER)
    # streamed to a file (what the CLI and a browser do); tracemalloc sees every Python allocation
    path = tmp_path / "remains.tar.gz"
    tracemalloc.start()
    started = time.monotonic()
    try:
        with open(path, "wb") as out:
            summary = download.write_to(out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    seconds = time.monotonic() - started
    size = path.stat().st_size
    print(f"\nremains: {CORE_BYTES / MIB:.0f} MiB core streamed in {seconds:.1f} s "
          f"({CORE_BYTES / MIB / seconds:.1f} MiB/s), bundle {size / MIB:.1f} MiB, "
          f"peak traced memory {peak / MIB:.1f} MiB")
    assert summary["complete"] and not summary["truncated"] and summary["bytes"] == size
    assert summary["files_bytes"] >= CORE_BYTES and size > CORE_BYTES  # random data: no shrinking
    assert peak < 32 * MIB, f"peak {peak / MIB:.1f} MiB while streaming {CORE_BYTES / MIB:.0f} MiB"
    spent = {k: v - before.get(k, 0) for k, v in env.kubectl.commands.items() if v != before.get(k, 0)}
    assert spent.get("exec") == 1  # the files came in ONE remote command

    members = read_bundle(path)
    root = f"remains-{row.island_id}-g{row.generation}"
    assert members[f"{root}/files/core.42"] == (CORE_BYTES, want_sha)
    assert members[f"{root}/files/logs/server-crash.log"] == b"boom at frame 7\n"
    assert members[f"{root}/files/hs_err_pid42.log"].startswith(b"SIGSEGV")
    assert f"{root}/files/other.txt" not in members  # not configured
    assert b"island-entry: starting" in members[f"{root}/server.log"]
    events = members[f"{root}/events.json"].decode()
    assert '"to": "failed"' in events and '"to": "ready"' in events
    facts = members[f"{root}/pod.json"].decode()
    assert '"exitCode": 3' in facts and '"state": "terminated"' in facts
    assert b"Restart Count" in members[f"{root}/pod.txt"]
    assert b'"island_id"' in members[f"{root}/clock.json"] or members[f"{root}/clock.json"].startswith(b"{")
    assert members[f"{root}/code-version.txt"].strip()
    manifest = members[f"{root}/manifest.json"].decode()
    assert '"truncated": false' in manifest and "files/core.42" in manifest
    # every configured pattern matched: no note says otherwise
    assert "nothing matches" not in members.get(f"{root}/notes.txt", b"").decode()


def test_a_lower_cap_cuts_the_files_and_says_so(env):
    islands = dataclasses.replace(env.settings.islands, remains_max_bytes=50 * MIB)
    capped = RemainsService(env.service, islands)
    out = io.BytesIO()
    summary = capped.open(env.row.island_id, user=OWNER).write_to(out)
    assert summary["truncated"] and summary["files_bytes"] == 50 * MIB
    members = read_bundle(out.getvalue())
    root = f"remains-{env.row.island_id}-g{env.row.generation}"
    assert members[f"{root}/files/logs/server-crash.log"] == b"boom at frame 7\n"  # before the cut
    size, _ = members[f"{root}/files/core.42"]
    assert size == 50 * MIB - len(b"boom at frame 7\n") - len(b"SIGSEGV (0xb) at pc=0x00007f\n")
    assert b"TRUNCATED" in members[f"{root}/notes.txt"] and b'"truncated": true' in members[f"{root}/manifest.json"]
    # the container's tar was stopped, not read to its end: the channel is free again at once
    wait_until(lambda: not [s for s in env.runtime.shell._streams
                            if "island-remains" in s.command and not s.finished.is_set()], 10,
               "the remains stream closed")
    # and its users' read channel is free (ssh.user_read_channels is 1): a log read gets it at once
    started = time.monotonic()
    assert env.service.read_logs(env.row.island_id, tail=5, user=OWNER).text
    assert time.monotonic() - started < env.settings.ssh.user_read_wait


def test_a_stranger_may_not_download_and_the_page_offers_it_to_the_owner_only(env):
    with pytest.raises(PermissionDenied):
        env.service.remains.open(env.row.island_id, user=User(id="u-other", name=OWNER.name))  # a namesake
    row = env.store.get(env.row.island_id)
    assert env.service.remains.offer(row, OWNER)
    assert not env.service.remains.offer(row, User(id="u-other", name="x"))
    assert env.service.remains.offer(row, User(id="boss", name="Boss", is_admin=True))


def test_the_command_line_writes_the_bundle_and_its_summary(env, tmp_path):
    config = write_config(env.settings, tmp_path / "island.yaml", islands={"remains_max_bytes": 8 * MIB})
    out = tmp_path / "remains.tar.gz"
    done = island_ssh_cmd(config, "remains", str(env.row.island_id), "-o", str(out), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["truncated"] and summary["bytes"] == out.stat().st_size and summary["output"] == str(out)
    assert not (tmp_path / "remains.tar.gz.part").exists()
    names = {m["name"] for m in summary["members"]}
    assert {"server.log", "events.json", "files/logs/server-crash.log", "manifest.json"} <= names
    assert f"remains-{env.row.island_id}-g{env.row.generation}/files/hs_err_pid42.log" in read_bundle(str(out))
    text = island_ssh_cmd(config, "remains", str(env.row.island_id), "-o", str(out), timeout=300)
    assert text.returncode == 0 and text.stdout.startswith(f"wrote {out}: ") and "truncated: yes" in text.stdout
    env.config = config


def test_once_the_pod_is_deleted_its_remains_are_gone(env, tmp_path):
    env.service.delete(env.row.island_id, user=OWNER, wait=True)
    with pytest.raises(PodGone) as gone:
        env.service.remains.open(env.row.island_id, user=OWNER)
    assert "its remains went with it" in gone.value.message and gone.value.http_status == 410
    done = island_ssh_cmd(env.config, "remains", str(env.row.island_id), "-o", str(tmp_path / "x.tgz"))
    assert done.returncode == 4 and done.stderr.count("\n") == 1 and "its remains went with it" in done.stderr
    assert not list(tmp_path.iterdir())  # no file, not even a .part


HOSTILE = ["../../etc/shadow", "/etc/passwd", "$(reboot)", "`id`", "-rf", "logs/;rm -rf /", "a\nb", "a b",
           "logs/../../x", "'quoted'", "日志/", "x" * 300, "", "~root/.ssh", "logs/-x"]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_remains_paths_stop_the_config_load(tmp_path, path):
    conf = tmp_path / "island.yaml"
    conf.write_text("islands:\n  remains_paths: " + json.dumps([path]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(str(conf), environ={})
    message = refused.value.message
    assert "islands.remains_paths" in message and "\n" not in message and "expected relative paths" in message


@pytest.mark.parametrize("field,value", [("remains_dir", "/"), ("remains_dir", "relative/dir"),
                                         ("remains_dir", "/home/server"), ("remains_dir", "/home/../etc"),
                                         ("remains_max_bytes", 0), ("remains_max_bytes", "lots"),
                                         ("remains_log_lines", -1)])
def test_hostile_remains_settings_stop_the_config_load(tmp_path, field, value):
    conf = tmp_path / "island.yaml"
    conf.write_text(f"islands:\n  {field}: {json.dumps(value)}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(str(conf), environ={})
    assert f"islands.{field}" in refused.value.message and "\n" not in refused.value.message
