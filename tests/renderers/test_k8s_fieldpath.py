"""Field paths, field sets and the FieldsV1 codec: SMD's order, strings and set algebra."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.k8s.errors import InvalidObject
from renderers.k8s.fieldpath import FieldSet, Path, PathElement, make_path, path_string
from renderers.k8s.fieldsv1 import decode, encode
from renderers.k8s.values import equals, go_json, order_key

F, K, V, IX = PathElement.field, PathElement.key, PathElement.value, PathElement.index


def test_path_strings_match_kubernetes_conflict_paths() -> None:
    assert path_string(make_path("spec", "replicas")) == ".spec.replicas"
    containers = (*make_path("spec", "template", "spec", "containers"), K({"name": "nginx"}), F("image"))
    assert path_string(containers) == '.spec.template.spec.containers[name="nginx"].image'
    port = K({"protocol": "TCP", "containerPort": 80})
    assert str(port) == '[containerPort=80,protocol="TCP"]'
    assert str(V("a")) == '[="a"]' and str(V(5)) == "[=5]" and str(IX(0)) == "[0]"
    assert str(V(1.5)) == "[=1.5]" and str(V(True)) == "[=true]"


def test_serialized_elements_match_fields_v1() -> None:
    key = K({"protocol": "TCP", "containerPort": 80})
    assert key.serialize() == 'k:{"containerPort":80,"protocol":"TCP"}'
    assert V("a<b").serialize() == 'v:"a\\u003cb"'
    assert F("f:odd").serialize() == "f:f:odd" and IX(3).serialize() == "i:3"


def test_encoding_order_is_smds_not_alphabetical() -> None:
    s = FieldSet.of((F("b"),), (F("a"), F("x")), (F("a"),), (V("z"),), (K({"name": "n"}),), (IX(1),))
    out = encode(s)
    assert list(out) == ["f:a", "f:b", 'k:{"name":"n"}', 'v:"z"', "i:1"]
    assert list(out["f:a"]) == [".", "f:x"]


def test_numbers_compare_across_int_and_float_but_not_bool() -> None:
    assert V(1) == V(1.0) and hash(V(1)) == hash(V(1.0))
    assert V(1) != V(True)
    assert equals(1, 1.0) and not equals(1, True) and not equals(0, False)
    assert order_key(2) < order_key("a") < order_key(True) < order_key([1]) < order_key({}) < order_key(None)


def test_go_json_matches_encoding_json() -> None:
    assert go_json({"b": 3.0, "a": "<&>"}) == '{"a":"\\u003c\\u0026\\u003e","b":3}'
    assert go_json(1e-7) == "1e-7" and go_json(1e21) == "1e+21" and go_json(0.5) == "0.5"


def test_decode_reads_kubernetes_fields_v1() -> None:
    raw = {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
           "f:spec": {"f:containers": {'k:{"name":"nginx"}': {".": {}, "f:image": {}}}},
           "x:unknown": {}}
    s = decode(raw)
    assert s.has(make_path("metadata", "labels")) and s.has(make_path("metadata", "labels", "app"))
    assert s.has((*make_path("spec", "containers"), K({"name": "nginx"}), F("image")))
    assert encode(s) == {k: v for k, v in raw.items() if not k.startswith("x:")}


@pytest.mark.parametrize("bad", [
    [], "f:spec", {"f:spec": []}, {"q": {}}, {"fx": {}}, {"k:[1]": {}}, {"k:{bad": {}}, {"i:x": {}},
])
def test_malformed_fields_v1_is_invalid(bad: Any) -> None:
    with pytest.raises(InvalidObject):
        decode(bad)


def test_deep_fields_v1_is_rejected() -> None:
    deep: dict[str, Any] = {}
    for _ in range(400):
        deep = {"f:a": deep}
    with pytest.raises(InvalidObject, match="nested deeper"):
        decode(deep)


elements = st.one_of(st.sampled_from(["a", "b", "c"]).map(F), st.sampled_from([0, 1]).map(IX),
                     st.sampled_from(["x", 1, True]).map(V),
                     st.sampled_from([{"name": "n"}, {"name": "m", "port": 80}]).map(K))
paths = st.lists(elements, min_size=1, max_size=4).map(tuple)
path_sets = st.frozensets(paths, max_size=8)
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None)


def build(paths: frozenset[Path]) -> FieldSet:
    return FieldSet.of(*paths)


@SETTINGS
@given(a=path_sets, b=path_sets)
def test_set_algebra_matches_sets_of_paths(a: frozenset[Path], b: frozenset[Path]) -> None:
    sa, sb = build(a), build(b)
    assert set(sa.union(sb)) == a | b
    assert set(sa.intersection(sb)) == a & b
    assert set(sa.difference(sb)) == a - b
    covered = {p for p in a if any(p[:n] in b for n in range(1, len(p) + 1))}
    assert set(sa.recursive_difference(sb)) == a - covered
    assert set(sa.leaves()) == {p for p in a if not any(q != p and q[:len(p)] == p for q in a)}
    assert sa.empty() == (not a)


@SETTINGS
@given(a=path_sets)
def test_fields_v1_round_trips(a: frozenset[Path]) -> None:
    s = build(a)
    assert decode(encode(s)) == s
    assert encode(decode(encode(s))) == encode(s)
