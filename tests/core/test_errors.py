"""Every error of the library and its web face says how the faces answer it: ``cli_exit`` for the
command line, ``http_status`` for the web. The table below is the promise (README.md "Exit codes",
docs/web.md, the OpenAPI error list); a new error class must be added to it, so no class falls
through to a code nobody chose.

NotFound (a Kubernetes object kubectl did not find) exits 8 like any kubectl answer, not 4: 4 is
"no island row with that id" (IslandNotFound). The web says 404 for both.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from island_ssh.cli.main import exit_code_for
from island_ssh.core import errors
from island_ssh.core.errors import InvalidInput, IslandError, UnreadableOutput

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("island_ssh", "island_ssh_web")

EXPECTED = {
    # name: (cli_exit, http_status)
    "IslandError": (1, 500),
    "LineTooLong": (1, 500),
    "StateMachineError": (1, 500),
    "TooManyStreams": (1, 503),
    "RateLimited": (1, 429),
    "InvalidInput": (2, 400),
    "InvalidField": (2, 400),
    "ClockError": (2, 400),
    "UnsupportedMediaType": (2, 415),
    "ConfigError": (3, 500),
    "IslandNotFound": (4, 404),
    "PodGone": (4, 410),
    "PermissionDenied": (5, 403),
    "RegistrationRefused": (5, 409),
    "CSRFError": (5, 403),
    "Unauthorized": (5, 401),
    "AllocationError": (6, 409),
    "CapacityError": (6, 409),
    "QuotaExceeded": (6, 409),
    "SSHError": (7, 503),
    "HostKeyError": (7, 503),
    "AuthError": (7, 503),
    "ConnectError": (7, 503),
    "ConnectionLost": (7, 503),
    "StreamTimeout": (7, 503),
    "ShellClosed": (7, 503),
    "CommandTimeout": (7, 504),
    "LoginShellError": (3, 503),
    "SessionLimitError": (3, 503),
    "ReadChannelsBusy": (7, 503),
    "StoreError": (7, 503),
    "MariaDBUnavailable": (7, 503),
    "KubectlError": (8, 502),
    "NotFound": (8, 404),
    "Forbidden": (5, 502),
    "UnreadableOutput": (8, 502),
    "WatchParseError": (8, 502),
    "PodParseError": (8, 502),
    "ClockNotTaken": (1, 502),
    "PreloadMissing": (1, 502),
    "ClockFileMismatch": (1, 502),
    "ClockFileUnwritable": (1, 502),
}

OLD_HOMES = {
    "CapacityError": ["island_ssh.service.islands", "island_ssh.service"],
    "ConnectError": ["island_ssh.ssh.errors", "island_ssh.ssh"],
    "StreamTimeout": ["island_ssh.ssh.stream_channel", "island_ssh.ssh"],
    "ShellClosed": ["island_ssh.ssh.shell", "island_ssh.ssh"],
    "LineTooLong": ["island_ssh.core.line_splitter"],
    "ClockError": ["island_ssh.core.clock"],
    "StateMachineError": ["island_ssh.core.statemachine"],
    "InvalidField": ["island_ssh.core.validate"],
    "WatchParseError": ["island_ssh.core.watch_events"],
    "PodParseError": ["island_ssh.core.podstate"],
}
"""Where each class lived before the family was gathered; callers and tests import it there."""

PROGRAMS = {"island_ssh.cli.__main__", "island_ssh_web.wsgi"}
"""Modules that run the program when imported (the CLI; a WSGI app needing a configured master)."""


def all_modules() -> list[str]:
    names = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            if info.name not in PROGRAMS:
                importlib.import_module(info.name)
                names.append(info.name)
    return names


def subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | subclasses(sub)
    return found


def our_errors() -> dict[str, type]:
    """Every IslandError defined in island_ssh or island_ssh_web (not the sandbox, not tests)."""
    all_modules()
    ours = [c for c in subclasses(IslandError) | {IslandError} if c.__module__.split(".")[0] in PACKAGES]
    by_name = {c.__name__: c for c in ours}
    assert len(by_name) == len(ours), "two error classes share a name: " + ", ".join(sorted(c.__name__ for c in ours))
    return by_name


FAMILY = our_errors()


def documented_exit_codes() -> set[int]:
    """The codes README.md's "Exit codes" paragraph promises."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = re.search(r"^Exit codes .*?(?=\n\n)", readme, re.S | re.M)
    assert paragraph, "README.md lost its 'Exit codes' paragraph"
    items = paragraph.group(0).split(":", 1)[1].split("·")  # "0 ok · 1 other error · ..."
    return {int(item.split()[0]) for item in items}


def documented_statuses() -> set[int]:
    from island_ssh_web.openapi import ERROR_CODES
    return {int(code) for code in ERROR_CODES} | {500}  # 500: anything unexpected, never described


def make(cls: type) -> IslandError:
    try:
        return cls("refused for the test")
    except TypeError:  # InvalidField(field, why)
        return cls("field", "refused for the test")


def test_every_error_class_has_a_chosen_row_in_the_table():
    assert sorted(FAMILY) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_codes_are_the_documented_ones(name):
    cls = FAMILY[name]
    assert (cls.cli_exit, cls.http_status) == EXPECTED[name]
    for attribute in ("cli_exit", "http_status"):
        value = getattr(cls, attribute)
        assert type(value) is int
        owner = next(c for c in cls.__mro__ if attribute in vars(c))
        assert owner in FAMILY.values(), f"{name}.{attribute} comes from {owner.__name__}, outside the family"
    assert cls.cli_exit in documented_exit_codes()
    assert cls.http_status in documented_statuses()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_both_faces_answer_with_the_class_codes(name):
    from island_ssh_web.errors import status_of
    exc = make(FAMILY[name])
    assert (exit_code_for(exc), status_of(exc)) == EXPECTED[name]
    assert exc.exit_code is None  # the remote command's exit code is the instance's own, unrelated


def test_the_readme_promises_every_code_of_the_command_line():
    assert {1, 2, 3, 4, 5, 6, 7, 8} <= documented_exit_codes()


def test_unreadable_kubectl_output_is_not_the_users_fault():
    for name in ("WatchParseError", "PodParseError"):
        assert issubclass(FAMILY[name], UnreadableOutput) and not issubclass(FAMILY[name], InvalidInput)
    assert not issubclass(FAMILY["CapacityError"], InvalidInput)


def test_the_library_family_is_one_module():
    library = [c for c in FAMILY.values() if c.__module__.startswith("island_ssh.")
               and not c.__module__.startswith("island_ssh.testing")]
    assert {c.__module__ for c in library} == {errors.__name__}


@pytest.mark.parametrize("name, module", [(n, m) for n, homes in OLD_HOMES.items() for m in homes])
def test_each_class_is_still_importable_from_its_old_home(name, module):
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_every_module_was_walked():
    walked = set(all_modules())
    assert {"island_ssh.core.errors", "island_ssh.cli.main", "island_ssh_web.errors", "island_ssh_web.auth",
            "island_ssh.testing.mariadb"} <= walked
