"""Differential tests: our SMD port against the real structured-merge-diff (``ssaoracle``).

Hypothesis generates sequences of applies (with and without force) and updates by three managers
over Deployments, Services, ConfigMaps and a custom resource; after every step the object, the
conflicts and every manager's FieldsV1 must equal the oracle's. Both sides run independent chains
(each is fed its own previous result). Bounded and derandomized so CI sees the same examples.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubesandbox.ssa import ApplyConflict, InvalidObject, apply_patch, crd, record_update, updater
from kubesandbox.ssa.managed import STRIP, Entry
from kubesandbox.ssa.typed import drop_nulls
from renderers.k8s.fieldsv1 import decode, encode
from renderers.k8s.schema import TypeNode, root_for

MANAGERS = ("alice", "bob", "carol")
# SSA_ORACLE_EXAMPLES=2000 for a longer bug hunt; SSA_ORACLE_RANDOM=1 for fresh (non-derandomized) examples.
SCALE = int(os.environ.get("SSA_ORACLE_EXAMPLES", "120"))
DERANDOMIZE = not os.environ.get("SSA_ORACLE_RANDOM")
EXAMPLES = settings(max_examples=SCALE, deadline=None, derandomize=DERANDOMIZE, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

small = st.sampled_from
labels = st.dictionaries(small(["a", "b", "c"]), small(["x", "y"]), max_size=3)


def _unique(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    seen, out = set(), []
    for item in items:
        k = tuple(item.get(key) for key in keys)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def _optional(d: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict drawing each entry's presence independently."""
    return st.fixed_dictionaries({}, optional=d)


ports = st.lists(st.fixed_dictionaries({"containerPort": small([80, 443]), "protocol": small(["TCP", "UDP"])},
                                       optional={"name": small(["http", "alt"])}), max_size=3)
env = st.lists(st.fixed_dictionaries({"name": small(["A", "B", "C"])}, optional={"value": small(["1", "2"])}),
               max_size=3)
container = st.fixed_dictionaries({"name": small(["web", "side"])}, optional={
    "image": small(["img:1", "img:2"]), "ports": ports.map(lambda p: _unique(p, "containerPort", "protocol")),
    "env": env.map(lambda e: _unique(e, "name")), "args": st.lists(small(["-v", "-q"]), max_size=2)})
deployment_spec = _optional({
    "replicas": small([1, 2, 3, None]), "minReadySeconds": small([0, 5]), "paused": st.booleans(),
    "template": _optional({"metadata": _optional({"labels": labels}),
                           "spec": _optional({"containers": st.lists(container, max_size=2).map(
                               lambda c: _unique(c, "name"))})})})
service_ports = st.lists(st.fixed_dictionaries(
    {"port": small([80, 443]), "protocol": small(["TCP", "UDP"])},
    optional={"targetPort": small([8080, "http", 8443]), "name": small(["a", "b"])}), max_size=3)
service_spec = _optional({"ports": service_ports.map(lambda p: _unique(p, "port", "protocol")),
                          "selector": labels, "type": small(["ClusterIP", "NodePort"])})
free_form: st.SearchStrategy[Any] = st.recursive(
    st.one_of(small([1, 2, "s", True, None])),
    lambda inner: st.one_of(st.lists(inner, max_size=2),
                            st.dictionaries(small(["p", "q"]), inner, max_size=2)),
    max_leaves=5)
widget_spec = _optional({
    "size": small([1, 2]), "tags": st.lists(small(["t1", "t2", "t3"]), max_size=3, unique=True),
    "items": st.lists(st.fixed_dictionaries({"name": small(["i", "j"])}, optional={"value": small([1, 2])}),
                      max_size=2).map(lambda i: _unique(i, "name")),
    "config": st.dictionaries(small(["p", "q", "r"]), free_form, max_size=2),
    "selector": labels, "port": small([80, "http"])})

