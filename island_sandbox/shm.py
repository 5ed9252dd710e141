"""libfaketime's shared-memory leftovers in /dev/shm.

libfaketime 0.9.10 creates ``/dev/shm/faketime_shm_<pid>`` and ``sem.faketime_sem_<pid>`` (pid as
the process itself sees it) and a killed process leaves them behind. Containers get a private
/dev/shm, so theirs vanish with the container; this removes any that processes we started left on
the host's /dev/shm (only names carrying one of our PIDs, never anyone else's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

SHM_DIR = Path("/dev/shm")


def faketime_leftover_names(pid: int) -> tuple[str, str]:
    return f"faketime_shm_{pid}", f"sem.faketime_sem_{pid}"


def remove_faketime_leftovers(pids: Iterable[int], shm_dir: Path = SHM_DIR) -> list[Path]:
    removed = []
    for pid in set(pids):
        for name in faketime_leftover_names(pid):
            path = shm_dir / name
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError:
                continue
            removed.append(path)
    return removed
