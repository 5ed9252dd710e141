"""LineSplitter: pure, so every chunking of the same bytes must give the same lines."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from island_ssh.core.line_splitter import LineSplitter, LineTooLong

TEXT = "plain ascii\né\n你好\n😀 emoji\nmixed é你😀 end\n"


def split_by_reference(data: bytes) -> tuple[list[str], str | None]:
    parts = data.split(b"\n")
    tail = parts.pop()
    return [p.decode("utf-8", errors="replace") for p in parts], (tail.decode("utf-8", errors="replace") if tail else None)


def feed_chunks(data: bytes, cuts: list[int]) -> tuple[list[str], str | None]:
    splitter = LineSplitter()
    lines, start = [], 0
    for cut in sorted(set(cuts)) + [len(data)]:
        lines += splitter.feed(data[start:cut])
        start = cut
    return lines, splitter.flush()


def test_multibyte_character_split_at_every_offset():
    data = TEXT.encode("utf-8")
    expected = TEXT.splitlines()
    for offset in range(len(data) + 1):
        lines, tail = feed_chunks(data, [offset])
        assert lines == expected, f"split at byte {offset}"
        assert tail is None


def test_one_byte_at_a_time_keeps_every_character():
    data = TEXT.encode("utf-8")
    assert feed_chunks(data, list(range(len(data))))[0] == TEXT.splitlines()


def test_partial_line_is_held_until_newline_and_flushed_at_end():
    splitter = LineSplitter()
    assert splitter.feed(b"abc") == []
    assert splitter.pending_bytes == 3
    assert splitter.feed(b"def\ngh") == ["abcdef"]
    assert splitter.flush() == "gh"
    assert splitter.flush() is None


def test_empty_lines_and_carriage_returns_are_kept():
    assert LineSplitter().feed(b"\n\na\r\n") == ["", "", "a\r"]


def test_invalid_utf8_is_replaced_only_where_invalid():
    assert LineSplitter().feed(b"ok \xff\xfe ok \xc3\xa9\n") == ["ok \ufffd\ufffd ok é"]


def test_line_longer_than_limit_raises_declared_error():
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"12345678\n") == ["12345678"]
    with pytest.raises(LineTooLong, match="8 bytes"):
        splitter.feed(b"123456789")
    with pytest.raises(LineTooLong):
        LineSplitter(max_line=8).feed(b"0123456789\n")


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from(["a", "é", "你", "😀", "\n", "\r", " ", "\x00"]), max_size=60)
    .map("".join)
    .map(lambda s: s.encode("utf-8"))
    | st.binary(max_size=200),
    cuts=st.lists(st.integers(min_value=0, max_value=240), max_size=20),
)
def test_any_chunking_gives_the_reference_lines(data, cuts):
    cuts = [c for c in cuts if c <= len(data)]
    assert feed_chunks(data, cuts) == split_by_reference(data)
