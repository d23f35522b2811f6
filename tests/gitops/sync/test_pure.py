"""Ordering, managedFields reading, normalisation, field comparison (pure helpers)."""

from __future__ import annotations

from typing import Any

from gitops import keys
from gitops.plan import managed
from gitops.plan.fields import compare, truncate
from gitops.plan.normalize import contains, mask, normalize
from gitops.plan.ordering import Stage, deletion_order, plan_steps, stage_of
from renderers.k8s import fieldpath, jsonpointer
from renderers.k8s.fieldpath import PathElement, make_path
from renderers.k8s.schema import root_for


def m(api: str, kind: str, name: str, ns: str | None = None, wave: int | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    if wave is not None:
        meta["annotations"] = {keys.SYNC_WAVE: str(wave)}
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def test_stages_and_kind_order() -> None:
    objs = [
        m("apps/v1", "Deployment", "web", "ns"),
        m("v1", "Service", "web", "ns"),
        m("example.com/v1", "Widget", "w", "ns"),
        m("v1", "Namespace", "ns"),
        m("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
        m("rbac.authorization.k8s.io/v1", "ClusterRole", "r"),
        m("v1", "ConfigMap", "c", "ns"),
    ]
    steps = plan_steps(objs)
    assert [s.stage for s in steps] == [Stage.DEFINITIONS, Stage.CLUSTER, Stage.NAMESPACED]
    assert [o["kind"] for o in steps[0].objects] == ["Namespace", "CustomResourceDefinition"]
    assert steps[0].wait and not steps[2].wait
    assert [o["kind"] for o in steps[2].objects] == ["ConfigMap", "Service", "Deployment", "Widget"]
    assert [o["kind"] for o in deletion_order(objs)][-1] == "Namespace"


def test_waves_come_before_stages() -> None:
    objs = [
        m("v1", "ConfigMap", "late", "ns", wave=5),
        m("v1", "ConfigMap", "early", "ns", wave=-1),
        m("v1", "Namespace", "ns2", wave=5),
        m("v1", "ConfigMap", "mid", "ns"),
    ]
    steps = plan_steps(objs)
    assert [(s.wave, [o["metadata"]["name"] for o in s.objects]) for s in steps] == [
        (-1, ["early"]),
        (0, ["mid"]),
        (5, ["ns2"]),
        (5, ["late"]),
    ]


def test_malformed_wave_counts_as_zero_and_unknown_scope_uses_namespace() -> None:
    bad = m("v1", "ConfigMap", "x", "ns")
    bad["metadata"]["annotations"] = {keys.SYNC_WAVE: "soon; rm -rf /"}
    assert plan_steps([bad])[0].wave == 0
    assert stage_of(m("example.com/v1", "Cluster", "c")) is Stage.CLUSTER
    assert stage_of(m("example.com/v1", "Widget", "w", "ns")) is Stage.NAMESPACED


WEB = PathElement.key({"name": "web"})
FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}}}}},
    },
}


def test_fields_v1_decode_and_owner_lookup() -> None:
    paths = managed.decode(FIELDS)
    assert make_path("spec", "replicas") in paths
    assert (*make_path("spec", "template", "spec", "containers"), WEB) in paths
    owned = managed.owners(
        [
            {"manager": "gitops", "fieldsV1": FIELDS},
            {"manager": "kubectl-edit", "fieldsV1": {"f:spec": {"f:paused": {}}}},
            "garbage",
            {"manager": "x", "fieldsV1": "not a map"},
        ]
    )
    assert managed.owner_of(make_path("spec", "replicas"), owned) == "gitops"
    assert managed.owner_of(make_path("spec", "paused"), owned) == "kubectl-edit"
    assert (
        managed.owner_of(make_path("spec", "template", "spec", "containers", WEB, "image"), owned)
        == "gitops"
    )
    assert managed.owner_of(make_path("spec", "nothing"), owned) is None
    path = make_path("spec", "containers", WEB, "image")
    assert managed.display(path) == '.spec.containers[name="web"].image'



def test_remove_paths_from_desired() -> None:
    obj = {"spec": {"replicas": 3, "containers": [{"name": "web", "image": "a"}, {"name": "x"}]}}
    assert fieldpath.remove(obj, make_path("spec", "replicas"))
    assert fieldpath.remove(obj, make_path("spec", "containers", WEB, "image"))
    assert not fieldpath.remove(obj, make_path("spec", "missing"))
    assert obj == {"spec": {"containers": [{"name": "web"}, {"name": "x"}]}}


def test_normalize_strips_noise_and_masks_secrets() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "status": {"x": 1},
        "data": {"password": "aHVudGVyMg=="},
        "metadata": {
            "name": "s",
            "uid": "u",
            "resourceVersion": "9",
            "managedFields": [],
            "annotations": {keys.APPLIED_HASH: "h"},
        },
    }
    out = normalize(live)
    assert out["metadata"] == {"name": "s"} and "status" not in out
    assert "aHVudGVyMg==" not in str(out)
    assert out["data"]["password"] == mask("aHVudGVyMg==") != mask("other")
    assert live["data"]["password"] == "aHVudGVyMg=="  # the input is untouched


