"""doctor's key-file and registration-transport checks on real files (issue 11, hole 9); the whole
command on the sandbox is in tests/cli/test_cli_trust.py."""

from __future__ import annotations

import pytest

from island_ssh.service.doctor import OK, SKIP, WARN, check_key_file_mode, check_registration_transport


@pytest.mark.parametrize("mode, status", [(0o600, OK), (0o400, OK), (0o640, WARN), (0o604, WARN), (0o644, WARN),
                                          (0o660, WARN), (0o610, WARN)])
def test_key_file_mode(tmp_path, mode, status):
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key.chmod(mode)
    check = check_key_file_mode(str(key))
    assert (check.name, check.status) == ("key file mode", status)
    assert f"mode {mode:04o}" in check.detail
    if status == WARN:
        assert f"chmod 600 {key}" in check.detail and check.exit_code == 0  # a warning: doctor still exits 0


def test_key_file_mode_expands_home_and_says_when_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "k").write_text("x")
    (tmp_path / "k").chmod(0o644)
    assert check_key_file_mode("~/k").status == WARN
    missing = check_key_file_mode(str(tmp_path / "absent"))
    assert missing.status == WARN and "not checked" in missing.detail


@pytest.mark.parametrize("url, status", [
    ("http://127.0.0.1:8080", OK), ("http://127.8.9.10", OK), ("http://localhost:8080", OK), ("http://[::1]:80", OK),
    ("https://islands.studio.local", OK), ("http://10.18.8.97:8080", WARN), ("http://islands.studio.local", WARN),
    ("http://0.0.0.0:8080", WARN), ("ftp://x", SKIP), ("", SKIP)])
def test_registration_transport(url, status):
    check = check_registration_transport(url)
    assert (check.name, check.status) == ("registration tls", status), check.detail
    if status == WARN:
        assert url in check.detail and "https" in check.detail
