"""Crash forensics (issue 15): an ended island's remains as ONE tar.gz, streamed (IslandService.remains).

    download = service.remains.open(12, user)    # checks, small parts, starts the container's tar
    for piece in download: out.write(piece)      # bytes as they are made; never the whole bundle
    download.summary                             # after the end: bytes, truncated, members, notes

``open`` does everything that can refuse before the first byte, so the faces can still answer with
a status: PermissionDenied (not the owner or an admin: logs can hold secrets), PodGone (410: the
pod is gone and its remains with it), ReadChannelsBusy (503: every users' read channel is busy).
After that, trouble (the container's archive ending early, the pod deleted meanwhile) becomes a
line in the bundle's notes.txt, never a broken download.

The configured files are re-packed member by member from the container's ``tar -czf`` stream into
our own tar.gz (core.remains_tar), not embedded as one ``files.tar.gz`` member: a tar member's size
comes before its data, which a stream cannot know without holding it all, while the container's tar
gives each file's size in its header. Re-packing also lets the cap cut exactly at
islands.remains_max_bytes, keeps every name inside ``files/`` and leaves out links and devices, and
the user opens one archive with one ``tar xzf``. Its cost is one gunzip + gzip pass here (measured
in README "Crash forensics").
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import time
import zlib
from datetime import datetime, timezone
from typing import Iterator

from island_ssh.core import code_version as versions
from island_ssh.core.errors import IslandError, KubectlError, PodGone
from island_ssh.core.identity import User
from island_ssh.core.log_text import cut_log
from island_ssh.core.names import SERVER_CONTAINER, SIDE_CONTAINER, USER_READ
from island_ssh.core.remains import BundleManifest, bundle_root, describe_text, file_name, member_name, may_show_link, pod_facts
from island_ssh.core.remains_tar import TarGzWriter
from island_ssh.kube.remains_stream import RemainsReader, open_remains

log = logging.getLogger(__name__)

CHUNK = 1 << 16
LEVEL = 1
"""gzip level of the bundle: 1 (gzip --fast) compresses logs and core-like data 2.5x faster than 6
for 10-35 % more bytes (measured: 34 vs 13 MiB/s on log text): the download's pace is this CPU's."""
GONE = "the island's pod is gone; its remains went with it"


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class RemainsService:
    def __init__(self, service, islands=None) -> None:
        """``islands``: the settings section to use (default the service's; a test lowers the cap)."""
        self.service = service
        self.islands = islands or service.settings.islands

    # -- who may ------------------------------------------------------------------------------------
    def offer(self, row, who: User | None) -> bool:
        """Whether a page shows ``who`` the "Download remains" link for ``row`` (core.remains)."""
        if who is None:
            return False
        admin = bool(who.is_admin or who.id in self.service.settings.web.admins)
        return may_show_link(row.state, admin, admin or bool(row.owner_id and row.owner_id == who.id))

    # -- the download ---------------------------------------------------------------------------
    def open(self, island_id: int, user: User | str | None = None) -> "RemainsDownload":
        row = self.service._owned(island_id, user, deleted_ok=True)
        if row.state == "deleted" or not row.pod_name:
            raise PodGone(f"island {island_id}: {GONE}", island_id=island_id)
        kubectl = self.service.kubectl
        pod = kubectl.pod(row.pod_name)
        if pod is None:
            raise PodGone(f"island {island_id}: {GONE}", island_id=island_id)
        now = time.time()
        manifest = BundleManifest(island_id, row.generation, row.pod_name,
                                  datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
                                  self.islands.remains_max_bytes)
        parts = self._parts(row, pod, manifest)
        # last: it holds one of the users' read channels until the download ends
        reader = open_remains(kubectl, row.pod_name, self.islands.remains_dir, list(self.islands.remains_paths),
                              island_id)
        return RemainsDownload(manifest, parts, reader, now)

    def _parts(self, row, pod: dict, manifest: BundleManifest) -> list[tuple[str, bytes]]:
        facts = pod_facts(pod)
        parts = [("server.log", self._log(row, manifest)),
                 ("events.json", _json([{"at": _iso(e.at), "from": e.from_state, "to": e.to_state, "reason": e.reason,
                                         "message": e.message} for e in self.service.events(row.island_id, 1000)])),
                 ("pod.json", _json(facts)), ("pod.txt", describe_text(facts).encode("utf-8"))]
        try:
            parts.append(("clock.json", _json(self.service.clocks.state(row.island_id).as_dict())))
        except IslandError as exc:
            manifest.note(f"clock.json left out: {exc.message}")
        parts.append(("code-version.txt", (self._version(row, manifest) + "\n").encode("utf-8")))
        return parts

    def _log(self, row, manifest: BundleManifest) -> bytes:
        limit, lines = self.service.islands.log_limit_bytes, self.islands.remains_log_lines
        try:
            text = cut_log(self.service.kubectl.logs(row.pod_name, SERVER_CONTAINER, tail=lines,
                                                     limit_bytes=limit + 1), limit)
        except KubectlError as exc:
            manifest.note(f"server.log is empty: kubectl logs failed: {exc.message}")
            return b""
        if text.truncated:
            manifest.note(f"server.log: {text.note(lines)}")
        return text.text.encode("utf-8", "surrogateescape")

    def _version(self, row, manifest: BundleManifest) -> str:
        """The version the island registered; else the version file read now from the side container
        (which mounts the code too), said so."""
        if row.code_version is not None:
            return versions.shown(row.code_version)
        path = f"{self.service.islands.code_mount.rstrip('/')}/{self.service.islands.code_version_file}"
        try:
            result = self.service.kubectl.exec(row.pod_name, SIDE_CONTAINER, ["head", "-c", str(versions.READ_BYTES), path],
                                               island_id=row.island_id, purpose=USER_READ)
        except IslandError as exc:
            manifest.note(f"code-version.txt: not registered, and reading {path} failed: {exc.message}")
            return "unknown"
        data = result.stdout_bytes if result.exit_code == 0 else None
        manifest.note(f"code-version.txt: not registered by the island; read from {path} now")
        return versions.shown(versions.parse_file(data))

    # -- the page ---------------------------------------------------------------------------------
    def link(self, island_id: int, who: User | None) -> dict:
        """For the island page: whether to show the link (and to whom the bundle is offered)."""
        try:
            row = self.service.get(island_id)
        except IslandError:
            return {"show": False}
        return {"show": self.offer(row, who), "state": row.state}


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str).encode("utf-8") + b"\n"


