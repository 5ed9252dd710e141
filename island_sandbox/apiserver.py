"""The emulated Kubernetes API server: kmock's ``KubernetesScaffold`` plus our resource handlers.

What kmock gives us: the aiohttp server (``kmock.Server``), request parsing into resource /
namespace / name / subresource / verb, and its DSL for the non-resource endpoints (version,
discovery, OpenAPI). What we replace: kmock's emulator store (no resourceVersion, no history, no
selectors) and its renderer for resource requests, because watches, logs and the exec websocket
need a prepared aiohttp response that kmock's payload renderer cannot hand back. Those requests
are routed in ``_handle`` before kmock's DSL sees them (see README "API server").
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml

from island_sandbox import admission, execws, metrics_api, openapi, protowire, rbac, ssa, tables
from island_ssh.core.errors import IslandError
from island_sandbox.apierrors import ApiError, already_exists, bad_request, method_not_allowed, not_found, unauthorized
from island_sandbox.cluster import Cluster
from island_sandbox.objects import json_copy, now_rfc3339
from island_sandbox.patches import apply_patch
from island_sandbox.selectors import SelectorError, Selector
from island_sandbox.watches import WatchRequest, serve_watch

log = logging.getLogger(__name__)
KEPT_REQUESTS = 20
ACCESS_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
KUBELET_REFUSALS = (LookupError, ValueError, OSError, IslandError)  # what a kubelet raises for a bad target  # kmock records every request; a long-running server keeps only the last few


@dataclass
class ApiRequest:
    raw: aiohttp.web.BaseRequest
    method: str
    params: Any
    headers: Any
    body: bytes
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_core_path(path: str) -> dict[str, Any] | None:
    """/api/v1/[namespaces/NS/]PLURAL[/NAME[/SUB]] (and /api/v1/namespaces[/NAME[/SUB]])."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3 or parts[:2] != ["api", "v1"]:
        return None
    rest = parts[2:]
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in openapi.RESOURCES:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    return {"plural": rest[0], "namespace": namespace, "name": rest[1] if len(rest) > 1 else None,
            "subresource": rest[2] if len(rest) > 2 else None}


