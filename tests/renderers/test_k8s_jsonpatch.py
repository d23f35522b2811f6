"""JSON pointers and JSON patch (renderers.k8s): the one implementation Kustomize, the sandbox and
the engine's ignore rules share."""

from __future__ import annotations

from typing import Any

import pytest

from renderers.k8s import jsonpatch, jsonpointer


def test_pointer_tokens_unescape_and_validate() -> None:
    assert jsonpointer.tokens("") == [] and jsonpointer.tokens("/a~1b/c~0d") == ["a/b", "c~d"]
    for bad in ("a/b", None, 3):
        with pytest.raises(jsonpointer.PointerError):
            jsonpointer.tokens(bad)
    assert jsonpointer.validate("/spec/replicas") == "/spec/replicas"
    with pytest.raises(jsonpointer.PointerError, match="starts with '/'"):
        jsonpointer.validate("spec")
    with pytest.raises(jsonpointer.PointerError, match="followed by 0 or 1"):
        jsonpointer.validate("/a~2")


def test_remove_is_lenient() -> None:
    obj: dict[str, Any] = {"spec": {"list": [1, 2, 3]}}
    assert jsonpointer.remove(obj, "/spec/list/0") and obj == {"spec": {"list": [2, 3]}}
    for nowhere in ("/spec/list/9", "/spec/list/01", "/nope/x", "", "spec"):
        assert not jsonpointer.remove(obj, nowhere)


def test_patch_applies_every_operation_to_a_copy() -> None:
    doc = {"a": {"b": [1, 2]}, "c": 1}
    ops = [{"op": "add", "path": "/a/b/-", "value": 3}, {"op": "replace", "path": "/c", "value": 2},
           {"op": "copy", "from": "/c", "path": "/d"}, {"op": "move", "from": "/a/b", "path": "/e"},
           {"op": "remove", "path": "/a"}, {"op": "test", "path": "/e/2", "value": 3}]
    assert jsonpatch.apply(doc, ops) == {"c": 2, "d": 2, "e": [1, 2, 3]}
    assert doc == {"a": {"b": [1, 2]}, "c": 1}
    assert jsonpatch.apply(doc, [{"op": "remove", "path": "/c"}], in_place=True) is doc and doc == {
        "a": {"b": [1, 2]}}


@pytest.mark.parametrize(("op", "field", "malformed"), [
    ({"op": "jump", "path": "/a"}, "op", True),
    ("not an operation", "op", True),
    ({"op": "add", "path": "a"}, "path", True),
    ({"op": "add", "path": "/a"}, "value", True),
    ({"op": "move", "path": "/a"}, "from", True),
    ({"op": "remove", "path": "/missing"}, "path", False),
    ({"op": "add", "path": "/x/y", "value": 1}, "path", False),
    ({"op": "replace", "path": "/a/5", "value": 1}, "path", False),
    ({"op": "remove", "path": ""}, "path", False),
    ({"op": "test", "path": "/a/0", "value": 9}, "value", False),
])
def test_patch_errors_say_which_operation_and_whether_it_is_malformed(op: Any, field: str,
                                                                      malformed: bool) -> None:
    with pytest.raises(jsonpatch.PatchError) as info:
        jsonpatch.apply({"a": [1]}, [{"op": "test", "path": "/a/0", "value": 1}, op])
    assert (info.value.op, info.value.field, info.value.malformed) == (1, field, malformed)
