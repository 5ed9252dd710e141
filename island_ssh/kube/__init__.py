"""The Kubernetes edge: kubectl verbs on the master (over the SSH edge) and the tracker's watch loop.

    kubectl = Kubectl(RemoteShell(target), settings.kube)
    tracker = Tracker(kubectl, store, settings.islands, settings.tracker).start()  # run() on its thread
    tracker.stop()
"""

from island_ssh.kube.kubectl import MANAGED_SELECTOR, Kubectl, Shell, kubectl_error
from island_ssh.kube.tracker import Announcement, Tracker

__all__ = ["MANAGED_SELECTOR", "Announcement", "Kubectl", "Shell", "Tracker", "kubectl_error"]
