"""Container images as local directories: ``images/<short-name>/image.yaml``.

There is no registry here. An image reference maps to the directory named after the last path
component of its repository (tag and digest ignored): ``bo602505401/jdk8-curl-libfaketime:latest``
-> ``images/jdk8-curl-libfaketime``. ``image.yaml`` holds the image's defaults (entrypoint, cmd,
workingDir, env) and ``mounts``: container path -> host file or directory, bind-mounted read-only
into the container's private mount namespace (a relative host path is inside the image dir).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_IMAGES_DIR = Path(__file__).resolve().parent / "images"
_SHORT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class ImageError(ValueError):
    """An image directory exists but its image.yaml is unusable; the message names the file."""


@dataclass(frozen=True)
class ImageConfig:
    reference: str
    directory: Path
    image_id: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = "/"
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[tuple[str, str], ...] = ()   # (container path, host path)


def short_name(image: str) -> str:
    """``registry:5000/owner/name:tag@sha256:...`` -> ``name``."""
    reference = image.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


class ImageResolver:
    def __init__(self, images_dir: Path = DEFAULT_IMAGES_DIR) -> None:
        self.images_dir = Path(images_dir)

    def resolve(self, image: str) -> Path | None:
        """The image's directory, or None (the kubelet then reports ErrImagePull)."""
        name = short_name(image or "")
        if not _SHORT_NAME.match(name):
            return None
        directory = self.images_dir / name
        return directory if (directory / "image.yaml").is_file() else None

    def load(self, image: str, directory: Path) -> ImageConfig:
        return load_image(image, directory)


def _strings(value, what: str, source: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageError(f"{source}: {what} must be a list of strings")
    return tuple(value)


def load_image(reference: str, directory: Path) -> ImageConfig:
    source = directory / "image.yaml"
    raw = source.read_bytes()
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise ImageError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ImageError(f"{source}: expected a mapping at the top")
    env = data.get("env") or {}
    mounts = data.get("mounts") or {}
    if not isinstance(env, dict) or not isinstance(mounts, dict):
        raise ImageError(f"{source}: env and mounts must be mappings")
    resolved_mounts = []
    for target, host in mounts.items():
        if not str(target).startswith("/"):
            raise ImageError(f"{source}: mount target {target!r} must be an absolute container path")
        host_path = Path(str(host))
        resolved_mounts.append((str(target), str(host_path if host_path.is_absolute() else directory / host_path)))
    digest = hashlib.sha256(raw).hexdigest()
    return ImageConfig(
        reference=reference,
        directory=directory,
        image_id=f"sandbox-images/{directory.name}@sha256:{digest}",
        entrypoint=_strings(data.get("entrypoint"), "entrypoint", source),
        cmd=_strings(data.get("cmd"), "cmd", source),
        working_dir=str(data.get("workingDir") or "/"),
        env=tuple((str(k), str(v)) for k, v in env.items()),
        mounts=tuple(resolved_mounts),
    )
