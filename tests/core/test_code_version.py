"""core.code_version: the version rule, the probe's framing and the verdict (pure)."""

from __future__ import annotations

import pytest

from island_ssh.core import code_version as cv
from island_ssh.core.errors import ConfigError, InvalidInput
from island_ssh.core.settings import IslandSettings


@pytest.mark.parametrize("data, version", [
    (b"abc123\n", "abc123"), (b"abc123", "abc123"), (b"  build 7 \r\nrest", "build 7"), (b"", ""), (None, ""),
    (b"\n\nv2", ""), (b"$(id)", cv.UNREADABLE), (b"a\tb", cv.UNREADABLE), ("刘".encode(), cv.UNREADABLE),
    (b"a" * 129, cv.UNREADABLE), (b"a" * 10_000, cv.UNREADABLE), (b"a\x00", cv.UNREADABLE), (b"a  b", cv.UNREADABLE),
    (b"'quoted'", cv.UNREADABLE), (b"x: [1]", cv.UNREADABLE),
])
def test_parse_file(data, version):
    assert cv.parse_file(data) == version


@pytest.mark.parametrize("bad", ["$(id)", "a\nb", "x" * 129, "刘电波", " lead", "!unreadabl", 7])
def test_a_reported_version_outside_the_rule_is_refused_in_one_line(bad):
    with pytest.raises(InvalidInput) as caught:
        cv.check_reported(bad)
    assert "\n" not in caught.value.message and "code_version" in caught.value.message


def test_framed_probe_output_is_read_by_its_token_and_hex_never_forges_a_marker():
    forged = "B_tok 1\n".encode().hex()  # a file holding a marker line reaches us as hex digits only
    out = ("M_B_tok 0\nF\n 61 62 63 0a\n\nM_E_tok 0 0\n"
           f"M_B_tok 1\nF\n {' '.join(forged[i:i + 2] for i in range(0, len(forged), 2))}\n\nM_E_tok 1 0\n"
           "M_B_tok 2\nerror: pod gone\n\nM_E_tok 2 1\n"
           "M_B_tok 3\nM\n\nM_E_tok 3 0\n")
    got = cv.parse_framed(out, "M_B_tok", "M_E_tok", 5)
    assert got[0] == ("abc", "") and got[1] == ("B_tok 1", "") and got[3] == ("", "")
    assert got[2] == (None, "kubectl exec exited 1") and got[4] == (None, "no answer from the exec")


def test_an_island_is_compared_with_its_own_nodes_file_else_the_branchs():
    branch = cv.branch_version("weekly", [cv.NodeReading("weekly", "n1", "def456"),
                                          cv.NodeReading("weekly", "n2", "abc123")])
    assert branch.mixed and branch.version is None
    assert cv.judge("abc123", "weekly", "n2", branch).outdated is False
    verdict = cv.judge("abc123", "weekly", "n1", branch)
    assert verdict.outdated and verdict.text == "older code: abc123, branch weekly is at def456"
    assert cv.judge("abc123", "weekly", "n9", branch).outdated is False  # mixed, its node unread: unknown
    one = cv.branch_version("weekly", [cv.NodeReading("weekly", "n1", "def456"), cv.NodeReading("weekly", "n2", None)])
    assert one.version == "def456" and cv.judge("abc123", "weekly", "n2", one).outdated
    assert cv.judge(None, "weekly", "n1", one).outdated is False  # never reported: unknown, not outdated
    assert cv.judge(cv.UNREADABLE, "weekly", "n1", one).text == "older code: unreadable version, branch weekly is at def456"


@pytest.mark.parametrize("name", ["/etc/passwd", "../VERSION", "a/../../b", "VER SION", "$(id)", "", "a//b", "版本"])
def test_the_version_file_setting_is_a_plain_relative_path(name):
    with pytest.raises(ConfigError):
        cv.check_settings(IslandSettings(code_version_file=name))
    cv.check_settings(IslandSettings(code_version_file="build/version.txt"))
