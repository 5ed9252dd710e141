"""Wiring: build the real objects (SSH shell, kubectl, store, tracker, service) from Settings.

Kept apart from the use cases so tests and the demo can build the same graph around their own
sandbox, and so web/ and the CLI never construct I/O objects themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from island_ssh.core.settings import Settings
from island_ssh.kube.kubectl import Kubectl
from island_ssh.service.islands import IslandService
from island_ssh.service.leases import LeaseReaper
from island_ssh.service.records import IslandRecords
from island_ssh.service.resume import resume_in_background
from island_ssh.ssh import RemoteShell, SSHTarget
from island_ssh.store import Store
from island_ssh.kube.tracker import Tracker


@dataclass
class Runtime:
    settings: Settings
    shell: RemoteShell
    kubectl: Kubectl
    store: Store
    service: IslandService
    tracker: Tracker | None = None
    lease_reaper: LeaseReaper | None = None
    """Expires leases without waiting for cron (service/leases.py); with the tracker only."""

    def close(self) -> None:
        if self.lease_reaper is not None:
            self.lease_reaper.stop()
        if self.tracker is not None:
            self.tracker.stop()
        self.service.close()
        self.shell.close()
        close = getattr(self.store, "close", None)
        if close:
            close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def build_runtime(settings: Settings, with_tracker: bool = False, check_schema: bool = True,
                  resume: bool | None = None) -> Runtime:
    """``resume`` (default: with_tracker, i.e. a long-running service such as the web app):
    at start, apply again what earlier processes accepted and never applied (service/resume.py)."""
    store = Store(settings.database)
    if check_schema:
        store.check_schema()
    shell = RemoteShell(SSHTarget.from_settings(settings.ssh))
    kubectl = Kubectl(shell, settings.kube)
    service = IslandService(settings, store, kubectl)
    tracker = Tracker(kubectl, store, settings.islands, settings.tracker) if with_tracker else None
    if tracker is not None:
        tracker.start()
        # webhook delivery (service/notify.py): only the process holding its lock sends
        service.notify.start(wake=tracker.subscribe)
    if with_tracker if resume is None else resume:
        resume_in_background(service)
    # leases end on time in a long-running service; MySQL claims make several workers act once
    reaper = LeaseReaper(service).start() if with_tracker else None
    if with_tracker:
        service.idle.start()  # the batched idle check (service/idle.py), claimed once across workers
        service.clocks.start()  # clock timelines' runner (service/clock_timelines.py); stopped by service.close
    return Runtime(settings, shell, kubectl, store, service, tracker, lease_reaper=reaper)


def build_records(settings: Settings) -> IslandRecords:
    """The store-only use cases (list, show, events, migrate): no SSH connection is opened, and
    the schema is not checked (``migrate`` is what makes it current)."""
    return IslandRecords(Store(settings.database))


def build_service(settings: Settings) -> IslandService:
    """For create_app(): a service whose tracker runs in this process (it acts only when it holds
    the database's tracker lock, so several workers are safe)."""
    return build_runtime(settings, with_tracker=True).service
