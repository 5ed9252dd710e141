"""Load the settings (``island_ssh.core.settings``) from ``conf/island.yaml`` with environment overrides.

Lookup order for the file: the ``path`` argument, then ``$ISLAND_SSH_CONFIG``, then the
``conf/island.yaml`` that ships beside the package. Any field can be overridden from the
environment as ``ISLAND_SSH_<SECTION>_<FIELD>`` (``ISLAND_SSH_SSH_PORT=2222``); the value is
parsed as YAML, so numbers, booleans and lists work. A wrong or missing setting raises one
``ConfigError`` naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from island_ssh.core import code_version, notify_payload, pod_policy, quota, remains
from island_ssh.core.clock_commands import validate_presets
from island_ssh.core.errors import ConfigError
from island_ssh.core.settings import (DatabaseSettings, HostAlias, IslandSettings, KubeSettings, RecoverSettings,
                                      SandboxNode, SandboxSettings, Settings, SSHSettings, TrackerSettings,
                                      WebSettings)
from island_ssh.resources import conf_file

DEFAULT_CONFIG = conf_file("island.yaml")
ENV_PREFIX = "ISLAND_SSH_"
__all__ = ["DEFAULT_CONFIG", "ENV_PREFIX", "DatabaseSettings", "HostAlias", "IslandSettings", "KubeSettings",
           "RecoverSettings", "SandboxNode", "SandboxSettings", "Settings", "SSHSettings", "TrackerSettings",
           "WebSettings", "expand_path", "load_settings", "settings_from_dict"]


def load_settings(path: str | os.PathLike | None = None, environ: typing.Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    chosen = Path(path or environ.get("ISLAND_SSH_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(chosen.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {chosen} does not exist; set ISLAND_SSH_CONFIG or pass --config") from None
    except OSError as exc:
        raise ConfigError(f"config file {chosen} cannot be read ({exc.strerror}); "
                          "set ISLAND_SSH_CONFIG or pass --config") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {chosen} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{chosen}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{chosen}: expected a mapping of sections at the top level")
    _apply_env_overrides(raw, environ, chosen)
    return settings_from_dict(raw, source=str(chosen))


def settings_from_dict(raw: dict, source: str = "<dict>") -> Settings:
    sections = {}
    hints = typing.get_type_hints(Settings)
    for name, value in raw.items():
        if name not in hints or name == "source":
            raise ConfigError(f"{source}: unknown section {name!r} (known: {', '.join(_section_names())})")
        sections[name] = _build(hints[name], value, f"{name}", source)
    settings = Settings(**sections, source=source)
    try:
        # images and capabilities are a security policy: a wrong one stops the load, not a launch
        pod_policy.check_settings(settings.islands)
        notify_payload.check_settings(settings.notify)  # webhook URLs and templates
        check_clock_settings(settings.clock)  # the studio's time zone and the clock presets
        quota.check_settings(settings.quotas)  # every quota limit parses
        code_version.check_settings(settings.islands)  # the version file's path (README "Code version")
        remains.check_settings(settings.islands)  # remains paths travel to the container (README "Crash forensics")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}") from None
    return settings


def clock_zone(name: object):
    """The ZoneInfo of an IANA time zone name (clock.timezone); ConfigError saying what is accepted."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise ConfigError(f"clock.timezone: {str(name)[:64]!r} is not an IANA time zone name like UTC or Asia/Shanghai")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"clock.timezone: {name[:64]!r} is not an IANA time zone name like UTC or "
                          f"Asia/Shanghai") from None


def check_clock_settings(clock) -> None:
    """clock.timezone resolves, the presets parse in it, the numbers are in range."""
    validate_presets(dict(clock.presets), clock_zone(clock.timezone))
    for field, low, high in (("readback_tolerance", 0.0, 60.0), ("timeline_poll", 0.05, 60.0),
                             ("lock_wait", 0.0, 600.0)):
        value = getattr(clock, field)
        if not low <= value <= high:
            raise ConfigError(f"clock.{field}: {value!r}; expected {low:g} to {high:g} seconds")


def _section_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings) if f.name != "source"]


def _apply_env_overrides(raw: dict, environ: typing.Mapping[str, str], source: Path) -> None:
    for section in _section_names():
        cls = typing.get_type_hints(Settings)[section]
        for f in dataclasses.fields(cls):
            key = f"{ENV_PREFIX}{section}_{f.name}".upper()
            if key in environ:
                try:
                    value = yaml.safe_load(environ[key]) if environ[key] != "" else ""
                except yaml.YAMLError as exc:
                    raise ConfigError(f"environment {key}: not a valid value: {exc}") from None
                if f.type in ("str", str) and value is not None and not isinstance(value, str):
                    value = environ[key]
                raw.setdefault(section, {})
                if raw[section] is None:
                    raw[section] = {}
                raw[section][f.name] = value


def _build(tp: Any, value: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key}: expected a mapping, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        for name in value:
            if name not in known:
                raise ConfigError(f"{source}: {key}.{name}: unknown setting (known: {', '.join(sorted(known))})")
        kwargs = {name: _build(hints[name], v, f"{key}.{name}", source) for name, v in value.items()}
        try:
            return tp(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from None
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key}: expected a list, got {value!r}")
        return [_build(item_tp, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        k_tp, v_tp = typing.get_args(tp)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key}: expected a mapping, got {value!r}")
        return {str(k): _build(v_tp, v, f"{key}.{k}", source) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if value is None or isinstance(value, (dict, list)):
            raise ConfigError(f"{source}: {key}: expected a string, got {value!r}")
        return str(value)
    return value


def expand_path(path: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(path)))
