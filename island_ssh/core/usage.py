"""Per-island resource use (issue 15): metrics.k8s.io answers -> what the faces show. Pure.

``parse_pod_metrics`` reads a PodMetricsList (``kubectl get --raw /apis/metrics.k8s.io/v1beta1/
namespaces/NS/pods?labelSelector=...``, as metrics-server returns it: ``containers[].usage.cpu``
"12m" / "123456n", ``memory`` "52Mi" / "53248Ki") into PodUsage per pod name. ``island_usage``
puts one island's server container against its memory limit (the limit its pod was launched with:
the launch's memory when above ``islands.memory_limit``, as core.validate decides it) and the
warning fraction ``islands.memory_warning``; an island whose server was OOMKilled says so, at
which limit. Not available (no metrics-server, not yet sampled, not running) is a state with a
reason, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from island_ssh.core.errors import ConfigError
from island_ssh.core.names import SERVER_CONTAINER
from island_ssh.core.quantity import QuantityError, format_memory, parse_quantity, _BINARY, _DECIMAL, _QUANTITY

RUNNING_STATES = ("starting", "ready")
"""States whose server container runs: its use can be measured."""
OOM_REASON = "OOMKilled"


@dataclass(frozen=True)
class ContainerUsage:
    cpu_nanocores: int
    memory_bytes: int


@dataclass(frozen=True)
class PodUsage:
    containers: dict[str, ContainerUsage]
    timestamp: str = ""
    window_seconds: float | None = None


@dataclass(frozen=True)
class Snapshot:
    """One poll of the metrics API: every island pod's use, or why there is none."""
    available: bool
    pods: dict[str, PodUsage] = field(default_factory=dict)
    reason: str = ""
    taken_at: float = 0.0
    """time.time() of the poll (the service's clock; core reads none)."""


def cpu_nanocores(text: str | int | float) -> int:
    """A cpu quantity in nano-cores: "12m" -> 12_000_000, "123456n" -> 123456, "1" -> 1e9."""
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) in _BINARY:
        raise QuantityError(f"not a cpu quantity: {text!r}")
    value = Decimal(match.group(1)) * _DECIMAL[match.group(2) or ""] * Decimal(10**9)
    if value < 0:
        raise QuantityError(f"a negative cpu quantity: {text!r}")
    return int(value.to_integral_value(rounding="ROUND_CEILING"))


def format_cpu(nanocores: int) -> str:
    """As kubectl top prints cpu: whole milli-cores ('12m'; '0m' for less than one)."""
    return f"{nanocores // 1_000_000}m"


def format_usage_memory(n: int) -> str:
    """As kubectl top prints memory: whole Mi ('412Mi'), Ki below 1 Mi."""
    return f"{n >> 20}Mi" if n >= 2**20 else f"{n >> 10}Ki"


def window_seconds(text: object) -> float | None:
    """A metav1.Duration as metrics-server writes it ('15s', '1.503s', '1m0.5s'), None if unreadable."""
    if not isinstance(text, str) or not text:
        return None
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = next((u for u in ("ms", "us", "µs", "ns", "h", "m", "s") if text.startswith(u, i)), None)
        if unit is None or not number:
            return None
        try:
            total += float(number) * units[unit]
        except ValueError:
            return None
        number, i = "", i + len(unit)
    return None if number else total


def parse_pod_metrics(doc: object) -> dict[str, PodUsage]:
    """PodMetricsList -> {pod name: PodUsage}; malformed items and quantities are skipped."""
    out: dict[str, PodUsage] = {}
    items = doc.get("items") if isinstance(doc, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict):
            continue
        name = item["metadata"].get("name")
        if not isinstance(name, str):
            continue
        containers = {}
        for c in item.get("containers") or []:
            usage = c.get("usage") if isinstance(c, dict) else None
            if not isinstance(usage, dict) or not isinstance(c.get("name"), str):
                continue
            try:
                containers[c["name"]] = ContainerUsage(cpu_nanocores(usage.get("cpu", "0")),
                                                       parse_quantity(str(usage.get("memory", "0"))))
            except (QuantityError, ValueError, ArithmeticError):
                continue
        out[name] = PodUsage(containers, str(item.get("timestamp") or ""), window_seconds(item.get("window")))
    return out


def memory_limit_of(overrides: dict | None, default_limit: str) -> int:
    """The server's memory limit in bytes, as core.validate set it at launch."""
    default = parse_quantity(default_limit)
    asked = (overrides or {}).get("memory")
    try:
        chosen = parse_quantity(asked) if asked else 0
    except QuantityError:
        chosen = 0
    return max(chosen, default)


def check_warning_fraction(value: object) -> float:
    """``islands.memory_warning``: a fraction in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(f"islands.memory_warning: {value!r}; a fraction of the memory limit above 0 and "
                          f"at most 1, like 0.8")
    return float(value)


def island_usage(row, snapshot: Snapshot, default_limit: str, warning: float) -> dict:
    """What GET /api/islands/<id>/usage returns for one island (see web/openapi_usage.py)."""
    limit = memory_limit_of(getattr(row, "overrides", None), default_limit)
    out: dict = {"id": row.island_id, "state": row.state, "available": False, "reason": "",
                 "memory_bytes": None, "memory": None, "memory_limit_bytes": limit,
                 "memory_limit": format_memory(limit), "memory_percent": None, "warning": False,
                 "warning_fraction": warning, "cpu_nanocores": None, "cpu": None, "cpu_limit": None,
                 "sampled_at": None, "window_seconds": None, "text": "", "oom_killed": None}
    if getattr(row, "reason", "") == OOM_REASON:
        out["oom_killed"] = {"reason": OOM_REASON, "limit": format_memory(limit),
                             "text": f"killed: out of memory at {format_memory(limit)}"}
    if not snapshot.available:
        out["reason"] = snapshot.reason or "the cluster has no metrics API (metrics-server)"
    elif row.state not in RUNNING_STATES:
        out["reason"] = f"the server is not running ({row.state})"
    else:
        pod = snapshot.pods.get(row.pod_name)
        server = pod.containers.get(SERVER_CONTAINER) if pod else None
        if server is None:
            out["reason"] = "no sample yet (metrics-server reports a container after its first scrapes)"
        else:
            percent = round(100 * server.memory_bytes / limit) if limit else None
            out.update(available=True, memory_bytes=server.memory_bytes,
                       memory=format_usage_memory(server.memory_bytes), memory_percent=percent,
                       warning=bool(limit) and server.memory_bytes >= warning * limit,
                       cpu_nanocores=server.cpu_nanocores, cpu=format_cpu(server.cpu_nanocores),
                       sampled_at=pod.timestamp or None, window_seconds=pod.window_seconds)
    out["text"] = usage_text(out)
    return out


def usage_text(u: dict) -> str:
    """One line: 'mem 412Mi / 1Gi (40%) · cpu 12m', 'usage not available: ...', the OOM kill."""
    if u["available"]:
        text = f"mem {u['memory']} / {u['memory_limit']} ({u['memory_percent']}%) · cpu {u['cpu']}"
        if u["warning"]:
            text += f" · over {round(u['warning_fraction'] * 100)}% of the limit"
    else:
        text = f"usage not available: {u['reason']}"
    if u.get("oom_killed"):
        text = f"{u['oom_killed']['text']} · {text}"
    return text
