"""Crash forensics (issue 15): what an ended island's remains bundle holds, and which configured
paths are acceptable. Pure: no I/O, no clock reads (the caller passes every time).

The bundle is a tar.gz streamed to the downloader (service/remains.py), under one directory
``remains-<id>-g<generation>/``:

    server.log        the server's last islands.remains_log_lines lines (at most log_limit_bytes)
    events.json       the island's state transitions (this generation)
    pod.json          `kubectl describe`-like facts: phase, containers (exit codes, reasons,
                      restarts), node, times, resources
    clock.json        its clock setting (service.clocks.state)
    code-version.txt  the code version it registered (or the version file read now)
    files/...         the configured files (islands.remains_paths, relative to
                      islands.remains_dir), re-packed member by member from the side container
    notes.txt         what was left out or cut, and why (only when there is something to say)
    manifest.json     last: every member with its size, the byte cap, ``truncated``

Paths (islands.remains_paths) are the operator's, but they still travel to the container as data
(argv), never through a shell eval; the container's script expands their globs itself. So each is
checked at config load: relative, no ``..``, no leading ``-``, only ``A-Z a-z 0-9 . _ - + @ , = /``
and the glob characters ``* ? [ ]``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from island_ssh.core.errors import ConfigError

SERVER_ENDED_STATES = ("failed", "timeout")
"""States in which an island's server has ended (or never became ready): the page offers the
remains to its owner. Admins see the link in every state while the pod may exist."""

MAX_PATHS = 32
MAX_PATH_CHARS = 200
_PATH = re.compile(r"^[A-Za-z0-9._+@,=*?\[\]/-]+$")
_DIR = re.compile(r"^/[A-Za-z0-9._+@,=/-]*$")
PATHS_ACCEPTED = ("relative paths or globs of letters, digits, . _ - + @ , = / and * ? [ ] "
                  "(no leading / or -, no .. part), e.g. logs/, hs_err_pid*.log, core*")
MIN_MAX_BYTES = 1024 * 1024
MAX_MAX_BYTES = 64 * 1024 ** 3


def check_path(path: object) -> str:
    """One islands.remains_paths entry, or ConfigError saying what is accepted."""
    if not isinstance(path, str) or not 0 < len(path) <= MAX_PATH_CHARS or not _PATH.match(path):
        raise ConfigError(f"islands.remains_paths: {str(path)[:80]!r}; expected {PATHS_ACCEPTED}")
    parts = path.split("/")
    if path.startswith(("/", "-")) or any(p in ("..",) or p.startswith("-") for p in parts):
        raise ConfigError(f"islands.remains_paths: {path[:80]!r}; expected {PATHS_ACCEPTED}")
    return path


def check_settings(islands) -> None:
    """islands.remains_*: called at config load (a hostile entry stops the load, not a download)."""
    paths = islands.remains_paths
    if not isinstance(paths, (list, tuple)) or len(paths) > MAX_PATHS:
        raise ConfigError(f"islands.remains_paths: expected a list of at most {MAX_PATHS} paths ({PATHS_ACCEPTED})")
    for path in paths:
        check_path(path)
    folder = islands.remains_dir
    if (not isinstance(folder, str) or not 1 < len(folder) <= MAX_PATH_CHARS or not _DIR.match(folder)
            or any(p in (".", "..") for p in folder.split("/")) or folder.rstrip("/").count("/") < 2):
        raise ConfigError(f"islands.remains_dir: {str(folder)[:80]!r}; expected an absolute directory two levels "
                          f"deep or more of letters, digits and . _ - + @ , = / (no .. part), e.g. /home/island-work")
    if folder.rstrip("/") == str(islands.code_mount).rstrip("/"):
        raise ConfigError("islands.remains_dir: the code mount is read-only and shared by every island; "
                          "give the server's own working directory, e.g. /home/island-work")
    size = islands.remains_max_bytes
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_MAX_BYTES <= size <= MAX_MAX_BYTES:
        raise ConfigError(f"islands.remains_max_bytes: {size!r}; expected {MIN_MAX_BYTES} (1 MiB) to "
                          f"{MAX_MAX_BYTES} (64 GiB) bytes")
    lines = islands.remains_log_lines
    if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= 100000:
        raise ConfigError(f"islands.remains_log_lines: {lines!r}; expected 1 to 100000 lines")


def member_name(name: str) -> str | None:
    """A member name of the container's tar, relative and clean (``./logs/a`` -> ``logs/a``), or
    None when it would leave its folder (absolute, ``..``): such a member is left out."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or name.startswith("/") or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def bundle_root(island_id: int, generation: int) -> str:
    return f"remains-{int(island_id)}-g{int(generation)}"


def file_name(island_id: int, generation: int) -> str:
    """The download's file name (Content-Disposition)."""
    return bundle_root(island_id, generation) + ".tar.gz"


def may_show_link(state: str, is_admin: bool, may_read: bool) -> bool:
    """Whether the island page offers "Download remains": to its owner once the server ended, to
    admins while the island is not deleted. Strangers never (they would get 403)."""
    if not may_read or state == "deleted":
        return False
    return is_admin or state in SERVER_ENDED_STATES


