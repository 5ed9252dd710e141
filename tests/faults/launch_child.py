"""A service process for the SIGKILL fault: reads a config file, launches N islands in one
batch (one kubectl apply), prints a line per phase. The test kills it with SIGKILL mid-launch.

    python tests/faults/launch_child.py CONFIG N OWNER_PREFIX
"""

from __future__ import annotations

import sys

from island_ssh.config import load_settings
from island_ssh.service.wiring import build_runtime
from island_ssh.service.islands import LaunchRequest


def main(config: str, count: int, prefix: str) -> None:
    settings = load_settings(config, environ={})
    with build_runtime(settings, with_tracker=False) as rt:
        print("connected", flush=True)
        rt.service.launch_many([LaunchRequest(owner=f"{prefix}{i}", branch="dev") for i in range(count)])
        print("launched", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
