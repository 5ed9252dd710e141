"""Discovery documents and the small OpenAPI v3 document kubectl needs. Pure data.

kubectl apply/create (``--validate=strict``, the default) asks /openapi/v3 whether the PATCH
operation of the kind takes a ``fieldValidation`` query parameter; when it does, validation is
left to the server and no client-side schema is needed. The PATCH operations deliberately list
no strategic-merge request body, so kubectl computes apply patches from its compiled-in types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SERVER_VERSION = {
    "major": "1", "minor": "35", "emulationMajor": "1", "emulationMinor": "35",
    "minCompatibilityMajor": "1", "minCompatibilityMinor": "34",
    "gitVersion": "v1.35.0-island-sandbox", "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0",
    "compiler": "gc", "platform": "linux/amd64",
}
KUBELET_VERSION = "v1.35.0-island-sandbox"
OPENAPI_HASH = "ISLANDSANDBOX1"


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ("status",)
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")
    singular: str = field(default="")


RESOURCES: dict[str, Resource] = {r.plural: r for r in (
    Resource("pods", "Pod", True, ("po",), ("status", "log", "exec", "eviction"), ("all",), singular="pod"),
    Resource("nodes", "Node", False, ("no",), singular="node"),
    Resource("namespaces", "Namespace", False, ("ns",), singular="namespace"),
    Resource("persistentvolumes", "PersistentVolume", False, ("pv",), singular="persistentvolume"),
    Resource("persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), singular="persistentvolumeclaim"),
    Resource("events", "Event", True, ("ev",), (), singular="event"),
    Resource("secrets", "Secret", True, (), (), singular="secret"),
)}
KIND_TO_PLURAL = {r.kind: r.plural for r in RESOURCES.values()}


def core_resource_list() -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for r in RESOURCES.values():
        entries.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": list(r.verbs), "shortNames": list(r.short_names),
                        **({"categories": list(r.categories)} if r.categories else {})})
        for sub in r.subresources:
            entry: dict[str, Any] = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                                     "kind": r.kind, "verbs": ["get", "patch", "update"]}
            if sub == "log":
                entry.update(verbs=["get"])
            elif sub == "exec":
                entry.update(verbs=["create", "get"], kind="PodExecOptions")
            elif sub == "eviction":
                entry.update(verbs=["create"], kind="Eviction", group="policy", version="v1")
            entries.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": entries}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list(groups: list[dict[str, Any]] | tuple = ()) -> dict[str, Any]:
    """``groups``: APIGroup entries of aggregated APIs served (metrics_api.api_group())."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": list(groups)}


# kubectl before 1.27 asks /openapi/v2 (protobuf, gnostic's openapi_v2.Document) before every
# apply, for client-side validation and patch strategies, and fails with NotFound without it. A
# document with no definitions makes it skip schema validation (unknown kinds are not checked) and
# compute patches from its compiled-in types, as against a server that publishes no schema for them.
# Hand-encoded protobuf: field 1 (swagger) = "2.0"; field 2 (info) = {1 title, 2 version}.
# kubectl asks for ...spec.v2@v1.0+protobuf; the real server answers with this spelling (Go's mime
# parser rejects the "@", and client-go fails the request on a Content-Type it cannot parse).
OPENAPI_V2_MIME = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _pb_string(field_number: int, value: bytes) -> bytes:
    assert len(value) < 128  # one-byte length is all these short strings need
    return bytes([field_number << 3 | 2, len(value)]) + value


OPENAPI_V2_PB = _pb_string(1, b"2.0") + _pb_string(
    2, _pb_string(1, b"Kubernetes") + _pb_string(2, SERVER_VERSION["gitVersion"].encode()))


def openapi_v3_root() -> dict[str, Any]:
    return {"paths": {"api/v1": {"serverRelativeURL": f"/openapi/v3/api/v1?hash={OPENAPI_HASH}"}}}


def openapi_v3_core() -> dict[str, Any]:
    params = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
              {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
              {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}}]
    paths: dict[str, Any] = {}
    for r in RESOURCES.values():
        base = "/api/v1/namespaces/{namespace}/" if r.namespaced else "/api/v1/"
        gvk = {"group": "", "version": "v1", "kind": r.kind}
        operation = {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                     "parameters": params, "responses": {"200": {"description": "OK"}}}
        paths[f"{base}{r.plural}/{{name}}"] = {
            "patch": dict(operation, operationId=f"patchCoreV1{r.kind}"),
            "put": dict(operation, operationId=f"replaceCoreV1{r.kind}", **{"x-kubernetes-action": "put"}),
        }
        paths[f"{base}{r.plural}"] = {
            "post": dict(operation, operationId=f"createCoreV1{r.kind}", **{"x-kubernetes-action": "post"}),
        }
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}
