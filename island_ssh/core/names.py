"""The one home of island_ssh's vocabulary: labels, container names, island states and their groups.

Pure constants. Every layer (classifier, manifests, kubectl verbs, tracker, store, service, CLI, web
and, through the API, the page's script) reads these names from here, so a rename is one edit.
"""

from __future__ import annotations

# -- the Pod we render and recognise -------------------------------------------------------------

SERVER_CONTAINER = "altraserver"
"""The game server's container: the one whose state is the island's (the seed's name)."""
SIDE_CONTAINER = "side-container"
"""The idle container that keeps the Pod, and the dead server's files, after the server exits."""
CONTAINERS = (SERVER_CONTAINER, SIDE_CONTAINER)
APP = "altraserver"
"""The ``app`` label's value (the seed's)."""

ID_LABEL = "island-ssh/id"
GENERATION_LABEL = "island-ssh/generation"
"""Which incarnation of the island id a pod is (the row's generation when it was applied)."""
OWNER_ANNOTATION = "island-ssh/owner"
OWNER_ID_ANNOTATION = "island-ssh/owner-id"
"""The owner's user id on the pod, so recover's adoption of a pod with no row keeps whose it is."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "island-ssh"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
"""The label selector of every pod island_ssh made (and of nothing else)."""

# -- what an SSH channel is taken for --------------------------------------------------------------

SERVICE_WORK = "service"
"""The service's own work (apply, delete, clock change, tracker relist/watch): may use every channel."""
USER_READ = "user-read"
"""A user's read (logs, logs -f, exec to read): at most ssh.user_read_channels of the channels."""
CHANNEL_PURPOSES = (SERVICE_WORK, USER_READ)

MAX_ID = 2**32 - 1
"""The largest island id any face accepts (an unsigned 32-bit column)."""

# -- island states (DESIGN.md's vocabulary) ------------------------------------------------------

POD_STATES = ("pending", "unschedulable", "creating", "starting", "ready", "failed", "terminating")
"""What ``core.podstate.classify`` derives from a Pod object."""
ISLAND_ONLY_STATES = ("allocated", "applying", "deleted", "lost", "timeout")
"""States only the island row has: before the pod exists, after it is gone, or given up on."""
ISLAND_STATES = ISLAND_ONLY_STATES[:2] + POD_STATES + ISLAND_ONLY_STATES[2:]
"""Every state an island row can be in, in life order."""

FREE_STATE = "deleted"
"""The pod is gone and the id and ports are free again."""
STUCK_STATES = ("allocated", "applying")
"""Held ids with nothing applied yet (the recover job looks at them after ``recover.stuck_after``)."""
WAITING_STATES = ("allocated", "applying", "pending", "unschedulable", "creating", "starting")
"""On the way to ready: the tracker watches these for the readiness timeout."""
PROGRESS_STATES = ("allocated", "applying", "pending", "creating", "starting", "ready")
"""The steps of a good launch, in order (the page's progress bar)."""
FAILED_STATES = ("unschedulable", "failed", "timeout", "lost")
"""Bad ends: the launch did not give a running server."""
GONE_STATES = ("terminating", "deleted")
CHANGEABLE_STATES = ("starting", "ready")
"""States whose server runs, so its clock can be changed and its log read."""
FINAL_STATES = ("ready",) + FAILED_STATES + ("deleted",)
"""Where ``launch --wait`` stops following."""

STATE_GROUPS = {
    "progress": PROGRESS_STATES,
    "failed": FAILED_STATES,
    "gone": GONE_STATES,
    "changeable": CHANGEABLE_STATES,
    "final": FINAL_STATES,
    "waiting": WAITING_STATES,
}
"""The groups the faces show; the page gets them from ``GET /api/vocabulary``."""
