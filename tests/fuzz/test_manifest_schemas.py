"""Every manifest island_ssh renders validates against the real Kubernetes JSON schemas
(PyPI's kubernetes-validate, strict: no unknown field) of the supported minor versions, also with
hostile input (the strategies of test_manifest_wire.py).

The sandbox accepts what its admission checks; a real API server checks the schema. This is where
a field name typo, a number sent as a string or a label value a real cluster refuses shows up.
kubernetes-validate carries the schemas from 1.25 on: 1.24 (the oldest kubectl supported) is
checked with 1.25's, whose Pod, PersistentVolume(Claim), Secret and RBAC types are the same.
"""

from __future__ import annotations

import base64
import os
import re
from functools import cache

import kubernetes_validate
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes_validate.utils import all_versions

from fuzz.test_manifest_wire import TOKEN, any_text, owner_text, render
from island_ssh.core.kubectl_versions import TESTED_MINORS
from island_ssh.core.manifests import render_pv, render_pvc
from island_ssh.resources import conf_file, load_template


@cache
def schema_versions() -> tuple[str, ...]:
    """For each tested kubectl minor, the schema version checked (the nearest one shipped)."""
    shipped = sorted({tuple(int(x) for x in re.findall(r"\d+", v)[:2]) for v in all_versions()})
    out = []
    for minor in TESTED_MINORS:
        nearest = next((v for v in shipped if v >= (1, minor)), shipped[-1])
        out.append(f"{nearest[0]}.{nearest[1]}.0")
    return tuple(dict.fromkeys(out))


VERSIONS = schema_versions()


def check(doc: dict, version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def rendered_pod(island_id: int = 7, owner: str = "刘电波", value: str = "x") -> dict:
    pod = render(island_id, owner, value)
    assert pod is not None
    return pod


def shipped_rbac() -> list[dict]:
    return [d for d in yaml.safe_load_all(conf_file("kubernetes", "rbac.yaml").read_text()) if d]


def rendered_secret(island_id: int = 7) -> dict | None:
    try:
        from island_ssh.core.token_secret import render_secret
    except ImportError:  # the Secret template lands with another change
        return None
    return render_secret(island_id, 1, TOKEN, "default", load_template("secret"))


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_manifest_is_valid(version):
    docs = [rendered_pod(), render_pv(load_template("pv"), "/home/server"), render_pvc(load_template("pvc"))]
    secret = rendered_secret()
    if secret is not None:
        docs.append(secret)
    if os.path.exists(conf_file("kubernetes", "rbac.yaml")):
        docs += shipped_rbac()
    kinds = [d["kind"] for d in docs]
    assert {"Pod", "PersistentVolume", "PersistentVolumeClaim"} <= set(kinds)
    for doc in docs:
        check(doc, version)


def test_the_check_catches_what_a_real_cluster_refuses():
    pod = rendered_pod()
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = "30021"  # a string where Kubernetes wants int
    with pytest.raises(kubernetes_validate.ValidationError):
        check(pod, VERSIONS[-1])
    typo = rendered_pod()
    typo["spec"]["restartPolicyy"] = "Never"  # strict: no unknown field
    with pytest.raises(kubernetes_validate.ValidationError):
        check(typo, VERSIONS[-1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(owner=owner_text | any_text, value=any_text, island_id=st.integers(1, 999),
       memory=st.sampled_from(["64Mi", "1500Mi", "2Gi", "512M"]))
def test_hostile_input_renders_valid_manifests_or_is_refused(owner, value, island_id, memory):
    pod = render(island_id, owner, value)
    if pod is None:
        return  # refused by validation, with InvalidInput
    for version in (VERSIONS[0], VERSIONS[-1]):
        check(pod, version)
    claim = render_pvc(load_template("pvc"), claim_name=f"claim-{island_id}")
    check(claim, VERSIONS[-1])
    secret = rendered_secret(island_id)
    if secret is not None:
        check(secret, VERSIONS[-1])
        assert base64.b64decode(secret["data"][next(iter(secret["data"]))]).decode() == TOKEN

