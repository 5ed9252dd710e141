"""A web process for the "nothing accepted is lost" faults: the real app under waitress, with a
hold point the test kills it at (SIGKILL), so no sleep decides where the kill lands.

    python tests/faults/web_child.py CONFIG PORT HOLD

HOLD is one of:
- ``start``: the group-commit worker blocks where it would take its queued rows for kubectl
  (store.start_applies): every launch is answered 201 and none is applied.
- ``delete``: a restart blocks after committing its new generation, before the old pod is
  deleted (kubectl.delete_pod).
- ``none``: no hold; the process only starts (and so resumes what others accepted).
Prints ``serving`` once it listens and ``holding <HOLD>`` when the hold point is reached. The
service starts as `island-ssh serve` starts it (wiring.build_runtime with the start-up resume),
without a tracker: the test fixture's own tracker is the other worker.
"""

from __future__ import annotations

import sys
import threading

from waitress import create_server

from island_ssh.config import load_settings
from island_ssh.service.wiring import build_runtime
from island_ssh_web import create_app

HOLD_SECONDS = 600.0  # the test kills us long before; a hold never outlives a forgotten test


def hold_at(obj, attribute: str, label: str) -> None:
    def held(*args, **kwargs):
        print(f"holding {label}", flush=True)
        threading.Event().wait(HOLD_SECONDS)
        raise RuntimeError(f"hold point {label} was never killed")
    setattr(obj, attribute, held)


def main(config: str, port: int, hold: str) -> None:
    settings = load_settings(config, environ={})
    runtime = build_runtime(settings, with_tracker=False, resume=True)
    if hold == "start":
        hold_at(runtime.store, "start_applies", hold)
    elif hold == "delete":
        hold_at(runtime.kubectl, "delete_pod", hold)
    elif hold != "none":
        raise SystemExit(f"unknown hold point {hold!r}")
    app = create_app(settings, service=runtime.service)
    server = create_server(app, host="127.0.0.1", port=port, threads=16)
    print("serving", flush=True)
    server.run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