WIDGET_CRD = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "size": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                             "value": {"type": "integer"}}}},
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "selector": {"type": "object", "additionalProperties": {"type": "string"},
                     "x-kubernetes-map-type": "atomic"},
        "port": {"x-kubernetes-int-or-string": True}}},
    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}

KINDS: dict[str, tuple[str, str, str, st.SearchStrategy[Any], str]] = {
    # name: (apiVersion, kind, SMD type name, strategy for the body, body field)
    "deployment": ("apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment", deployment_spec, "spec"),
    "service": ("v1", "Service", "io.k8s.api.core.v1.Service", service_spec, "spec"),
    "configmap": ("v1", "ConfigMap", "io.k8s.api.core.v1.ConfigMap",
                  st.dictionaries(small(["a", "b", "c", "d"]), small(["1", "2", None]), max_size=4), "data"),
    "widget": ("example.com/v1", "Widget", "com.example.v1.Widget", widget_spec, "spec"),
}


def body(kind: str, draw_labels: dict[str, str] | None, content: Any) -> dict[str, Any]:
    api_version, k, _, _, field = KINDS[kind]
    meta: dict[str, Any] = {"name": "obj"}
    if draw_labels:
        meta["labels"] = draw_labels
    out = {"apiVersion": api_version, "kind": k, "metadata": meta}
    if content:
        out[field] = content
    return out


def steps(kind: str) -> st.SearchStrategy[list[tuple[str, str, bool, dict[str, Any]]]]:
    content = KINDS[kind][3]
    step = st.tuples(small(MANAGERS), small(["apply", "apply", "update"]), st.booleans(),
                     st.builds(lambda lb, c: body(kind, lb, c), st.one_of(st.none(), labels), content))
    return st.lists(step, min_size=1, max_size=5)


def smd_schema_for_widget() -> list[dict[str, Any]]:
    """The custom resource's schema in SMD's format, written independently of our converter."""
    meta = {"namedType": "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    item = {"name": "com.example.v1.WidgetItem", "map": {"fields": [
        {"name": "name", "type": {"scalar": "string"}}, {"name": "value", "type": {"scalar": "numeric"}}]}}
    spec = {"name": "com.example.v1.WidgetSpec", "map": {"fields": [
        {"name": "config", "type": {"map": {"elementType": {"namedType": "__untyped_deduced_"}}}},
        {"name": "items", "type": {"list": {"elementType": {"namedType": "com.example.v1.WidgetItem"},
                                            "elementRelationship": "associative", "keys": ["name"]}}},
        {"name": "port", "type": {"scalar": "untyped"}},
        {"name": "selector", "type": {"map": {"elementType": {"scalar": "string"},
                                              "elementRelationship": "atomic"}}},
        {"name": "size", "type": {"scalar": "numeric"}},
        {"name": "tags", "type": {"list": {"elementType": {"scalar": "string"},
                                           "elementRelationship": "associative"}}}]}}
    status = {"name": "com.example.v1.WidgetStatus", "map": {"fields": [
        {"name": "ready", "type": {"scalar": "boolean"}}]}}
    root = {"name": "com.example.v1.Widget", "map": {"fields": [
        {"name": "apiVersion", "type": {"scalar": "string"}}, {"name": "kind", "type": {"scalar": "string"}},
        {"name": "metadata", "type": meta}, {"name": "spec", "type": {"namedType": spec["name"]}},
        {"name": "status", "type": {"namedType": status["name"]}}]}}
    return [item, spec, status, root]


def node_for(kind: str) -> TypeNode:
    if kind == "widget":
        return crd.from_openapi_v3(WIDGET_CRD)
    return root_for(KINDS[kind][0], KINDS[kind][1])


def ours_to_oracle(managers: updater.Managers) -> list[dict[str, Any]]:
    return [{"manager": m, "applied": o.applied, "fields": encode(o.fields)} for m, o in managers.items()]


def normalized(managed: list[dict[str, Any]]) -> dict[str, tuple[bool, str]]:
    """Manager -> (applied, canonical FieldsV1 text) for comparing sets regardless of key order."""
    return {e["manager"]: (e["applied"], json.dumps(encode(decode(e["fields"])), sort_keys=True))
            for e in managed}


