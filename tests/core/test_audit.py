"""core/audit.py: actors and their labels, the faces' filters refused in words, who-deleted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from island_ssh.core.audit import (MAX_DETAIL, Actor, AuditEntry, AuditFilter, clip_detail, who_deleted,
                                   who_deleted_line)
from island_ssh.core.errors import InvalidField
from island_ssh.core.identity import User

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def test_actors_and_labels():
    assert Actor.of(User("u123", "刘电波")) == Actor("user", "u123", "刘电波")
    assert Actor.of(User("u123", "刘电波")).label() == "刘电波 (u123)"
    assert Actor.of("u9").label() == "u9"
    assert Actor.of(None).label() == "operator (CLI)" and Actor.of(None).is_person
    assert Actor.system("recover").label() == "recover job" and not Actor.system("tracker").is_person
    assert Actor.pod("island-12").label() == "pod island-12"
    with pytest.raises(ValueError):
        Actor.system("user")


@pytest.mark.parametrize("field, kwargs", [
    ("island", {"island": "12; DROP TABLE"}), ("island", {"island": "１２"}), ("island", {"island": "-1"}),
    ("action", {"action": "Delete"}), ("action", {"action": "$(id)"}), ("action", {"action": "de lete"}),
    ("since", {"since": "yesterday"}), ("since", {"since": "2h; rm"}), ("since", {"since": "２h"}),
    ("since", {"since": "99999d"}), ("since", {"since": "x" * 100}),
    ("limit", {"limit": "0"}), ("limit", {"limit": "1001"}), ("limit", {"limit": "1e3"}),
    ("actor", {"actor": "a\nb"}), ("actor", {"actor": "x" * 200}),
])
def test_bad_filters_are_refused_naming_the_field(field, kwargs):
    with pytest.raises(InvalidField) as exc:
        AuditFilter.parse(now=NOW, **kwargs)
    assert exc.value.field == field and "\n" not in exc.value.message


def test_filters_parse():
    f = AuditFilter.parse("12", "王伟", "delete", "2h", "50", now=NOW)
    assert (f.island_id, f.actor, f.action, f.limit) == (12, "王伟", "delete", 50)
    assert f.since == datetime(2026, 12, 3, 10, 0)  # naive UTC, as the database stores it
    assert AuditFilter.parse(since="2026-12-03T19:00:00+08:00", now=NOW).since == datetime(2026, 12, 3, 11, 0)
    assert AuditFilter.parse(since="2026-12-03", now=NOW).since == datetime(2026, 12, 3)
    empty = AuditFilter.parse("", "", "", "", "", now=NOW)
    assert (empty.island_id, empty.actor, empty.action, empty.since, empty.limit) == (None, None, None, None, 200)


def test_detail_is_clipped():
    assert len(clip_detail("x" * 10000)) == MAX_DETAIL and clip_detail(None) == ""
    assert clip_detail("\ud800") == "?"  # a lone surrogate cannot reach MySQL as utf8mb4


def entry(i, action, actor, minutes, generation=1):
    return AuditEntry(i, NOW.replace(tzinfo=None) + timedelta(minutes=minutes), actor, action, 12, generation)


def test_who_deleted_takes_the_latest_end():
    admin = Actor.of(User("a1", "管理员"))
    entries = [entry(1, "launch", Actor.of(User("u1", "王伟")), 0), entry(2, "delete", Actor.system("recover"), 1),
               entry(3, "launch", Actor.of(User("u1", "王伟")), 2, 2), entry(4, "restart", admin, 3, 3),
               entry(5, "delete", admin, 4, 3), entry(6, "register", Actor.pod("p"), 5, 3)]
    found = who_deleted(entries)
    assert found.id == 5
    line = who_deleted_line(12, found)
    assert line.startswith("island 12 (generation 3) was deleted by 管理员 (a1) at 2026-12-03T12:04:00Z")
    assert "no delete recorded" in who_deleted_line(12, who_deleted(entries[:1]))
    gone = who_deleted([entry(7, "pod-gone", Actor.system("tracker"), 9)])
    assert "outside island_ssh" in who_deleted_line(12, gone)
