"""Shared data for the pure-core unit tests: pod fixtures and the seed's Pod YAML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

PODS = Path(__file__).resolve().parent / "pods"
SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / "000_a97419dd64fc390b.txt"


def pod(name: str) -> dict:
    return json.loads((PODS / f"{name}.json").read_text(encoding="utf-8"))


def pod_names() -> list[str]:
    return sorted(p.stem for p in PODS.glob("*.json"))


def watch_line(kind: str, obj: dict) -> str:
    """A line as ``kubectl get pods -w --output-watch-events -o json`` prints it."""
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":"), ensure_ascii=False)


def seed_path() -> Path:
    for candidate in (SEED, Path("/work/shared/seed/000_a97419dd64fc390b.txt")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"seed post not found at {SEED}")


def seed_documents() -> list[dict]:
    """The YAML documents of the seed post's appendix (Pod, PersistentVolume, PersistentVolumeClaim)."""
    text = seed_path().read_text(encoding="utf-8")
    appendix = text[text.index("附录"):]
    block = re.search(r"```\n(.*?)```", appendix, re.S).group(1)
    return [doc for doc in yaml.safe_load_all(block) if doc]