def assert_same_conflicts(ours: list[tuple[str, str]], theirs: list[dict[str, str]], where: str) -> None:
    """Equal conflicts, allowing for SMD v4.1.2's aliasing bug in ``ConflictsFromManagers``.

    v4.1.2 collects paths from ``Set.Iterate``, which reuses one backing array, so sibling conflicts
    under one prefix all print as the last sibling (``[.a.y, .a.y]`` for ``[.a.x, .a.y]``). We report
    the true paths; the count per manager and every path the oracle names must still agree.
    """
    theirs_pairs = [(c["manager"], c["path"]) for c in theirs]
    assert sorted(m for m, _ in ours) == sorted(m for m, _ in theirs_pairs), where
    assert set(theirs_pairs) <= set(ours), where


def run_sequence(oracle: Any, kind: str, seq: list[tuple[str, str, bool, dict[str, Any]]]) -> None:
    type_name, node = KINDS[kind][2], node_for(kind)
    live_ours: Any = None
    ours: updater.Managers = {}
    live_theirs: Any = None
    theirs: list[dict[str, Any]] = []
    for i, (manager, op, force, config) in enumerate(seq):
        answer = oracle.run(type_name, live=live_theirs, config=config, managed=theirs, manager=manager,
                            op=op, force=force)
        assert "error" not in answer, (i, answer)
        where = f"step {i}: {manager} {op} force={force} {json.dumps(config)}"
        try:
            if op == "apply":
                new, ours = updater.apply(live_ours or {}, config, node, ours, manager, force=force)
                live_ours = new if new is not None else (live_ours or {})
            else:
                live_ours, ours, _ = updater.update(live_ours or {}, config, node, ours, manager)
        except updater.Conflicts as exc:
            assert_same_conflicts(exc.items, answer.get("conflicts") or [], where)
            assert len(set(exc.items)) == len(exc.items), where
            continue
        assert "conflicts" not in answer, (where, answer)
        live_theirs, theirs = answer["object"], answer["managed"] or []
        assert all(encode(decode(e["fields"])) == e["fields"] for e in theirs), where  # FieldsV1 round trip
        assert live_ours == live_theirs, where
        assert normalized(ours_to_oracle(ours)) == normalized(theirs), where


@pytest.fixture(scope="module")
def widget_oracle(oracle: Any) -> Any:
    oracle.add_types(smd_schema_for_widget())
    return oracle


@EXAMPLES
@given(seq=steps("deployment"))
def test_deployments_match_smd(oracle: Any, seq: list[Any]) -> None:
    run_sequence(oracle, "deployment", seq)


@EXAMPLES
@given(seq=steps("service"))
def test_services_match_smd(oracle: Any, seq: list[Any]) -> None:
    run_sequence(oracle, "service", seq)


@EXAMPLES
@given(seq=steps("configmap"))
def test_configmaps_match_smd(oracle: Any, seq: list[Any]) -> None:
    run_sequence(oracle, "configmap", seq)


@EXAMPLES
@given(seq=steps("widget"))
def test_custom_resources_match_smd(widget_oracle: Any, seq: list[Any]) -> None:
    run_sequence(widget_oracle, "widget", seq)


def stripped(managed: list[dict[str, Any]], ident: str) -> list[dict[str, Any]]:
    """The apiserver's stripMetaManager on the acting manager's entry."""
    out = []
    for e in managed:
        fields = decode(e["fields"])
        if e["manager"] == ident:
            fields = fields.difference(STRIP)
        if not fields.empty():
            out.append({**e, "fields": encode(fields)})
    return out


def before_first_apply(oracle: Any, type_name: str, live: Any) -> list[dict[str, Any]]:
    """The apiserver's skipNonAppliedManager: an unmanaged object is first owned by an Update."""
    ident = Entry("before-first-apply", "Update", live["apiVersion"]).ident()
    answer = oracle.run(type_name, live=None, config=live, managed=[], manager=ident, op="update")
    return stripped(answer["managed"] or [], ident)