# -- pod facts ---------------------------------------------------------------------------------
def _state_of(status: dict) -> dict:
    state = status.get("state") or {}
    for kind in ("terminated", "running", "waiting"):
        if kind in state:
            detail = state.get(kind) or {}
            keep = ("exitCode", "signal", "reason", "message", "startedAt", "finishedAt")
            return {"state": kind, **{k: detail[k] for k in keep if k in detail}}
    return {"state": "unknown"}


def pod_facts(pod: dict) -> dict[str, Any]:
    """What `kubectl describe pod` shows of a pod, from `kubectl get pod -o json`: phase,
    reason, node, times, conditions, and per container its image, state (exit code, reason),
    last state, restarts and resources. Env values are left out: they can hold secrets."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = {s.get("name"): s for s in (status.get("containerStatuses") or [])}
    containers = []
    for c in spec.get("containers") or []:
        s = statuses.get(c.get("name")) or {}
        last = s.get("lastState") or {}
        containers.append({
            "name": c.get("name"), "image": c.get("image"), "resources": c.get("resources") or {},
            "working_dir": c.get("workingDir"),
            "mounts": [{"name": m.get("name"), "path": m.get("mountPath"), "read_only": bool(m.get("readOnly"))}
                       for m in c.get("volumeMounts") or []],
            **_state_of(s), "ready": s.get("ready"), "restart_count": s.get("restartCount", 0),
            "last_state": _state_of({"state": last}) if last else None,
            "image_id": s.get("imageID"), "container_id": s.get("containerID"),
        })
    return {
        "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
        "labels": meta.get("labels") or {}, "created": meta.get("creationTimestamp"),
        "deletion_requested": meta.get("deletionTimestamp"),
        "node": spec.get("nodeName"), "phase": status.get("phase"), "reason": status.get("reason"),
        "message": status.get("message"), "host_ip": status.get("hostIP"), "pod_ip": status.get("podIP"),
        "start_time": status.get("startTime"), "qos_class": status.get("qosClass"),
        "conditions": [{k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime")}
                       for c in status.get("conditions") or []],
        "containers": containers,
    }


def describe_text(facts: dict) -> str:
    """The facts as `kubectl describe`-like text (the same data as pod.json, for reading)."""
    out = [f"Name:        {facts.get('name')}", f"Namespace:   {facts.get('namespace')}",
           f"Node:        {facts.get('node')} ({facts.get('host_ip')})", f"Start Time:  {facts.get('start_time')}",
           f"Phase:       {facts.get('phase')}" + (f" ({facts['reason']})" if facts.get("reason") else ""),
           f"QoS Class:   {facts.get('qos_class')}", "Containers:"]
    for c in facts.get("containers") or []:
        out.append(f"  {c['name']}:")
        out.append(f"    Image:         {c.get('image')}")
        out.append(f"    State:         {c.get('state')}" + "".join(
            f" {k}={c[k]}" for k in ("reason", "exitCode", "signal") if c.get(k) is not None))
        for k in ("startedAt", "finishedAt", "message"):
            if c.get(k):
                out.append(f"      {k}: {c[k]}")
        if c.get("last_state"):
            out.append(f"    Last State:    {json.dumps(c['last_state'], ensure_ascii=False)}")
        out.append(f"    Ready:         {c.get('ready')}")
        out.append(f"    Restart Count: {c.get('restart_count')}")
        out.append(f"    Resources:     {json.dumps(c.get('resources') or {}, sort_keys=True)}")
    out.append("Conditions:")
    for cond in facts.get("conditions") or []:
        out.append(f"  {cond.get('type')}={cond.get('status')}" + (f" {cond['reason']}" if cond.get("reason") else ""))
    return "\n".join(out) + "\n"


# -- the bundle's own account of itself ------------------------------------------------------------
@dataclass
class BundleManifest:
    """What went into one bundle: filled while it streams, written last (manifest.json)."""

    island_id: int
    generation: int
    pod: str
    made_at: str
    """UTC ISO time the download started (the caller's clock)."""
    max_bytes: int
    members: list[dict] = field(default_factory=list)
    files_bytes: int = 0
    """Bytes of the configured files' contents (what the cap counts)."""
    truncated: bool = False
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, size: int, kind: str = "file") -> None:
        self.members.append({"name": name, "size": int(size), "kind": kind})

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def cut(self, member: str, kept: int, size: int) -> None:
        self.truncated = True
        self.note(f"TRUNCATED: the files reached islands.remains_max_bytes ({self.max_bytes} bytes) in {member}: "
                  f"{kept} of its {size} bytes kept, later files left out; raise the setting or fetch the "
                  f"rest with kubectl cp from the side container")

    def notes_text(self) -> str:
        head = f"Remains of island {self.island_id} (generation {self.generation}, pod {self.pod}), {self.made_at}\n"
        return head + "".join(f"- {n}\n" for n in self.notes)

    def as_dict(self) -> dict[str, Any]:
        return {"island_id": self.island_id, "generation": self.generation, "pod": self.pod,
                "made_at": self.made_at, "max_bytes": self.max_bytes, "files_bytes": self.files_bytes,
                "truncated": self.truncated, "members": list(self.members), "notes": list(self.notes)}
