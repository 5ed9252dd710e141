"""core.identity: what a host's current_user hook may return, and which user ids are accepted."""

from __future__ import annotations

import warnings

import pytest

from island_ssh.core.errors import ConfigError, InvalidInput
from island_ssh.core.identity import User, as_user, validate_user_id


class HostUser:
    def __init__(self, **attrs) -> None:
        self.__dict__.update(attrs)


@pytest.mark.parametrize("returned, expected", [
    (User("u-1", "王伟"), User("u-1", "王伟")),
    (User("u-1", "王伟", is_admin=True), User("u-1", "王伟", True)),
    (("u-1", "王伟"), User("u-1", "王伟")),
    ((42, "王伟"), User("42", "王伟")),
    (HostUser(id=42, name="王伟"), User("42", "王伟")),
    (HostUser(id="u-1", username="wang", is_admin=True), User("u-1", "wang", True)),
    (HostUser(id="u-1", name="王伟", is_admin="yes"), User("u-1", "王伟")),  # only True makes an admin
    (None, None), ("", None),
])
def test_what_a_hook_may_return(returned, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert as_user(returned) == expected


@pytest.mark.parametrize("returned", ["王伟", HostUser(name="王伟")])
def test_a_bare_name_is_both_id_and_name_and_deprecated(returned):
    with pytest.warns(DeprecationWarning, match="plain name"):
        assert as_user(returned) == User("王伟", "王伟")


@pytest.mark.parametrize("returned", [User("a\nb", "x"), ("", "x"), (" u", "x"), 42, ["u", "x"], HostUser(),
                                      HostUser(id=True, name="x")])
def test_an_unusable_return_is_the_host_apps_config_error(returned):
    with pytest.raises(ConfigError, match="current_user"):
        as_user(returned)


@pytest.mark.parametrize("value", ["u-1", "王伟", "a b", "x" * 128, "$(reboot)", "'; DROP TABLE islands; --"])
def test_ids_are_kept_exactly(value):
    assert validate_user_id(value) == value


@pytest.mark.parametrize("value", ["", " ", "u ", "\tu", "a\x00b", "a\u202eb", "\ud800", "x" * 129, None, 1])
def test_bad_ids_are_refused(value):
    with pytest.raises(InvalidInput, match="owner_id"):
        validate_user_id(value)
