"""``python -m island_sandbox.server``: the sandbox cluster in one process.

Runs the API server (kmock + our handlers) on 127.0.0.1:PORT, the scheduler and one kubelet per
node (node N gets IP 127.0.0.(10+N)); writes DIR/kubeconfig and, once ready, DIR/server.json
(atomically). SIGTERM/SIGINT stop every kubelet (and so every pod process) before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import kmock
import yaml

from island_sandbox import rbac
from island_sandbox.apiserver import SandboxApiServer
from island_sandbox.cluster import Cluster
from island_sandbox.metrics_api import MetricsApi
from island_sandbox.objects import ObjectStore
from island_ssh.core.quantity import parse_quantity

log = logging.getLogger("island_sandbox.server")
DEFAULT_KUBELET = "island_sandbox.kubelet:Kubelet"
IMAGES_DIR = Path(__file__).resolve().parent / "images"
NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    ip: str
    labels: dict[str, str]
    memory_bytes: int


def node_specs(nodes: list[dict[str, Any]], ip_prefix: str = "127.0.0") -> list[NodeSpec]:
    """Nodes from --nodes-json (name, labels, memory); IPs PREFIX.11, .12, ... in order."""
    return [NodeSpec(n["name"], f"{ip_prefix}.{11 + i}", dict(n.get("labels") or {}),
                     parse_quantity(n.get("memory", "4Gi"))) for i, n in enumerate(nodes)]


def kubeconfig_text(port: int, token: str, impersonate: str | None = None) -> str:
    """A kubeconfig for the sandbox; ``impersonate`` makes kubectl act as that user (RBAC applies)."""
    user = {"token": token, **({"as": impersonate} if impersonate else {})}
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "island-sandbox", "preferences": {},
        "clusters": [{"name": "island-sandbox", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "island-sandbox-admin", "user": user}],
        "contexts": [{"name": "island-sandbox", "context": {"cluster": "island-sandbox",
                                                             "user": "island-sandbox-admin",
                                                             "namespace": "default"}}],
    }, indent=2)


def write_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def load_factory(spec: str) -> Callable[..., Any]:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _node_info_class(kubelet_spec: str) -> Any:
    module = importlib.import_module(kubelet_spec.partition(":")[0])
    return getattr(module, "NodeInfo", NodeSpec)


def _image_resolver() -> Any:
    from island_sandbox.images import ImageResolver  # the kubelet helper's module; only needed with real kubelets
    return ImageResolver(IMAGES_DIR)


async def run(args: argparse.Namespace) -> None:
    started = time.monotonic()
    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "server.json").unlink(missing_ok=True)
    store = ObjectStore(history=args.watch_history)
    cluster = Cluster(store)
    for ns in NAMESPACES:
        cluster.add_namespace(ns)
    factory = load_factory(args.kubelet) if args.kubelet != "none" else None
    node_info = _node_info_class(args.kubelet) if factory else None
    images = _image_resolver() if args.kubelet == DEFAULT_KUBELET else None
    specs = node_specs(json.loads(args.nodes_json), args.node_ip_prefix)
    for spec in specs:
        kubelet = None
        if factory is not None:
            info = node_info(name=spec.name, ip=spec.ip, labels=spec.labels, memory_bytes=spec.memory_bytes)
            node_dir = state_dir / "nodes" / spec.name
            node_dir.mkdir(parents=True, exist_ok=True)
            # the real kubelet reads the Secrets its pods reference from the API server
            extra = {"secrets": cluster.secret} if args.kubelet == DEFAULT_KUBELET else {}
            kubelet = factory(info, state_dir=node_dir, images=images,
                              report=cluster.report_for(spec.name), **extra)
        cluster.add_node(spec.name, spec.ip, spec.labels, spec.memory_bytes, kubelet)
    token = secrets.token_urlsafe(24)
    # client-go never sends a bearer token over plain HTTP, so the server cannot require it; it
    # listens on 127.0.0.1 only. The token is there because kubectl wants a user in the config.
    authorizer = load_rbac(args.rbac) if args.rbac else None
    handler = SandboxApiServer(cluster=cluster, watch_timeout=args.watch_timeout, token=None, authorizer=authorizer,
                               metrics=MetricsApi(cluster) if args.metrics_api else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with handler, kmock.Server(handler, host="127.0.0.1", port=args.port or None) as server:
        handler.address = f"127.0.0.1:{server.port}"
        cluster.start()
        kubeconfig = state_dir / "kubeconfig"
        admin_kubeconfig = state_dir / "admin-kubeconfig"
        write_atomically(kubeconfig, kubeconfig_text(server.port, token, authorizer.user if authorizer else None))
        write_atomically(admin_kubeconfig, kubeconfig_text(server.port, token))
        ready = {"pid": os.getpid(), "port": server.port, "url": f"http://127.0.0.1:{server.port}",
                 "kubeconfig": str(kubeconfig), "admin_kubeconfig": str(admin_kubeconfig),
                 "rbac_user": authorizer.user if authorizer else None, "node_ips": {s.name: s.ip for s in specs},
                 "startup_seconds": round(time.monotonic() - started, 3)}
        write_atomically(state_dir / "server.json", json.dumps(ready, indent=2), 0o644)
        log.info("sandbox API server ready on %s in %.2fs", ready["url"], ready["startup_seconds"])
        await stop.wait()
        log.info("stopping: shutting down kubelets")
        await cluster.shutdown()
    (state_dir / "server.json").unlink(missing_ok=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m island_sandbox.server", description=__doc__)
    parser.add_argument("--state-dir", help="where kubeconfig, server.json and node state go")
    parser.add_argument("--port", type=int, default=None, help="API port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--nodes-json", default=None,
                        help='[{"name": ..., "labels": {...}, "memory": "4Gi"}, ...]')
    parser.add_argument("--watch-timeout", type=float, default=None,
                        help="seconds after which the server ends a watch, as real API servers do")
    parser.add_argument("--node-ip-prefix", default="127.0.0",
                        help="first three octets of the nodes' loopback addresses (node N: PREFIX.(10+N)); "
                             "sandboxes running side by side need different prefixes, or their host ports collide")
    parser.add_argument("--watch-history", type=int, default=1000,
                        help="events kept for watch resume; older resourceVersions get 410 Expired")
    parser.add_argument("--kubelet", default=DEFAULT_KUBELET,
                        help="module:Class of the kubelet (the interface of island_sandbox.kubelet), "
                             "or 'none' for nodes without kubelets")
    parser.add_argument("--rbac", default=None,
                        help="an RBAC file (conf/kubernetes/rbac.yaml): DIR/kubeconfig then acts as its ServiceAccount "
                             "and only what its Roles grant is allowed; DIR/admin-kubeconfig may do anything")
    parser.add_argument("--metrics-api", action=argparse.BooleanOptionalAction, default=True,
                        help="serve metrics.k8s.io (kubectl top) from the pods' processes, as metrics-server "
                             "(--no-metrics-api: a cluster without it)")
    parser.add_argument("--config", default=None, help="island_ssh config file for defaults (sandbox section)")
    args = parser.parse_args(argv)
    if args.state_dir is None or args.port is None or args.nodes_json is None or args.watch_timeout is None:
        from island_ssh.config import load_settings
        sandbox = load_settings(args.config).sandbox
        args.state_dir = args.state_dir or os.path.join(os.path.expanduser(sandbox.state_dir), "api")
        args.port = sandbox.api_port if args.port is None else args.port
        args.watch_timeout = sandbox.watch_timeout if args.watch_timeout is None else args.watch_timeout
        if args.nodes_json is None:
            args.nodes_json = json.dumps([{"name": n.name, "labels": n.labels, "memory": n.memory}
                                          for n in sandbox.nodes])
    return args


def load_rbac(path: str) -> "rbac.Authorizer":
    with open(path, encoding="utf-8") as f:
        return rbac.Authorizer.from_documents(yaml.safe_load_all(f))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
