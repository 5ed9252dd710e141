"""What the API server does to an object before storing it: validation (422 Invalid with the
real field paths and wording) and defaulting (the defaults a real 1.35 server fills in). Pure.
"""

from __future__ import annotations

import re
from typing import Any

from island_sandbox.apierrors import FieldError, invalid
from island_ssh.core.quantity import QuantityError, parse_quantity

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
                 "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                 "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
                 "[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
             "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
             "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")

# Pod spec fields an update may change (pkg/apis/core/validation ValidatePodUpdate).
MUTABLE_POD_SPEC_FIELDS = "`spec.containers[*].image`,`spec.initContainers[*].image`," \
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," \
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"


def validate_name(kind: str, obj: dict[str, Any]) -> None:
    name = (obj.get("metadata") or {}).get("name") or ""
    if not name:
        raise invalid(kind, "", [FieldError("metadata.name", "Required value", detail="name or generateName "
                                            "is required")])
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        raise invalid(kind, name, [FieldError("metadata.name", "Invalid value", name, SUBDOMAIN_MSG)])


def validate_pod(pod: dict[str, Any]) -> None:
    validate_name("Pod", pod)
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    errors: list[FieldError] = []
    containers = spec.get("containers") or []
    if not containers:
        errors.append(FieldError("spec.containers", "Required value"))
    seen: set[str] = set()
    volumes = {v.get("name") for v in spec.get("volumes") or []}
    for i, c in enumerate(containers):
        path = f"spec.containers[{i}]"
        cname = c.get("name") or ""
        if not cname:
            errors.append(FieldError(f"{path}.name", "Required value"))
        elif not DNS1123_LABEL.match(cname):
            errors.append(FieldError(f"{path}.name", "Invalid value", cname, LABEL_MSG))
        elif cname in seen:
            errors.append(FieldError(f"{path}.name", "Duplicate value", cname))
        seen.add(cname)
        if not c.get("image"):
            errors.append(FieldError(f"{path}.image", "Required value"))
        for kind in ("requests", "limits"):
            for res, value in ((c.get("resources") or {}).get(kind) or {}).items():
                try:
                    parse_quantity(value)
                except QuantityError:
                    errors.append(FieldError(f"{path}.resources.{kind}[{res}]", "Invalid value", str(value),
                                             "must be a valid quantity"))
        for j, m in enumerate(c.get("volumeMounts") or []):
            if m.get("name") not in volumes:
                errors.append(FieldError(f"{path}.volumeMounts[{j}].name", "Not found", m.get("name")))
        for j, p in enumerate(c.get("ports") or []):
            port = p.get("containerPort")
            if not isinstance(port, int) or not 0 < port < 65536:
                errors.append(FieldError(f"{path}.ports[{j}].containerPort", "Invalid value", port,
                                         "must be between 1 and 65535, inclusive"))
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in ("Always", "OnFailure", "Never"):
        errors.append(FieldError("spec.restartPolicy", "Unsupported value", policy,
                                 'supported values: "Always", "Never", "OnFailure"'))
    if errors:
        raise invalid("Pod", name, errors)


def validate_pod_update(old: dict[str, Any], new: dict[str, Any]) -> None:
    def frozen(spec: dict[str, Any]) -> dict[str, Any]:
        copy = {k: v for k, v in spec.items() if k not in ("activeDeadlineSeconds", "tolerations",
                                                           "terminationGracePeriodSeconds")}
        copy["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get("containers") or []]
        return copy
    if frozen(old.get("spec") or {}) != frozen(new.get("spec") or {}):
        raise invalid("Pod", new["metadata"]["name"], [FieldError(
            "spec", "Forbidden", detail=f"pod updates may not change fields other than {MUTABLE_POD_SPEC_FIELDS}")])


def _image_pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


def qos_class(spec: dict[str, Any]) -> str:
    requests: list[dict[str, Any]] = []
    limits: list[dict[str, Any]] = []
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        requests.append(res.get("requests") or {})
        limits.append(res.get("limits") or {})
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(set(l) >= {"cpu", "memory"} and r == l for r, l in zip(requests, limits))
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod(pod: dict[str, Any]) -> dict[str, Any]:
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for c in spec.get("containers") or []:
        c.setdefault("imagePullPolicy", _image_pull_policy(c.get("image") or ""))
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        res = c.setdefault("resources", {})
        for key, value in (res.get("limits") or {}).items():
            res.setdefault("requests", {}).setdefault(key, value)  # requests default to limits
        for p in c.get("ports") or []:
            p.setdefault("protocol", "TCP")
        probe = c.get("readinessProbe")
        if isinstance(probe, dict):
            for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                               ("failureThreshold", 3)):
                probe.setdefault(key, value)
    status = pod.setdefault("status", {})
    status["phase"] = "Pending"
    status["qosClass"] = qos_class(spec)
    return pod


def default_pv(pv: dict[str, Any]) -> dict[str, Any]:
    spec = pv.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    if "hostPath" in spec:
        spec["hostPath"].setdefault("type", "")
    pv["status"] = {"phase": "Pending"}
    return pv


def default_pvc(pvc: dict[str, Any]) -> dict[str, Any]:
    pvc.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    pvc["status"] = {"phase": "Pending"}
    return pvc


SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
SECRET_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
                  "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
MAX_SECRET_BYTES = 1024 * 1024


def admit_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """What the API server does to a Secret on every write: ``stringData`` is merged into
    ``data`` (base64; a key in both takes stringData's value) and never stored; ``type``
    defaults to Opaque; keys and the total size are validated; Secrets have no status."""
    import base64
    import binascii

    name = (secret.get("metadata") or {}).get("name") or ""
    data = dict(secret.get("data") or {})
    errors: list[FieldError] = []
    for key, value in data.items():
        try:
            base64.b64decode(value if isinstance(value, str) else "", validate=True)
        except (binascii.Error, ValueError):
            # the real server fails decoding the body ([]byte fields are base64 in JSON)
            raise invalid("Secret", name, [FieldError(f"data[{key}]", "Invalid value", "<value>",
                                                      "illegal base64 data")]) from None
    for key, value in (secret.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
    total = 0
    for key, value in data.items():
        if not SECRET_KEY.match(key):
            errors.append(FieldError(f"data[{key}]", "Invalid value", key, SECRET_KEY_MSG))
        total += len(base64.b64decode(value))
    if total > MAX_SECRET_BYTES:
        errors.append(FieldError("data", "Too long", detail=f"must have at most {MAX_SECRET_BYTES} bytes"))
    if errors:
        raise invalid("Secret", name, errors)
    if data:
        secret["data"] = data
    else:
        secret.pop("data", None)
    secret.setdefault("type", "Opaque")
    secret.pop("status", None)
    return secret
