"""ValueAddTransformer helpers: Go's ``filesys.InsertPathPart`` and the field path escapes.
(Whole builds with kubectl's output are the cases ``cases/valueadd-*``.)"""

from __future__ import annotations

import pytest

from renderers.kustomize.plugins import _insert_path_part, _path_split, _value_path


@pytest.mark.parametrize(("path", "pos", "want"), [
    ("", 0, "PEACH"), ("/", 0, "/PEACH"), ("pie", 0, "PEACH/pie"), ("/pie", 0, "/PEACH/pie"),
    ("pie", -3, "PEACH/pie"), ("raw", 1, "raw/PEACH"), ("/raw", 1, "/raw/PEACH"),
    ("raw", 9999, "raw/PEACH"), ("a/nice/warm/pie", 3, "a/nice/warm/PEACH/pie"),
    ("/a/nice/warm/pie", 3, "/a/nice/warm/PEACH/pie"), ("a//b", 1, "a/PEACH/b"),
])
def test_insert_path_part(path: str, pos: int, want: str) -> None:
    assert _insert_path_part(path, pos, "PEACH") == want


def test_path_split_keeps_go_parts() -> None:
    assert _path_split("a//b") == ["a", "", "b"]
    assert _path_split("//a") == ["", "a"]
    assert _path_split("/a/") == ["", "a", ""]
    assert _path_split("x/" * 5000 + "y")[-1] == "y"  # no recursion limit


def test_field_path_escapes_slash() -> None:
    assert _value_path(r"metadata/labels/example.org\/team") == ["metadata", "labels", "example.org/team"]
    assert _value_path("spec/a") == ["spec", "a"]
