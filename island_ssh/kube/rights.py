"""The Kubernetes rights island_ssh uses, one row per `kubectl auth can-i` question.

conf/kubernetes/rbac.yaml grants exactly these (a test holds the two together); doctor asks the
master's kubectl about each and names the missing ones; a Forbidden answer at run time points here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Right:
    verb: str
    resource: str
    subresource: str = ""
    cluster_scoped: bool = False
    why: str = ""

    @property
    def resource_path(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def can_i_args(self) -> list[str]:
        """The arguments of ``kubectl auth can-i`` for this right (namespace flags added by the caller)."""
        args = ["auth", "can-i", self.verb, self.resource]
        return args + [f"--subresource={self.subresource}"] if self.subresource else args

    def __str__(self) -> str:
        return f"{self.verb} {self.resource_path}"


REQUIRED = (
    Right("get", "pods", why="apply reads the pod it updates; the tracker re-reads one pod"),
    Right("list", "pods", why="the tracker's list and the recover job"),
    Right("watch", "pods", why="the tracker follows `kubectl get pods -w`"),
    Right("create", "pods", why="launch"),
    Right("patch", "pods", why="apply over an existing pod (restart, recover)"),
    Right("delete", "pods", why="delete, restart, recover"),
    Right("get", "pods", "log", why="`island-ssh logs`"),
    Right("create", "pods", "exec", why="clock changes (websocket exec, Kubernetes 1.30 and later)"),
    Right("get", "pods", "exec", why="clock changes (websocket exec, Kubernetes before 1.30)"),
    Right("get", "secrets", why="apply reads the island's token Secret it updates"),
    Right("list", "secrets", why="the recover job finds tokens of islands that are gone"),
    Right("create", "secrets", why="each island's registration token"),
    Right("patch", "secrets", why="apply over an existing token Secret"),
    Right("delete", "secrets", why="a token goes with its island"),
    Right("get", "persistentvolumeclaims", why="doctor checks the shared code volume's claim"),
    Right("list", "pods.metrics.k8s.io", why="resource use: one list of every island's PodMetrics per poll "
                                              "(metrics-server; without the right usage is 'not available')"),
    Right("get", "nodes", cluster_scoped=True, why="the capacity check"),
    Right("list", "nodes", cluster_scoped=True, why="the capacity check"),
    Right("get", "persistentvolumes", cluster_scoped=True, why="doctor checks the code volume"),
)

RBAC_FILE = "conf/kubernetes/rbac.yaml"
