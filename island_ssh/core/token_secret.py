"""The island's registration token as a Kubernetes Secret, and the pod's reference to it. Pure.

The token used to be a plain env value of the pod, readable by anyone allowed ``get pods``. Now
it lives in a Secret of its own (one per island, ``island-ssh-token-<id>``) that the pod reads
through ``env[].valueFrom.secretKeyRef``; reading it takes ``get secrets``, a right a cluster
gives out far more sparingly. The Secret is rendered from ``yaml_templates/secret.yaml`` (given as
data, as the pod's template is), applied in the same ``kubectl apply`` stream BEFORE its pod
so the kubelet finds it at container start.

Its lifetime is explicit: the service deletes it with the island and the recover job sweeps any
whose island is gone (``core.recovery_plan``). No ownerReference to the pod: the pod's uid is only
known after the apply, and a restart replaces the pod while the Secret (same name) is re-applied
with the new token, so garbage collection by owner would race the restart.
"""

from __future__ import annotations

import base64
import copy
import re

from island_ssh.core.errors import InvalidInput
from island_ssh.core.names import APP, GENERATION_LABEL, ID_LABEL, MANAGED_BY, MANAGED_BY_LABEL

SECRET_PREFIX = "island-ssh-token-"
TOKEN_KEY = "token"
TOKEN_ENV = "ISLAND_TOKEN"
_TOKEN = re.compile(r"[A-Za-z0-9_.~+/=-]{16,256}\Z")


def token_secret_name(island_id: int) -> str:
    """``island-ssh-token-<id>``: a DNS-1123 subdomain for every id the store hands out."""
    if isinstance(island_id, bool) or not isinstance(island_id, int) or island_id < 0:
        raise InvalidInput(f"island id: expected a whole number >= 0, got {island_id!r}")
    return f"{SECRET_PREFIX}{island_id}"


def island_id_of_secret(name: str) -> int | None:
    """The island id a Secret name of ours carries, or None for any other name."""
    rest = name[len(SECRET_PREFIX):] if isinstance(name, str) and name.startswith(SECRET_PREFIX) else ""
    return int(rest) if rest.isascii() and rest.isdigit() and len(rest) <= 10 else None


def token_env_for(island_id: int) -> dict:
    """``ISLAND_TOKEN`` from the island's Secret, resolved by the kubelet at container start."""
    return {"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": token_secret_name(island_id), "key": TOKEN_KEY}}}


def render_secret(island_id: int, generation: int, token: str, namespace: str, template: dict) -> dict:
    """The island's token Secret from ``template`` (yaml_templates/secret.yaml's data)."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise InvalidInput("token: expected 16..256 URL-safe characters (make it with secrets.token_urlsafe)")
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
        raise InvalidInput(f"generation: expected a whole number >= 1, got {generation!r}")
    secret = copy.deepcopy(template)
    meta = secret.setdefault("metadata", {})
    meta["name"] = token_secret_name(island_id)
    meta["namespace"] = namespace
    meta["labels"] = {**(meta.get("labels") or {}), "app": APP, ID_LABEL: str(island_id),
                      GENERATION_LABEL: str(generation), MANAGED_BY_LABEL: MANAGED_BY}
    secret.pop("stringData", None)
    secret["data"] = {TOKEN_KEY: base64.b64encode(token.encode("ascii")).decode("ascii")}
    return secret