def test_remove_pointer_and_contains() -> None:
    obj = {"spec": {"a/b": 1, "list": [1, 2, 3]}}
    assert jsonpointer.remove(obj, "/spec/a~1b") and jsonpointer.remove(obj, "/spec/list/1")
    assert not jsonpointer.remove(obj, "/spec/none") and not jsonpointer.remove(obj, "nope")
    assert obj == {"spec": {"list": [1, 3]}}
    assert contains({"a": 1, "b": [{"x": 1, "y": 2}], "extra": True}, {"a": 1, "b": [{"x": 1}]})
    assert not contains({"a": 1}, {"a": 2})
    assert not contains({"a": [1, 2]}, {"a": [1]})
    assert not contains({"a": True}, {"a": 1})


def test_compare_matches_keyed_list_elements() -> None:
    node = root_for("apps/v1", "Deployment")

    def dep(image: str, replicas: int) -> dict[str, Any]:
        return {
            "spec": {
                "replicas": replicas,
                "template": {
                    "spec": {"containers": [{"name": "side", "image": "s"}, {"name": "web", "image": image}]}
                },
            }
        }

    diffs = compare(dep("a", 1), dep("b", 2), node)
    assert [(managed.display(p), a, b) for p, a, b in diffs] == [
        (".spec.replicas", 1, 2),
        ('.spec.template.spec.containers[name="web"].image', "a", "b"),
    ]
    assert compare(dep("a", 1), dep("a", 1), node) == []
    assert compare({"x": None}, {}, node) == []  # the API server drops nulls: absent and null agree


def test_truncate_huge_values() -> None:
    out = truncate({"v": "x" * 100_000, "l": ["y" * 600]}, 100)
    assert len(out["v"]) < 200 and "99900 more characters" in out["v"]
    assert out["l"][0].startswith("y" * 100)


def test_secret_string_data_matches_its_stored_form() -> None:
    from gitops.plan.normalize import stored_form

    desired = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"pw": "x"},
        "data": {"other": "eQ=="},
    }
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "uid": "1"},
        "type": "Opaque",
        "data": {"pw": "eA==", "other": "eQ=="},
    }
    assert not contains(live, desired) and contains(live, stored_form(desired))
    assert stored_form(live) is live and "stringData" in desired


def test_pmap_keeps_order_and_propagates_errors() -> None:
    import threading

    import pytest

    from gitops.cluster.parallel import pmap

    seen: set[str] = set()
    finished: list[int] = []
    done = {x: threading.Event() for x in range(5)}

    def last_first(x: int) -> int:  # each call finishes only after the next one did: 4, 3, 2, 1, 0
        seen.add(threading.current_thread().name)
        if x < 4:
            assert done[x + 1].wait(10), f"call {x + 1} never finished: the calls do not run concurrently"
        finished.append(x)
        done[x].set()
        return x * 10

    assert pmap(last_first, [0, 1, 2, 3, 4], workers=5) == [0, 10, 20, 30, 40]
    assert finished == [4, 3, 2, 1, 0] and len(seen) == 5  # all in flight at once, answers in input order
    assert pmap(lambda x: x * 10, [1, 2], workers=1) == [10, 20]

    def boom(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    with pytest.raises(ValueError, match="two"):
        pmap(boom, [1, 2, 3])


def test_truncate_caps_collections_and_depth() -> None:
    out = truncate({"items": list(range(1000)), "map": {str(i): i for i in range(500)}})
    assert len(out["items"]) == 101 and out["items"][-1] == "... (900 more items)"
    assert len(out["map"]) == 101 and out["map"]["..."] == "(400 more keys)"
    deep: Any = "leaf"
    for _ in range(200):
        deep = [deep]
    assert "nested too deeply" in str(truncate(deep))


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def test_compare_properties() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
    values = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=12,
    )
    node = root_for("apps/v1", "Deployment")

    @settings(max_examples=200, deadline=None)
    @given(values, values)
    def check(a: Any, b: Any) -> None:
        assert compare(a, a, node) == []
        assert (compare(a, b, node) == []) == (drop_nulls(a) == drop_nulls(b))  # null == absent
        assert contains(a, a)

    check()


def test_atomic_list_elements_differing_only_by_nulls_are_equal() -> None:
    """Found by the property above: a null map entry inside an atomic list is not a difference."""
    node = root_for("apps/v1", "Deployment")
    assert compare([{"a": False}, {}, {}], [{"a": False}, {}, {"a": None}], node) == []
    assert compare([{"a": False}], [{"a": True}], node) != []
