"""Behaviour pinned from the Kubernetes server-side apply documentation (no oracle needed)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubesandbox.ssa import ApplyConflict, InvalidObject, apply_patch, record_update


def deployment(replicas: int | None = 1, image: str = "nginx:1.14.2", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {"metadata": {"labels": {"app": "nginx"}},
                     "spec": {"containers": [{"name": "nginx", "image": image,
                                              "ports": [{"containerPort": 80}]}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    spec.update(extra)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx-deployment", "namespace": "default"}, "spec": spec}


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"]["managedFields"]}


def test_create_by_apply_owns_every_applied_field_but_server_metadata() -> None:
    obj = apply_patch(None, deployment(), "kubectl", now="2026-01-01T00:00:00Z")
    [entry] = obj["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl" and entry["operation"] == "Apply"
    assert entry["apiVersion"] == "apps/v1" and entry["fieldsType"] == "FieldsV1"
    assert entry["time"] == "2026-01-01T00:00:00Z"
    fields = entry["fieldsV1"]
    assert "f:apiVersion" not in fields and "f:kind" not in fields and "f:metadata" not in fields
    assert fields["f:spec"]["f:replicas"] == {}
    assert fields["f:spec"]["f:selector"] == {}  # LabelSelector is an atomic struct
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert container["."] == {} and container["f:image"] == {}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in container["f:ports"]


def test_conflict_then_force_transfers_replicas() -> None:
    obj = apply_patch(None, deployment(replicas=3), "alice", now="t1")
    with pytest.raises(ApplyConflict) as info:
        apply_patch(obj, deployment(replicas=5), "bob", now="t2")
    assert info.value.conflicts == [("alice", ".spec.replicas")]
    assert 'conflict with "alice": .spec.replicas' in str(info.value)
    forced = apply_patch(obj, deployment(replicas=5), "bob", force=True, now="t2")
    assert forced["spec"]["replicas"] == 5
    owners = entries(forced)
    assert "f:replicas" not in owners[("alice", "Apply")]["fieldsV1"]["f:spec"]
    assert owners[("bob", "Apply")]["fieldsV1"]["f:spec"]["f:replicas"] == {}


def test_same_value_is_shared_not_conflicting() -> None:
    obj = apply_patch(None, deployment(replicas=3), "alice", now="t1")
    shared = apply_patch(obj, deployment(replicas=3), "bob", now="t2")
    owners = entries(shared)
    assert owners[("alice", "Apply")]["fieldsV1"]["f:spec"]["f:replicas"] == {}
    assert owners[("bob", "Apply")]["fieldsV1"]["f:spec"]["f:replicas"] == {}


def test_image_conflict_path_uses_the_list_key() -> None:
    obj = apply_patch(None, deployment(), "alice", now="t1")
    with pytest.raises(ApplyConflict) as info:
        apply_patch(obj, deployment(image="nginx:1.16"), "bob", now="t2")
    assert ("alice", '.spec.template.spec.containers[name="nginx"].image') in info.value.conflicts


def test_update_takes_ownership_and_apply_conflicts_with_it() -> None:
    obj = apply_patch(None, deployment(replicas=3), "kubectl", now="t1")
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 7
    scaled = record_update(obj, scaled, "hpa-controller", now="t2")
    owners = entries(scaled)
    assert owners[("hpa-controller", "Update")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owners[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    with pytest.raises(ApplyConflict) as info:
        apply_patch(scaled, deployment(replicas=3), "kubectl", now="t3")
    assert info.value.conflicts == [("hpa-controller", ".spec.replicas")]
    assert "using apps/v1" in str(info.value)


def test_handing_replicas_to_a_controller_by_dropping_them() -> None:
    # The documented way: the HPA owns replicas too (same value), then the applier stops applying them.
    obj = apply_patch(None, deployment(replicas=3), "kubectl", now="t1")
    obj = apply_patch(obj, {"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "nginx-deployment"}, "spec": {"replicas": 3}},
                      "handover-to-hpa", now="t2")
    obj = apply_patch(obj, deployment(replicas=None), "kubectl", now="t3")
    assert obj["spec"]["replicas"] == 3  # still owned by the other manager: not pruned
    owners = entries(obj)
    assert "f:replicas" not in owners[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    assert owners[("handover-to-hpa", "Apply")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


def test_fields_no_longer_applied_are_removed_when_nobody_else_owns_them() -> None:
    obj = apply_patch(None, deployment(replicas=3, minReadySeconds=5), "kubectl", now="t1")
    obj = apply_patch(obj, deployment(replicas=3), "kubectl", now="t2")
    assert "minReadySeconds" not in obj["spec"]


def test_removing_a_list_item_keeps_items_of_other_managers() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    obj = apply_patch(None, cm, "alice", now="t1")
    obj = apply_patch(obj, {**cm, "data": {"c": "3"}}, "bob", now="t2")
    obj = apply_patch(obj, {**cm, "data": {"a": "1"}}, "alice", now="t3")
    assert obj["data"] == {"a": "1", "c": "3"}


def test_status_is_ignored_by_apply_to_the_main_resource() -> None:
    applied = deployment()
    applied["status"] = {"replicas": 9}
    obj = apply_patch(None, applied, "kubectl", now="t1")
    assert "status" not in obj
    assert "f:status" not in obj["metadata"]["managedFields"][0]["fieldsV1"]


def test_status_subresource_update_owns_status_only() -> None:
    obj = apply_patch(None, deployment(), "kubectl", now="t1")
    new = copy.deepcopy(obj)
    new["status"] = {"replicas": 1}
    new["spec"]["replicas"] = 42
    out = record_update(obj, new, "deployment-controller", subresource="status", now="t2")
    assert out["status"] == {"replicas": 1} and out["spec"]["replicas"] == 1
    owner = entries(out)[("deployment-controller", "Update")]
    assert owner["subresource"] == "status"
    assert owner["fieldsV1"] == {"f:status": {".": {}, "f:replicas": {}}}


def test_create_by_update_owns_everything_set() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"x": "y"}},
          "data": {"a": "1"}}
    out = record_update(None, cm, "kubectl-create", now="t1")
    [entry] = out["metadata"]["managedFields"]
    assert entry["operation"] == "Update"
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}},
                                 "f:metadata": {"f:labels": {".": {}, "f:x": {}}}}


def test_object_without_managed_fields_gets_before_first_apply() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    with pytest.raises(ApplyConflict) as info:
        apply_patch(cm, {**cm, "data": {"a": "2"}}, "kubectl", now="t1")
    assert info.value.conflicts == [("before-first-apply", ".data.a")]


def test_reset_managed_fields_with_an_empty_entry() -> None:
    obj = apply_patch(None, deployment(), "kubectl", now="t1")
    cleared = copy.deepcopy(obj)
    cleared["metadata"]["managedFields"] = [{}]
    out = record_update(obj, cleared, "kubectl-edit", now="t2")
    assert "managedFields" not in out["metadata"]


def test_unchanged_apply_keeps_the_time() -> None:
    obj = apply_patch(None, deployment(), "kubectl", now="t1")
    again = apply_patch(obj, deployment(), "kubectl", now="t2")
    assert again["metadata"]["managedFields"][0]["time"] == "t1"
    assert again == obj


def test_inputs_are_not_modified() -> None:
    applied = deployment()
    before = copy.deepcopy(applied)
    obj = apply_patch(None, applied, "kubectl", now="t1")
    snapshot = copy.deepcopy(obj)
    apply_patch(obj, deployment(replicas=4), "kubectl", now="t2")
    assert applied == before and obj == snapshot


@pytest.mark.parametrize("body, path", [
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": ["a"]}, ".data"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}}, ".data.a"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "bogus": 1}, ".bogus"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": ["c"]}, ".metadata"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": [{"a": 1}]}},
     ".metadata.finalizers"),
    ({"kind": "ConfigMap", "metadata": {"name": "c"}}, ".apiVersion"),
])
def test_invalid_bodies_name_the_field(body: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidObject) as info:
        apply_patch(None, body, "m", now="t")
    assert info.value.path == path
    assert isinstance(info.value, ValueError)


def test_duplicate_keys_in_an_applied_list_are_rejected() -> None:
    d = deployment()
    containers = d["spec"]["template"]["spec"]["containers"]
    containers.append(dict(containers[0]))
    with pytest.raises(InvalidObject, match='duplicate entries for key \\[name="nginx"\\]') as info:
        apply_patch(None, d, "m", now="t")
    assert info.value.path == ".spec.template.spec.containers"


@pytest.mark.parametrize("body", [None, [], "x", 3, {"apiVersion": 1, "kind": "ConfigMap"}])
def test_non_object_bodies_are_invalid(body: Any) -> None:
    with pytest.raises(InvalidObject):
        apply_patch(None, body, "m", now="t")
    with pytest.raises(InvalidObject):
        record_update(None, body, "m", now="t")


def test_applied_managed_fields_are_rejected() -> None:
    d = deployment()
    d["metadata"]["managedFields"] = [{"manager": "x"}]
    with pytest.raises(InvalidObject, match="managed fields must be nil"):
        apply_patch(None, d, "m", now="t")


def test_deeply_nested_free_form_data_is_rejected_not_crashing() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"a": deep}
    crd_obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
               "annotations": {"x": "y"}}, "data": {"a": "b"}}
    ext = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": deep}
    with pytest.raises(InvalidObject, match="nested deeper"):
        apply_patch(None, ext, "m", now="t")
    assert apply_patch(None, crd_obj, "m", now="t")["data"] == {"a": "b"}


def test_more_than_ten_update_managers_fold_into_ancient_changes() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    obj = record_update(None, cm, "creator", now="2026-01-01T00:00:00Z")
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        obj = record_update(obj, new, f"writer-{i:02d}", now=f"2026-01-01T00:00:{i + 1:02d}Z")
    names = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(names) == 10 and "ancient-changes" in names
    assert "writer-00" not in names and "writer-11" in names
    ancient = next(e for e in obj["metadata"]["managedFields"] if e["manager"] == "ancient-changes")
    assert set(ancient["fieldsV1"]["f:data"]) >= {"f:k0", "f:k1"}


def test_forged_managed_fields_in_an_update_fall_back_to_the_live_ones() -> None:
    obj = apply_patch(None, deployment(), "kubectl", now="t1")
    forged = copy.deepcopy(obj)
    forged["metadata"]["managedFields"] = [{"manager": "x", "operation": "Steal", "fieldsV1": []}]
    out = record_update(obj, forged, "editor", now="t2")
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["kubectl"]


def test_subresource_writes_cannot_rewrite_managed_fields() -> None:
    obj = apply_patch(None, deployment(), "kubectl", now="t1")
    new = copy.deepcopy(obj)
    new["metadata"]["managedFields"] = [{}]
    new["status"] = {"replicas": 1}
    out = record_update(obj, new, "controller", subresource="status", now="t2")
    assert {e["manager"] for e in out["metadata"]["managedFields"]} == {"kubectl", "controller"}


def test_corrupt_live_managed_fields_are_reported_on_apply() -> None:
    obj = apply_patch(None, deployment(), "kubectl", now="t1")
    obj["metadata"]["managedFields"][0]["fieldsV1"] = {"f:spec": "oops"}
    with pytest.raises(InvalidObject, match="managedFields"):
        apply_patch(obj, deployment(), "kubectl", now="t2")


def test_upgrading_from_client_side_apply_needs_force_then_owns_the_fields() -> None:
    created = record_update(None, deployment(replicas=2), "kubectl-client-side-apply", now="t1")
    with pytest.raises(ApplyConflict) as info:
        apply_patch(created, deployment(replicas=2, image="nginx:1.16"), "kubectl", now="t2")
    assert info.value.conflicts == [("kubectl-client-side-apply",
                                     '.spec.template.spec.containers[name="nginx"].image')]
    assert 'conflict with "kubectl-client-side-apply" using apps/v1' in str(info.value)
    moved = apply_patch(created, deployment(replicas=2, image="nginx:1.16"), "kubectl", force=True, now="t2")
    owners = entries(moved)
    container = 'k:{"name":"nginx"}'
    assert "f:image" in owners[("kubectl", "Apply")]["fieldsV1"]["f:spec"]["f:template"]["f:spec"][
        "f:containers"][container]
    csa = owners[("kubectl-client-side-apply", "Update")]["fieldsV1"]
    assert "f:image" not in csa["f:spec"]["f:template"]["f:spec"]["f:containers"][container]
    # Same-valued fields stay shared: replicas is owned by both managers now.
    assert "f:replicas" in csa["f:spec"]
    assert "f:replicas" in owners[("kubectl", "Apply")]["fieldsV1"]["f:spec"]


def test_applying_an_empty_configuration_releases_and_removes_everything_owned() -> None:
    obj = apply_patch(None, deployment(replicas=3), "kubectl", now="t1")
    empty = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx-deployment"}}
    out = apply_patch(obj, empty, "kubectl", now="t2")
    assert "spec" not in out and "managedFields" not in out["metadata"]
    assert out["metadata"]["name"] == "nginx-deployment" and out["metadata"]["namespace"] == "default"


def test_apply_cannot_change_the_kind() -> None:
    obj = apply_patch(None, deployment(), "kubectl", now="t1")
    other = {**deployment(), "kind": "StatefulSet"}
    with pytest.raises(InvalidObject) as info:
        apply_patch(obj, other, "kubectl", now="t2")
    assert info.value.path == ".kind"
