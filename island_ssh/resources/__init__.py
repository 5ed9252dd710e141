"""Where the shipped data lives: ``conf/`` and ``yaml_templates/``, installed as package data.

setup.cfg maps the design card's top-level folders into this package (``resources.conf``,
``resources.yaml_templates``), so an installed wheel finds them through importlib.resources
exactly as a checkout does.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path

import yaml

from island_ssh.core.errors import ConfigError

CONF = "island_ssh.resources.conf"
TEMPLATES = "island_ssh.resources.yaml_templates"


def conf_file(*parts: str) -> Path:
    """A file under ``conf/`` as a real path (the package is installed unzipped)."""
    return Path(str(resources.files(CONF).joinpath(*parts)))


def template_text(name: str) -> str:
    """The text of ``yaml_templates/<name>.yaml``."""
    return resources.files(TEMPLATES).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=8)
def _parsed_template(name: str) -> dict:
    where = f"yaml_templates/{name}.yaml"
    try:
        data = yaml.safe_load(template_text(name))
    except OSError as exc:
        raise ConfigError(f"manifest template {where}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"manifest template {where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"manifest template {where}: expected one mapping (a Kubernetes object)")
    return data


def load_template(name: str) -> dict:
    """A fresh copy of the shipped ``yaml_templates/<name>.yaml`` as data (parsed once, then cached)."""
    return copy.deepcopy(_parsed_template(name))
