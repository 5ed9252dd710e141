"""The pure parts of crash forensics (core/remains.py, core/remains_tar.py): the streamed tar.gz is
a tar that `tarfile` reads back, whatever the chunking; member names stay inside their folder;
who sees the link; the pod facts keep what describe shows and no env values."""

from __future__ import annotations

import io
import tarfile

import pytest

from island_ssh.core.remains import BundleManifest, member_name, may_show_link, pod_facts
from island_ssh.core.remains_tar import TarGzWriter


def test_a_streamed_archive_reads_back_and_short_members_are_padded():
    w = TarGzWriter()
    out = [w.add("r/a.txt", "日志\n".encode(), 0), w.add_dir("r/files", 0), w.begin("r/files/big", 100_000, 0)]
    for i in range(0, 60_000, 7_000):
        out.append(w.write(b"x" * min(7_000, 60_000 - i)))
    tail, missing = w.end()
    out += [tail, w.close()]
    assert missing == 40_000 and w.raw_bytes % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(b"".join(out)), mode="r:gz") as archive:
        assert archive.extractfile("r/a.txt").read() == "日志\n".encode()
        assert archive.getmember("r/files").isdir()
        assert archive.extractfile("r/files/big").read() == b"x" * 60_000 + bytes(40_000)


def test_a_member_cannot_take_more_than_its_header_said():
    w = TarGzWriter()
    w.begin("a", 3, 0)
    with pytest.raises(ValueError):
        w.write(b"1234")


@pytest.mark.parametrize("name,clean", [("./logs/a.log", "logs/a.log"), ("core.1", "core.1"), ("/etc/passwd", None),
                                        ("logs/../../x", None), ("./", None), ("a//b/./c", "a/b/c")])
def test_member_names_stay_inside_their_folder(name, clean):
    assert member_name(name) == clean


def test_who_is_offered_the_link():
    assert may_show_link("failed", is_admin=False, may_read=True)
    assert not may_show_link("ready", is_admin=False, may_read=True)
    assert may_show_link("ready", is_admin=True, may_read=True)
    assert not may_show_link("failed", is_admin=False, may_read=False)
    assert not may_show_link("deleted", is_admin=True, may_read=True)


def test_pod_facts_keep_exit_codes_and_drop_env():
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [
        {"name": "altraserver", "image": "i", "env": [{"name": "ISLAND_TOKEN", "value": "secret"}],
         "resources": {"limits": {"memory": "2Gi"}}}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "altraserver", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}
    facts = pod_facts(pod)
    (server,) = facts["containers"]
    assert (server["state"], server["exitCode"], server["reason"]) == ("terminated", 137, "OOMKilled")
    assert "secret" not in repr(facts) and facts["node"] == "n1"


def test_the_manifest_says_truncated_once():
    m = BundleManifest(1, 2, "p", "t", 10)
    m.cut("files/core", 4, 99)
    m.cut("files/core", 4, 99)
    assert m.truncated and len(m.notes) == 1 and "TRUNCATED" in m.notes_text()