def run_api_sequence(oracle: Any, kind: str, seq: list[tuple[str, str, bool, dict[str, Any]]]) -> None:
    """apply_patch/record_update against the oracle plus the apiserver's meta stripping."""
    type_name = KINDS[kind][2]
    schema = node_for(kind) if kind == "widget" else None
    obj: dict[str, Any] | None = None
    live_theirs: Any = None
    theirs: list[dict[str, Any]] = []
    for i, (manager, op, force, config) in enumerate(seq):
        api_version = config["apiVersion"]
        ident = Entry(manager, "Apply" if op == "apply" else "Update",
                      "" if op == "apply" else api_version).ident()
        if op == "apply" and live_theirs is not None and not theirs:
            theirs = before_first_apply(oracle, type_name, live_theirs)
        answer = oracle.run(type_name, live=live_theirs, config=config, managed=theirs, manager=ident,
                            op=op, force=force)
        where = f"step {i}: {manager} {op} force={force} {json.dumps(config)}"
        try:
            if op == "apply":
                obj = apply_patch(obj, config, manager, force=force, now=f"t{i}", schema=schema)
            else:
                obj = record_update(obj, config, manager, now=f"t{i}", schema=schema)
        except ApplyConflict as exc:
            expected = [{**c, "manager": Entry.parse(c["manager"]).manager}
                        for c in answer.get("conflicts") or []]
            assert_same_conflicts(exc.conflicts, expected, where)
            continue
        assert "conflicts" not in answer, (where, answer)
        # The apiserver stores typed objects (no nulls at typed positions); the next request sees that.
        stored = live_theirs = drop_nulls(answer["object"], node_for(kind))
        theirs = stripped(answer["managed"] or [], ident)
        mine = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
        assert mine == stored, where
        got = {Entry(e["manager"], e["operation"], "" if e["operation"] == "Apply" else e["apiVersion"],
                     e.get("subresource", "")).ident(): {"applied": e["operation"] == "Apply",
                                                         "fields": e["fieldsV1"]}
               for e in obj["metadata"].get("managedFields", [])}
        assert normalized([{"manager": k, **v} for k, v in got.items()]) == normalized(theirs), where


@settings(max_examples=max(1, SCALE * 2 // 3), deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=small(["deployment", "configmap", "service", "widget"]), data=st.data())
def test_apply_patch_and_record_update_match_the_apiserver(widget_oracle: Any, kind: str,
                                                           data: st.DataObject) -> None:
    run_api_sequence(widget_oracle, kind, data.draw(steps(kind)))


def _dep(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": spec}


def _containers(*items: Any) -> dict[str, Any]:
    return {"template": {"spec": {"containers": list(items)}}}


INVALID = [
    _dep({"replicas": "three"}),
    _dep({"replicas": True}),
    _dep({"bogus": 1}),
    _dep(_containers({"name": "a"}, {"name": "a"})),
    _dep(_containers({"image": "no-name"})),
    _dep(_containers("not-a-map")),
    _dep(_containers(None)),
    _dep({"template": {"spec": {"containers": {"name": "a"}}}}),
    _dep({"template": ["x"]}),
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a", "a"]}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": [{"x": 1}]}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": 1}}},
]


@pytest.mark.parametrize("config", INVALID, ids=range(len(INVALID)))
def test_invalid_configs_are_rejected_by_both(oracle: Any, config: dict[str, Any]) -> None:
    type_name = KINDS["deployment" if config["kind"] == "Deployment" else "configmap"][2]
    answer = oracle.run(type_name, live=None, config=config, managed=[], manager="m", op="apply")
    assert "error" in answer, answer
    with pytest.raises(InvalidObject):
        updater.apply({}, config, root_for(config["apiVersion"], config["kind"]), {}, "m", force=False)
    with pytest.raises(InvalidObject):
        apply_patch(None, config, "m", now="t")