class RemainsDownload:
    """The bundle as an iterable of bytes (a WSGI body: ``close()`` stops the container's tar
    whether or not it was read). ``summary`` is complete once the iteration ended."""

    def __init__(self, manifest: BundleManifest, parts: list[tuple[str, bytes]], reader: RemainsReader,
                 now: float) -> None:
        self.manifest = manifest
        self.parts = parts
        self.reader = reader
        self.now = now
        self.filename = file_name(manifest.island_id, manifest.generation)
        self.bytes = 0
        self.finished = False

    @property
    def summary(self) -> dict:
        return {"file_name": self.filename, "bytes": self.bytes, "complete": self.finished,
                **self.manifest.as_dict()}

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces():
            if piece:
                self.bytes += len(piece)
                yield piece
        self.finished = True

    def write_to(self, out) -> dict:
        """Write the whole bundle to a binary file object, piece by piece; the summary."""
        try:
            for piece in self:
                out.write(piece)
        finally:
            self.close()
        return self.summary

    def close(self) -> None:
        self.reader.close()

    def _pieces(self) -> Iterator[bytes]:
        m, w, root = self.manifest, TarGzWriter(LEVEL), bundle_root(self.manifest.island_id, self.manifest.generation)
        try:
            for name, data in self.parts:
                m.add(name, len(data))
                yield w.add(f"{root}/{name}", data, self.now)
            yield from self._files(w, f"{root}/files")
        finally:
            self.reader.close()  # the cap reached or the end: the container's tar stops
        if m.notes:
            notes = m.notes_text().encode("utf-8")
            m.add("notes.txt", len(notes))
            yield w.add(f"{root}/notes.txt", notes, self.now)
        m.add("manifest.json", 0)
        yield w.add(f"{root}/manifest.json", _json(m.as_dict()), self.now)
        yield w.close()

    def _files(self, w: TarGzWriter, folder: str) -> Iterator[bytes]:
        m = self.manifest
        source = io.BufferedReader(self.reader, CHUNK)
        member = None
        try:
            if not source.peek(1):
                self._remarks()
                m.note("no configured file was found in the island's working directory")
                return
            with tarfile.open(fileobj=source, mode="r|gz") as archive:
                for member in archive:
                    name = member_name(member.name)
                    if name is None or not (member.isreg() or member.isdir()):
                        m.note(f"left out {member.name[:200]!r}: "
                               f"{'outside the folder' if name is None else 'not a regular file or folder'}")
                        continue
                    if member.isdir():
                        m.add(f"files/{name}/", 0, "dir")
                        yield w.add_dir(f"{folder}/{name}", member.mtime)
                        continue
                    left = m.max_bytes - m.files_bytes
                    keep = min(member.size, left)
                    yield w.begin(f"{folder}/{name}", keep, member.mtime, member.mode & 0o777)
                    data = archive.extractfile(member)
                    got = 0
                    while got < keep:
                        chunk = data.read(min(CHUNK, keep - got))
                        if not chunk:
                            break
                        got += len(chunk)
                        yield w.write(chunk)
                    tail, _ = w.end()
                    yield tail
                    m.files_bytes += got
                    m.add(f"files/{name}", keep)
                    if keep < member.size:
                        m.cut(f"files/{name}", keep, member.size)
                        return
            self._remarks()
        except (tarfile.TarError, EOFError, OSError, zlib.error, IslandError) as exc:
            if w.in_member:
                tail, missing = w.end()
                yield tail
                m.note(f"files/{member_name(member.name) if member else '?'}: {missing} bytes never came "
                       f"(filled with zeros)")
            m.note(f"the side container's archive ended early ({type(exc).__name__}: {str(exc)[:300]}); "
                   f"the files before it are complete")
            self._remarks()

    def _remarks(self) -> None:
        code, remarks = self.reader.outcome()
        for remark in remarks:
            self.manifest.note(remark[:300])
        if code not in (0, None):
            self.manifest.note(f"the side container's tar ended with status {code}")
