"""The background owner of a sandbox started by `island-ssh sandbox up`.

It starts the sandbox's processes as its own children, waits on them, and stops them on SIGTERM
(`island-ssh sandbox down`). It exists because PID 1 on these machines reaps nothing: whatever
starts a server must stay alive and wait on it.
"""

from __future__ import annotations

import argparse
import signal
import threading

from island_ssh.config import load_settings
from island_sandbox.manager import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    args = parser.parse_args()
    settings = load_settings(args.config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    box = Sandbox(settings.sandbox)
    box.up()
    print("sandbox up", flush=True)
    try:
        while not stop.wait(1.0):
            if box.server is not None and box.server.poll() is not None:
                print(f"API server exited with {box.server.returncode}; stopping the sandbox", flush=True)
                break
    finally:
        box.down()
        print("sandbox down", flush=True)


if __name__ == "__main__":
    main()
