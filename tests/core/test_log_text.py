"""cut_log: a log read with --limit-bytes=limit+1 is cut to at most limit bytes, at a whole line."""

import pytest

from island_ssh.core.log_text import cut_log


def test_a_log_within_the_limit_is_whole_and_not_marked():
    read = cut_log("one\ntwo\n", 8)
    assert (read.text, read.truncated, read.note(200)) == ("one\ntwo\n", False, "")


def test_a_longer_log_ends_at_its_last_whole_line_and_says_so():
    read = cut_log("one\ntwo\nthree", 9)
    assert (read.text, read.truncated) == ("one\ntwo\n", True)
    assert "9 bytes (islands.log_limit_bytes)" in read.note(200) and "last 200 lines" in read.note(200)


def test_one_line_longer_than_the_limit_is_cut_inside_never_inside_a_character():
    read = cut_log("日志" * 10, 10)  # 3 bytes a character: 10 bytes hold 3 of them
    assert (read.text, read.truncated) == ("日志日", True)
    assert len(read.text.encode()) <= 10


@pytest.mark.parametrize("limit", [1, 5, 17, 1000])
def test_never_more_than_the_limit(limit):
    text = "".join(f"{n} 行 {'x' * (n % 7)}\n" for n in range(300))
    read = cut_log(text, limit)
    assert len(read.text.encode()) <= limit and read.truncated == (len(text.encode()) > limit)
