"""RBAC as the real API server's authorizer applies it, for one impersonated user. Pure.

The sandbox serves plain HTTP on 127.0.0.1, and client-go sends no bearer token over plain HTTP,
so there is no authentication to speak of. What it can do faithfully is authorization: when the
server is started with ``--rbac FILE``, the master's kubeconfig impersonates the user the file's
ServiceAccount stands for (kubeconfig ``as:``, sent as the ``Impersonate-User`` header), and every
resource request carrying that header is judged by the Roles and ClusterRoles bound to it, with
the Forbidden wording of kube-apiserver. Requests without the header are the sandbox's own
(cluster admin), as a real cluster's admin kubeconfig would be.

Rules as Kubernetes applies them: a Role's rules hold in its RoleBinding's namespace; a
ClusterRole bound by a ClusterRoleBinding holds everywhere and for cluster-scoped resources, bound
by a RoleBinding only in that binding's namespace. A rule matches on apiGroups, resources
(``pods``, ``pods/exec``, ``*``, ``*/exec``), verbs and resourceNames; ``*`` matches anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from island_sandbox.apierrors import ApiError

BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")


@dataclass(frozen=True)
class Rule:
    api_groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    resource_names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, raw: dict[str, Any]) -> "Rule":
        return cls(frozenset(raw.get("apiGroups") or ()), frozenset(raw.get("resources") or ()),
                   frozenset(raw.get("verbs") or ()), frozenset(raw.get("resourceNames") or ()))

    def allows(self, verb: str, group: str, resource: str, subresource: str, name: str) -> bool:
        wanted = f"{resource}/{subresource}" if subresource else resource
        resource_ok = (wanted in self.resources or "*" in self.resources
                       or (subresource and f"*/{subresource}" in self.resources))
        return (bool(resource_ok) and ("*" in self.verbs or verb in self.verbs)
                and ("*" in self.api_groups or group in self.api_groups)
                and (not self.resource_names or name in self.resource_names))


@dataclass(frozen=True)
class Grant:
    """Rules that hold in ``namespace`` (None: everywhere, cluster-scoped resources too)."""
    namespace: str | None
    rules: tuple[Rule, ...]


@dataclass
class Authorizer:
    user: str
    grants: list[Grant] = field(default_factory=list)

    @classmethod
    def from_documents(cls, docs: Iterable[dict[str, Any]], user: str | None = None) -> "Authorizer":
        """The grants of ``user`` (default: the first ServiceAccount's user) in these RBAC objects."""
        docs = [d for d in docs if isinstance(d, dict)]
        if user is None:
            account = next((d for d in docs if d.get("kind") == "ServiceAccount"), None)
            if account is None:
                raise ValueError("the RBAC file has no ServiceAccount to act as; name the user")
            meta = account.get("metadata") or {}
            user = service_account_user(meta.get("namespace") or "default", meta["name"])
        roles = {(d["kind"], (d.get("metadata") or {}).get("namespace") or "", d["metadata"]["name"]):
                 tuple(Rule.of(r) for r in d.get("rules") or ()) for d in docs if d.get("kind") in ("Role", "ClusterRole")}
        grants = []
        for binding in (d for d in docs if d.get("kind") in BINDING_KINDS):
            meta = binding.get("metadata") or {}
            binding_ns = meta.get("namespace") or "default"
            if not any(_subject_user(s, binding_ns) == user for s in binding.get("subjects") or ()):
                continue
            ref = binding.get("roleRef") or {}
            role_ns = binding_ns if ref.get("kind") == "Role" else ""
            rules = roles.get((ref.get("kind"), role_ns, ref.get("name")), ())
            scope = None if binding["kind"] == "ClusterRoleBinding" else binding_ns
            grants.append(Grant(scope, rules))
        return cls(user, grants)

    def allows(self, verb: str, resource: str, subresource: str = "", namespace: str | None = None,
               name: str = "", group: str = "") -> bool:
        for grant in self.grants:
            if grant.namespace is not None and grant.namespace != namespace:
                continue
            if any(rule.allows(verb, group, resource, subresource, name) for rule in grant.rules):
                return True
        return False

    def require(self, verb: str, resource: str, subresource: str = "", namespace: str | None = None,
                name: str = "") -> None:
        if not self.allows(verb, resource, subresource, namespace, name):
            raise forbidden(self.user, verb, resource, subresource, namespace, name)


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def _subject_user(subject: dict[str, Any], binding_ns: str) -> str | None:
    if subject.get("kind") == "ServiceAccount":
        return service_account_user(subject.get("namespace") or binding_ns, subject.get("name", ""))
    if subject.get("kind") == "User":
        return subject.get("name")
    return None


def request_verb(method: str, name: str | None, subresource: str | None, watch: bool) -> str:
    """The authorization verb kube-apiserver derives from a request (exec upgrades count as create)."""
    if subresource == "exec":
        return "create"
    if method in ("GET", "HEAD"):
        return "watch" if watch else ("get" if name else "list")
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())


def forbidden(user: str, verb: str, resource: str, subresource: str, namespace: str | None, name: str) -> ApiError:
    """kube-apiserver's words: ``pods "x" is forbidden: User "..." cannot get resource "pods" ...``."""
    what = f'{resource} "{name}"' if name else resource
    target = f"{resource}/{subresource}" if subresource else resource
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    message = f'{what} is forbidden: User "{user}" cannot {verb} resource "{target}" in API group ""{where}'
    return ApiError(403, "Forbidden", message, {"name": name, "kind": resource} if name else {"kind": resource})


def access_review(authorizer: Authorizer | None, body: dict[str, Any]) -> dict[str, Any]:
    """The answer to a SelfSubjectAccessReview (what ``kubectl auth can-i`` posts)."""
    attrs = ((body.get("spec") or {}).get("resourceAttributes")) or {}
    if authorizer is None:
        allowed, reason = True, "the sandbox runs without RBAC: everything is allowed"
    else:
        allowed = authorizer.allows(attrs.get("verb", ""), attrs.get("resource", ""), attrs.get("subresource", ""),
                                    attrs.get("namespace") or None, attrs.get("name", ""), attrs.get("group", ""))
        reason = f'RBAC: allowed for "{authorizer.user}"' if allowed else ""
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "metadata": {"creationTimestamp": None}, "spec": body.get("spec") or {},
            "status": {"allowed": allowed, **({"reason": reason} if reason else {})}}
