"""Pure parts of the API server: printers, selectors, patches, volumes, errors."""

from __future__ import annotations

import pytest

from island_sandbox import admission, tables, volumes
from island_sandbox.apierrors import ApiError
from island_sandbox.objects import ObjectStore
from island_sandbox.patches import apply_patch, strategic_merge
from island_sandbox.selectors import Selector, SelectorError


def pod_with(containers, phase="Running", deleting=False, conditions=()):
    meta = {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    return {"metadata": meta, "spec": {"containers": [{"name": n} for n, _ in containers]},
            "status": {"phase": phase, "conditions": list(conditions),
                       "containerStatuses": [{"name": n, "restartCount": 0, **s} for n, s in containers]}}


RUNNING_READY = {"ready": True, "state": {"running": {}}}


@pytest.mark.parametrize("containers,phase,deleting,expected", [
    ([("a", {"ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}})], "Pending", False,
     ("ContainerCreating", 0)),
    ([("a", RUNNING_READY), ("b", RUNNING_READY)], "Running", False, ("Running", 2)),
    ([("a", {"ready": False, "state": {"terminated": {"reason": "Error", "exitCode": 1}}}), ("b", RUNNING_READY)],
     "Running", False, ("Error", 1)),
    ([("a", {"ready": False, "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}})], "Failed", False,
     ("OOMKilled", 0)),
    ([("a", {"ready": False, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}})], "Succeeded",
     False, ("Completed", 0)),
    ([("a", {"ready": False, "state": {"terminated": {"exitCode": 2}}})], "Failed", False, ("ExitCode:2", 0)),
    ([("a", RUNNING_READY)], "Running", True, ("Terminating", 1)),
    ([("a", {"ready": False, "state": {"terminated": {"reason": "Error", "exitCode": 143}}})], "Failed", True,
     ("Error", 0)),
])
def test_pod_status_column(containers, phase, deleting, expected):
    reason, ready, total, _ = tables.pod_status_text(pod_with(containers, phase, deleting))
    assert (reason, ready) == expected and total == len(containers)


def test_completed_with_a_running_sidecar_reads_running_or_notready():
    done = ("a", {"ready": False, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}})
    ready_cond = [{"type": "Ready", "status": "True"}]
    assert tables.pod_status_text(pod_with([done, ("b", RUNNING_READY)]))[0] == "NotReady"
    assert tables.pod_status_text(pod_with([done, ("b", RUNNING_READY)], conditions=ready_cond))[0] == "Running"


@pytest.mark.parametrize("seconds,text", [(5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"),
                                          (4 * 3600 + 60, "4h1m"), (30 * 3600, "30h"), (3 * 86400, "3d"),
                                          (3 * 86400 + 3600, "3d1h"), (-5, "<invalid>")])
def test_human_duration(seconds, text):
    assert tables.human_duration(seconds) == text


def test_table_has_default_and_wide_columns():
    table = tables.render_table("pods", [pod_with([("a", RUNNING_READY)])], 1767225660.0, "7")
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == \
        ["Name", "Ready", "Status", "Restarts", "Age"]
    assert table["rows"][0]["cells"][:5] == ["p", "1/1", "Running", "0", "60s"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


@pytest.mark.parametrize("text,labels,expected", [
    ("a=b", {"a": "b"}, True), ("a==b", {"a": "c"}, False), ("a!=b", {}, True),
    ("a in (x, y),c", {"a": "y", "c": "1"}, True), ("a notin (x)", {"a": "x"}, False),
    ("!a", {"a": "1"}, False), ("app.kubernetes.io/name=island", {"app.kubernetes.io/name": "island"}, True),
])
def test_label_selector(text, labels, expected):
    assert Selector.parse(text, None).matches({"metadata": {"labels": labels}}) is expected


def test_field_selector_and_errors():
    obj = {"metadata": {"name": "p", "namespace": "default"}, "spec": {"nodeName": "n1"}}
    assert Selector.parse(None, "metadata.name=p,spec.nodeName!=n2").matches(obj)
    assert not Selector.parse(None, "metadata.name==q").matches(obj)
    with pytest.raises(SelectorError):
        Selector.parse("a in (x", None)


def test_strategic_merge_by_merge_keys_and_directives():
    current = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]},
               "metadata": {"labels": {"x": "1", "y": "2"}}}
    patch = {"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}],
                      "$setElementOrder/containers": [{"name": "b"}]},
             "metadata": {"labels": {"y": None, "z": "3"}}}
    result = strategic_merge(current, patch)
    assert result == {"spec": {"containers": [{"name": "b", "image": "2"}]}, "metadata": {"labels": {"x": "1", "z": "3"}}}


def test_json_and_merge_patch_and_unknown_type():
    doc = {"metadata": {"labels": {"a": "1"}}}
    assert apply_patch("application/json-patch+json", doc,
                       [{"op": "replace", "path": "/metadata/labels/a", "value": "2"}])["metadata"]["labels"] == {"a": "2"}
    assert apply_patch("application/merge-patch+json", doc, {"metadata": {"labels": None}}) == {"metadata": {}}
    with pytest.raises(ApiError) as e:
        apply_patch("application/apply-patch+yaml", doc, {})
    assert e.value.code == 415


def test_store_history_and_expiry():
    store = ObjectStore(history=2)
    for i in range(3):
        store.create("pods", {"metadata": {"name": f"p{i}", "namespace": "default"}})
    watcher, backlog = store.watch("pods", "default", 1)
    assert [e.obj["metadata"]["name"] for e in backlog] == ["p1", "p2"]
    with pytest.raises(ApiError) as e:
        store.watch("pods", None, 0)
    assert (e.value.code, e.value.reason) == (410, "Expired")


def test_pod_validation_messages():
    with pytest.raises(ApiError) as e:
        admission.validate_pod({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "a",
                                                                                                "image": "x"}]}})
    assert e.value.message == ('Pod "p" is invalid: [spec.containers[0].image: Required value, '
                               'spec.containers[1].name: Duplicate value: "a"]')
    assert e.value.code == 422 and e.value.details["causes"][0]["field"] == "spec.containers[0].image"


def test_volume_binding_picks_smallest_fitting_volume():
    claim = {"metadata": {"name": "c", "namespace": "default"},
             "spec": {"storageClassName": "manual", "accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "8Gi"}}}}
    def pv(name, size, cls="manual"):
        return {"metadata": {"name": name}, "status": {"phase": "Available"},
                "spec": {"storageClassName": cls, "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                         "hostPath": {"path": f"/data/{name}"}}}
    chosen = volumes.choose_volume(claim, [pv("big", "100Gi"), pv("small", "4Gi"), pv("fit", "10Gi"),
                                           pv("other", "10Gi", "fast")])
    assert chosen["metadata"]["name"] == "fit"
    new_pv, new_claim = volumes.bind(chosen, claim)
    assert new_claim["status"]["phase"] == "Bound" and new_claim["spec"]["volumeName"] == "fit"
    pod = {"spec": {"volumes": [{"name": "code", "persistentVolumeClaim": {"claimName": "c"}}, {"name": "tmp", "emptyDir": {}}]}}
    assert volumes.host_paths(pod, {"c": new_claim}, {"fit": new_pv}) == {"code": __import__("pathlib").Path("/data/fit"),
                                                                          "tmp": None}
