"""core.lease on plain data: durations parsed strictly, expiries, the refusal in words, time left."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from island_ssh.core.errors import ConfigError, InvalidInput
from island_ssh.core.lease import (LeasePolicy, extended_expiry, format_duration, launch_seconds, lease_json,
                                   parse_duration, policy_from, time_left_text, warn_at)
from island_ssh.core.settings import IslandSettings

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)
POLICY = LeasePolicy(default=86400, maximum=7 * 86400, warning=1800, minimum=60)


@pytest.mark.parametrize("text, seconds, relative", [
    ("8h", 8 * 3600, False), ("+4h", 4 * 3600, True), ("90m", 5400, False), ("2d", 172800, False),
    ("1d12h", 129600, False), ("3s", 3, False), ("1d2h3m4s", 93784, False), (" 8h ", 28800, False), ("8H", 28800, False),
])
def test_good_durations(text, seconds, relative):
    ask = parse_duration(text)
    assert (ask.seconds, ask.relative) == (seconds, relative)


BAD = [
    ("0", "is not a duration (a number needs a unit)"), ("0h", "is zero"), ("-1h", "is negative"),
    ("+-1h", "is negative"), ("1e9", "is not a duration"), ("8", "a number needs a unit"),
    ("1.5h", "is not a duration"), ("h", "is not a duration"), ("12h1d", "is not a duration"),
    ("1h1h", "is not a duration"), ("８h", "other than ASCII digits"), ("٨h", "other than ASCII digits"),
    ("八小时", "other than ASCII digits"), ("$(id)", "is not a duration"), ("`id`", "is not a duration"),
    ("'8h'", "is not a duration"), ('"8h"', "is not a duration"), ("8h\nrm", "line break or control character"),
    ("8h\n", "line break or control character"), ("{lease: 8h}", "is not a duration"),
    ("- 8h", "is negative"), ("8h; id", "is not a duration"), ("", "empty"), ("   ", "empty"),
    ("9" * 1000 + "h", "characters; a lease is short"), ("999999d", "more than a century"),
    ("1 h", "is not a duration"), ("inf", "is not a duration"), ("nan", "is not a duration"),
]


@pytest.mark.parametrize("text, words", BAD)
def test_bad_durations_are_refused_in_one_line_saying_what_is_accepted(text, words):
    with pytest.raises(InvalidInput) as info:
        parse_duration(text)
    message = info.value.message
    assert words in message and "\n" not in message and message.startswith("lease: ")
    assert len(message) < 300


@pytest.mark.parametrize("value", [None, 8, 8.0, ["8h"], {"h": 8}])
def test_non_text_is_refused(value):
    with pytest.raises(InvalidInput, match="lease: expected text"):
        parse_duration(value)


def test_plus_is_refused_where_only_a_life_from_now_makes_sense():
    with pytest.raises(InvalidInput, match="only makes sense when extending"):
        parse_duration("+4h", allow_relative=False)


def test_launch_lease_default_max_and_minimum():
    assert launch_seconds(None, POLICY) == 86400 and launch_seconds("", POLICY) == 86400
    assert launch_seconds("8h", POLICY) == 28800 and launch_seconds("7d", POLICY) == 7 * 86400
    with pytest.raises(InvalidInput, match=r"lease: 9999d is past the 7d maximum \(islands.lease_max\); at most 7d"):
        launch_seconds("9999d", POLICY)
    with pytest.raises(InvalidInput, match=r"shorter than the 1m minimum"):
        launch_seconds("3s", POLICY)
    assert launch_seconds("3s", LeasePolicy(default=10, maximum=60, warning=2, minimum=1)) == 3


def test_extend_adds_to_the_end_or_counts_from_now():
    current = NOW + timedelta(hours=2)
    end, ask = extended_expiry(12, "+4h", current, NOW, POLICY)
    assert end == NOW + timedelta(hours=6) and ask.shown == "+4h"
    end, _ = extended_expiry(12, "8h", current, NOW, POLICY)
    assert end == NOW + timedelta(hours=8)
    # an ended lease not yet reaped: +4h counts from now, not from the past end
    end, _ = extended_expiry(12, "+4h", NOW - timedelta(hours=1), NOW, POLICY)
    assert end == NOW + timedelta(hours=4)


def test_extend_past_the_maximum_is_refused_in_words_with_what_is_still_allowed():
    current = NOW + timedelta(days=4)
    with pytest.raises(InvalidInput) as info:
        extended_expiry(12, "+9d", current, NOW, POLICY)
    assert info.value.message == ("island 12: +9d would end 2026-12-16 10:00 UTC, past the 7d maximum "
                                  "(2026-12-10 10:00 UTC); extend by at most +3d")
    with pytest.raises(InvalidInput, match=r"at most 7d from now"):
        extended_expiry(12, "8d", current, NOW, POLICY)
    with pytest.raises(InvalidInput, match=r"already ends at the maximum"):
        extended_expiry(12, "+1h", NOW + timedelta(days=7), NOW, POLICY)
    # the maximum counts from now: the same +3d is fine again a day later
    end, _ = extended_expiry(12, "+3d", current, NOW, POLICY)
    assert end == NOW + timedelta(days=7)


def test_extend_refuses_bad_text_like_the_launch():
    for text, words in BAD[:12]:
        with pytest.raises(InvalidInput, match=words.replace("(", r"\(").replace(")", r"\)")):
            extended_expiry(3, text, NOW, NOW, POLICY)


def test_time_left_and_warning():
    assert time_left_text(NOW + timedelta(hours=3, minutes=12, seconds=5), NOW) == "3h12m"
    assert time_left_text(NOW + timedelta(days=2, hours=4, minutes=1), NOW) == "2d4h"
    assert time_left_text(NOW + timedelta(seconds=45), NOW) == "45s"
    assert time_left_text(NOW, NOW) == "expired" and time_left_text(None, NOW) == "-"
    assert warn_at(NOW, POLICY) == NOW - timedelta(minutes=30)
    assert format_duration(90061) == "1d1h1m1s" and format_duration(0) == "0s"
    data = lease_json(NOW + timedelta(minutes=90), None, NOW)
    assert data == {"expires_at": "2026-12-03T11:30:00Z", "warned_at": None, "seconds_left": 5400,
                    "time_left": "1h30m"}


def test_policy_from_settings():
    assert policy_from(IslandSettings()) == LeasePolicy(default=86400, maximum=7 * 86400, warning=1800, minimum=60)
    short = IslandSettings(lease_default="3s", lease_max="1m", lease_warning="2s", lease_min="1s")
    assert policy_from(short) == LeasePolicy(default=3, maximum=60, warning=2, minimum=1)
    with pytest.raises(ConfigError, match=r"islands.lease_max: '1e9' is not a duration"):
        policy_from(IslandSettings(lease_max="1e9"))
    with pytest.raises(ConfigError, match=r"lease_default \(8d\) must lie between"):
        policy_from(IslandSettings(lease_default="8d"))