def _json(body: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


@attrs.define(kw_only=True)
class SandboxApiServer(kmock.KubernetesScaffold):
    cluster: Cluster
    watch_timeout: float = 1800.0
    token: str | None = None
    address: str = "127.0.0.1:0"
    authorizer: rbac.Authorizer | None = None
    """With ``--rbac FILE``: requests impersonating its user are judged by its Roles (see rbac.py)."""
    metrics: metrics_api.MetricsApi | None = None
    """The metrics.k8s.io API (metrics_api.py); None: the cluster has no metrics-server."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self['get /openapi/v3'] << (lambda: openapi.openapi_v3_root())
        self['get /openapi/v3/api/v1'] << (lambda: openapi.openapi_v3_core())
        self['get /healthz'] << b'ok'
        self['get /readyz'] << b'ok'
        self['get /livez'] << b'ok'

    @property
    def store(self):
        return self.cluster.store

    # -- kmock scaffold overrides (discovery, version, errors) --------------------------------
    async def _serve_server_version(self, request: kmock.Request) -> Any:
        return openapi.SERVER_VERSION

    async def _serve_api(self, request: kmock.Request) -> Any:
        return openapi.api_versions(self.address)

    async def _serve_apis(self, request: kmock.Request) -> Any:
        return self._group_list()

    def _group_list(self) -> dict[str, Any]:
        return openapi.api_group_list([metrics_api.api_group()] if self.metrics is not None else [])

    async def _serve_version(self, request: kmock.Request) -> Any:
        if request.resource is not None and request.resource.group == "" and request.resource.version == "v1":
            return openapi.core_resource_list()
        raise kmock.KubernetesNotFoundError(reason="NotFound", message="the server could not find the requested resource")

    async def _serve_group(self, request: kmock.Request) -> Any:
        raise kmock.KubernetesNotFoundError(reason="NotFound", message="the server could not find the requested resource")

    async def _serve_root(self, request: kmock.Request) -> Any:
        return {"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]}

    # -- entry point ----------------------------------------------------------------------------
    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Resource requests are ours; everything else (discovery, OpenAPI, ...) is kmock's."""
        route = parse_core_path(raw.path)
        if raw.method == "POST" and raw.path == ACCESS_REVIEW_PATH:
            return await self._access_review(raw)
        if raw.method == "GET" and raw.path == "/openapi/v2":  # kubectl < 1.27 (openapi.OPENAPI_V2_PB)
            return aiohttp.web.Response(body=openapi.OPENAPI_V2_PB, content_type=openapi.OPENAPI_V2_MIME)
        if self.metrics is not None and (raw.path + "/").startswith(metrics_api.PREFIX + "/"):
            return metrics_api.serve(self.metrics, raw, self._authorizer_for(raw))
        if raw.method == "GET" and raw.path in ("/api", "/apis"):
            # kubectl 1.27 compares discovery's Content-Type with "application/json" as a string
            # and refuses kmock's "application/json; charset=utf-8"; the real server sends no charset
            return _json(openapi.api_versions(self.address) if raw.path == "/api" else self._group_list())
        if route is None:
            del self._requests[:-KEPT_REQUESTS]
            return await super().__call__(raw)
        try:
            if self.token and raw.headers.get("Authorization") != f"Bearer {self.token}":
                raise unauthorized()
            request = ApiRequest(raw=raw, method=raw.method.upper(), params=raw.query, headers=raw.headers,
                                 body=await raw.read(), **route)
            self._authorize(request)
            return await self._serve_resource(request)
        except ApiError as e:
            return _json(e.status(), e.code)
        except Exception:
            log.exception("%s %s failed", raw.method, raw.path_qs)
            return _json(ApiError(500, "InternalError", "an error on the server has prevented the request "
                                  "from succeeding; see the sandbox server log").status(), 500)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        try:
            return await super()._handle(request)
        except kmock.KubernetesError as e:  # answered here (kmock would keep the exception), worded as k8s
            if e.status == 404:
                return _json(ApiError(404, "NotFound", "the server could not find the requested resource").status(), 404)
            return _json(ApiError(e.status, e.reason or "InternalError", e.message or repr(e)).status(), e.status)

    # -- authorization ----------------------------------------------------------------------
    def _authorizer_for(self, raw: aiohttp.web.BaseRequest) -> rbac.Authorizer | None:
        """Who judges a request: None (admin) for the sandbox's own, the file's user's grants for it,
        and no grants at all for any other impersonated user (as RBAC gives a user nobody bound)."""
        user = raw.headers.get("Impersonate-User")
        if self.authorizer is None or user is None:
            return None
        return self.authorizer if user == self.authorizer.user else rbac.Authorizer(user)

    async def _access_review(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.Response:
        """`kubectl auth can-i`: a SelfSubjectAccessReview, which kubectl sends as protobuf."""
        body = await raw.read()
        try:
            if (raw.headers.get("Content-Type") or "").startswith(protowire.PROTOBUF):
                review = protowire.access_review_from_protobuf(body)
            else:
                review = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            return _json(bad_request(f"cannot read the access review: {exc}").status(), 400)
        return _json(rbac.access_review(self._authorizer_for(raw), review), 201)

    def _authorize(self, request: ApiRequest) -> None:
        authorizer = self._authorizer_for(request.raw)
        if authorizer is None:
            return
        definition = openapi.RESOURCES.get(request.plural)
        namespace = (request.namespace or None) if definition is None or definition.namespaced else None
        watch = request.params.get("watch") in ("true", "1")
        verb = rbac.request_verb(request.method, request.name, request.subresource, watch)
        authorizer.require(verb, request.plural, request.subresource or "", namespace, request.name or "")

    # -- resources ------------------------------------------------------------------------------
    async def _serve_resource(self, request: ApiRequest) -> aiohttp.web.StreamResponse:
        definition = openapi.RESOURCES.get(request.plural)
        if definition is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, sub = definition.plural, request.namespace, request.name, request.subresource
        if definition.namespaced and ns and request.method != "GET" \
                and self.store.get("namespaces", "", ns) is None:
            raise not_found("namespaces", ns)
        key_ns = (ns or "") if definition.namespaced else ""
        method = request.method
        params = request.params
        if name is None:
            if method == "GET":
                if params.get("watch") in ("true", "1"):
                    return await self._watch(request, plural, ns if definition.namespaced else None)
                return self._list(request, plural, ns if definition.namespaced else None)
            if method == "POST":
                return self._create(request, definition, key_ns)
            raise method_not_allowed(f"{method} {plural}")
        if sub is None:
            if method == "GET":
                if params.get("watch") in ("true", "1"):
                    return await self._watch(request, plural, ns, name=name)
                return self._get(request, plural, key_ns, name)
            if method == "PUT":
                return self._update(request, definition, key_ns, name, status_only=False)
            if method == "PATCH":
                return self._patch(request, definition, key_ns, name, status_only=False)
            if method == "DELETE":
                return await self._delete(request, plural, key_ns, name)
        elif sub == "status":
            if method == "GET":
                return self._get(request, plural, key_ns, name)
            if method == "PUT":
                return self._update(request, definition, key_ns, name, status_only=True)
            if method == "PATCH":
                return self._patch(request, definition, key_ns, name, status_only=True)
        elif plural == "pods" and sub == "log" and method == "GET":
            return await self._logs(request, key_ns, name)
        elif plural == "pods" and sub == "exec":
            return await self._exec(request, key_ns, name)
        elif plural == "pods" and sub == "eviction" and method == "POST":
            self.store.require("pods", key_ns, name)
            await self.cluster.evict_pod(key_ns, name)
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                          "code": 201}, 201)
        raise method_not_allowed(f"{method} {plural}/{sub}")

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _body(request: ApiRequest) -> Any:
        try:
            return json.loads(request.body) if request.body else {}
        except ValueError:
            try:
                return yaml.safe_load(request.body)
            except yaml.YAMLError:
                raise bad_request("the request body is neither JSON nor YAML") from None

    @staticmethod
    def _selector(request: ApiRequest, name: str | None = None) -> Selector:
        field = request.params.get("fieldSelector") or ""
        if name:
            field = ",".join(x for x in (field, f"metadata.name={name}") if x)
        try:
            return Selector.parse(request.params.get("labelSelector"), field)
        except SelectorError as e:
            raise bad_request(str(e)) from None

    @staticmethod
    def _wants_table(request: ApiRequest) -> bool:
        return "as=Table" in request.headers.get("Accept", "")

    def _table(self, request: ApiRequest, plural: str, objs: list[dict[str, Any]]) -> dict[str, Any]:
        return tables.render_table(plural, objs, time.time(), str(self.store.resource_version),
                                   request.params.get("includeObject", "Metadata"))

    def _list(self, request: ApiRequest, plural: str, ns: str | None) -> aiohttp.web.Response:
        selector = self._selector(request)
        objs = [o for o in self.store.items(plural, ns) if selector.matches(o)]
        if self._wants_table(request):
            return _json(self._table(request, plural, objs))
        kind = openapi.RESOURCES[plural].kind
        return _json({"kind": f"{kind}List", "apiVersion": "v1",
                      "metadata": {"resourceVersion": str(self.store.resource_version)}, "items": objs})

    def _get(self, request: ApiRequest, plural: str, ns: str, name: str) -> aiohttp.web.Response:
        obj = self.store.require(plural, ns, name)
        return _json(self._table(request, plural, [obj]) if self._wants_table(request) else obj)

    def _create(self, request: ApiRequest, definition: openapi.Resource, ns: str,
                obj: Any = None) -> aiohttp.web.Response:
        obj = self._body(request) if obj is None else obj  # given: a server-side apply that creates
        if not isinstance(obj, dict):
            raise bad_request("the request body must be an object")
        meta = obj.setdefault("metadata", {})
        if definition.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent "
                                  "on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + _random_suffix()
        obj["apiVersion"], obj["kind"] = "v1", definition.kind
        admission.validate_name(definition.kind, obj)
        for field in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp"):
            meta.pop(field, None)
        if definition.plural == "pods":
            admission.validate_pod(obj)
            admission.default_pod(obj)
        elif definition.plural == "persistentvolumes":
            admission.default_pv(obj)
        elif definition.plural == "persistentvolumeclaims":
            admission.default_pvc(obj)
        elif definition.plural == "namespaces":
            obj["status"] = {"phase": "Active"}
        elif definition.plural == "secrets":
            admission.admit_secret(obj)
        if request.params.get("dryRun"):
            if self.store.get(definition.plural, ns, meta["name"]) is not None:
                raise already_exists(definition.plural, meta["name"])
            return _json(obj, 201)
        return _json(self.store.create(definition.plural, obj), 201)

    def _store_update(self, definition: openapi.Resource, old: dict[str, Any], new: dict[str, Any],
                      status_only: bool, expect_rv: str | None, dry_run: bool) -> dict[str, Any]:
        if status_only:
            merged = json_copy(old)
            merged["status"] = new.get("status") or {}
        else:
            merged = new
            merged["status"] = json_copy(old.get("status"))
            merged["apiVersion"], merged["kind"] = "v1", definition.kind
            meta = merged.setdefault("metadata", {})
            for kept in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                         "deletionGracePeriodSeconds"):
                if kept in old["metadata"]:
                    meta[kept] = old["metadata"][kept]
            if definition.plural == "pods":
                admission.validate_pod(merged)
                admission.validate_pod_update(old, merged)
            elif definition.plural == "secrets":
                admission.admit_secret(merged)  # stringData merged again, and no status kept
        if dry_run:
            return merged
        return self.store.replace(definition.plural, merged, expect_rv=expect_rv)

    def _update(self, request: ApiRequest, definition: openapi.Resource, ns: str, name: str,
                status_only: bool) -> aiohttp.web.Response:
        old = self.store.require(definition.plural, ns, name)
        body = self._body(request)
        if not isinstance(body, dict) or (body.get("metadata") or {}).get("name", name) != name:
            raise bad_request("the name of the object does not match the name on the URL")
        expect = (body.get("metadata") or {}).get("resourceVersion")
        return _json(self._store_update(definition, old, body, status_only, expect,
                                        bool(request.params.get("dryRun"))))

    def _patch(self, request: ApiRequest, definition: openapi.Resource, ns: str, name: str,
               status_only: bool) -> aiohttp.web.Response:
        if ssa.is_apply(request.headers.get("Content-Type", "")) and not status_only:
            return self._server_side_apply(request, definition, ns, name)
        old = self.store.require(definition.plural, ns, name)
        patched = apply_patch(request.headers.get("Content-Type", ""), json_copy(old), self._body(request))
        expect = (patched.get("metadata") or {}).get("resourceVersion")
        if expect == old["metadata"]["resourceVersion"]:
            expect = None
        return _json(self._store_update(definition, old, patched, status_only, expect,
                                        bool(request.params.get("dryRun"))))

    def _server_side_apply(self, request: ApiRequest, definition: openapi.Resource, ns: str,
                           name: str) -> aiohttp.web.Response:
        """Create-or-update under a field manager (ssa.py); 201 when it created."""
        applied = self._body(request)
        if isinstance(applied, dict) and (applied.get("metadata") or {}).get("name", name) != name:
            raise bad_request("the name of the object does not match the name on the URL")
        old = self.store.get(definition.plural, ns, name)
        merged = ssa.apply(old, applied, request.params.get("fieldManager", ""),
                           request.params.get("force") in ("true", "1"), now_rfc3339())
        if old is None:
            merged.setdefault("metadata", {})["name"] = name
            return self._create(request, definition, ns, obj=merged)
        return _json(self._store_update(definition, old, merged, False, None, bool(request.params.get("dryRun"))))

    async def _delete(self, request: ApiRequest, plural: str, ns: str, name: str) -> aiohttp.web.Response:
        body = self._body(request) or {}
        grace = request.params.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
        if plural == "pods":
            obj = await self.cluster.delete_pod(ns, name, None if grace is None else int(grace))
        else:
            obj = self.store.remove(plural, ns, name)
        return _json(obj)

    # -- watch ----------------------------------------------------------------------------------
    async def _watch(self, request: ApiRequest, plural: str, ns: str | None,
                     name: str | None = None) -> aiohttp.web.StreamResponse:
        params = request.params
        timeout = self.watch_timeout
        if params.get("timeoutSeconds"):
            timeout = min(timeout, float(params["timeoutSeconds"]))
        return await serve_watch(request.raw, self.store, WatchRequest(
            plural=plural, kind=openapi.RESOURCES[plural].kind, namespace=ns,
            selector=self._selector(request, name), resource_version=params.get("resourceVersion") or "",
            send_initial_events=params.get("sendInitialEvents") == "true", as_table=self._wants_table(request),
            include_object=params.get("includeObject", "Metadata"), timeout=timeout))

    # -- logs and exec ------------------------------------------------------------------------
    async def _logs(self, request: ApiRequest, ns: str, name: str) -> aiohttp.web.StreamResponse:
        kubelet, container = self.cluster.kubelet_for(ns, name, request.params.get("container"))
        tail = request.params.get("tailLines")
        tail_lines = int(tail) if tail not in (None, "") else None
        limit = request.params.get("limitBytes")
        if limit not in (None, "") and not (limit.isdigit() and int(limit) > 0):
            raise bad_request(f"limitBytes: Invalid value: {limit}: must be greater than 0")
        # as the kubelet's LimitWriter: the first limitBytes of what would be sent (after tailLines),
        # and a followed log ends once that many bytes went out
        left = int(limit) if limit not in (None, "") else None
        try:
            data = kubelet.logs(ns, name, container, tail_lines)
        except KUBELET_REFUSALS as e:  # the kubelet's "not started"/"no such container"
            raise bad_request(str(e) or type(e).__name__) from None
        if left is not None:
            data = data[:left]
            left -= len(data)
        if request.params.get("follow") != "true":
            return aiohttp.web.Response(body=data, content_type="text/plain")
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request.raw)
        sent = kubelet.logs(ns, name, container, None)
        await response.write(data)
        try:
            while self._container_running(ns, name, container) and left != 0:
                await asyncio.sleep(0.2)  # the kubelet's log is a file; poll it for growth
                now = kubelet.logs(ns, name, container, None)
                if len(now) > len(sent):
                    new = now[len(sent):] if left is None else now[len(sent):len(sent) + left]
                    await response.write(new)
                    left = None if left is None else left - len(new)
                sent = now
            await response.write_eof()
        except KUBELET_REFUSALS:  # the pod went away while we followed it: the stream just ends
            await response.write_eof()
        except ConnectionError:
            pass
        return response

    def _container_running(self, ns: str, name: str, container: str) -> bool:
        pod = self.store.get("pods", ns, name)
        if pod is None:
            return False
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs.get("name") == container:
                return "terminated" not in (cs.get("state") or {})
        return True

    async def _exec(self, request: ApiRequest, ns: str, name: str) -> aiohttp.web.StreamResponse:
        raw = request.raw
        assert raw is not None
        kubelet, container = self.cluster.kubelet_for(ns, name, request.params.get("container"))
        statuses = (self.store.require("pods", ns, name).get("status") or {}).get("containerStatuses") or []
        state = next((cs.get("state") or {} for cs in statuses if cs.get("name") == container), {})
        if "running" not in state:  # refused before any upgrade, as the real kubelet does
            raise bad_request(f'container not found ("{container}")')
        if raw.headers.get("Upgrade", "").lower() != "websocket":
            raise bad_request("exec needs a websocket upgrade (v5.channel.k8s.io); the sandbox does not serve SPDY, "
                              "which kubectl before 1.30 speaks: use kubectl 1.30 or newer")
        argv = raw.query.getall("command", [])
        if not argv:
            raise bad_request("you must specify at least 1 command")
        flag = lambda key: raw.query.get(key) in ("true", "1")  # noqa: E731

        async def run(stdin: bytes | None) -> tuple[int, bytes, bytes]:
            return await kubelet.exec(ns, name, container, argv, stdin)

        return await execws.serve_exec(raw, argv, flag("stdin"), flag("stdout"), flag("stderr"), run)


def _random_suffix() -> str:
    import secrets
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(5))
