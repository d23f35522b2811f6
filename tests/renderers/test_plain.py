"""The plain renderer through ``renderers.api.render``: selection, order, Lists, and hostile input."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderers import plain, yamlio
from renderers.api import RenderRequest, render, render_in_process
from renderers.errors import RenderError


def cm(name: str, ns: str | None = None) -> str:
    meta = f"  name: {name}\n" + (f"  namespace: {ns}\n" if ns else "")
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n{meta}data:\n  k: v\n"


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def run(root: Path, path: str = "app", *, in_process: bool = False, **options: object
        ) -> list[dict[str, object]]:
    """As the engine renders (in a worker process), or ``in_process`` to see a monkeypatched module."""
    request = RenderRequest(root=root, path=path, renderer="plain", options=options)
    return render_in_process(request) if in_process else render(request)


def names(manifests: list[dict[str, object]]) -> list[str]:
    return [m["metadata"]["name"] for m in manifests]  # type: ignore[index]


def test_files_sorted_and_documents_in_order(tmp_path: Path) -> None:
    write(tmp_path, {"app/b.yaml": cm("b1") + "---\n" + cm("b2"), "app/a.yml": cm("a"),
                     "app/c.json": json.dumps(yamlio.load(cm("c"))), "app/notes.txt": "ignored",
                     "app/sub/d.yaml": cm("d"), "app/.hidden.yaml": cm("hidden")})
    assert names(run(tmp_path)) == ["a", "b1", "b2", "c"]


def test_recursive_include_exclude(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": cm("a"), "app/sub/d.yaml": cm("d"), "app/sub/skip.yaml": cm("s"),
                     "app/sub/deeper/e.yaml": cm("e")})
    assert names(run(tmp_path, recursive=True)) == ["a", "d", "e", "s"]
    assert names(run(tmp_path, recursive=True, exclude=["skip.yaml"])) == ["a", "d", "e"]
    assert names(run(tmp_path, recursive=True, include=["sub/*"])) == ["d", "e", "s"]
    assert names(run(tmp_path, recursive=True, include=["sub/*"], exclude=["sub/deeper/*"])) == ["d", "s"]


def test_list_kind_is_flattened(tmp_path: Path) -> None:
    items = [yamlio.load(cm("x")), yamlio.load(cm("y"))]
    doc = {"apiVersion": "v1", "kind": "List", "items": items}
    write(tmp_path, {"app/list.yaml": yamlio.dump_all([doc])})
    assert names(run(tmp_path)) == ["x", "y"]


def test_empty_directory_renders_nothing(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    assert run(tmp_path) == []


@pytest.mark.parametrize(("content", "field", "needle"), [
    ("kind: ConfigMap\nmetadata: {name: x}\n", "apiVersion", "non-empty string"),
    ("apiVersion: v1\nmetadata: {name: x}\n", "kind", "non-empty string"),
    ("apiVersion: v1\nkind: ConfigMap\n", "metadata", "metadata mapping"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: a}\n", "metadata.name", "missing"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 5}\n", "metadata.name", "int"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: {a: 1}}\n", "metadata.labels", "strings"),
])
def test_non_manifest_documents_name_file_index_and_field(tmp_path: Path, content: str, field: str,
                                                           needle: str) -> None:
    write(tmp_path, {"app/a.yaml": cm("ok") + "---\n" + content})
    with pytest.raises(RenderError) as err:
        run(tmp_path)
    assert err.value.path == "app/a.yaml#1" and err.value.field == field
    assert needle in err.value.message


def test_scalar_document_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": "just a string\n"})
    with pytest.raises(RenderError, match=r"app/a.yaml#0: document is a str"):
        run(tmp_path)


def test_duplicate_objects_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": cm("x", "ns"), "app/b.yaml": cm("x", "ns")})
    with pytest.raises(RenderError) as err:
        run(tmp_path)
    assert err.value.path == "app/b.yaml" and err.value.field == "metadata.name"
    assert "ConfigMap/ns/x is rendered more than once (first in app/a.yaml)" in err.value.message
    write(tmp_path, {"app/b.yaml": cm("x", "other")})
    assert len(run(tmp_path)) == 2
    write(tmp_path, {"app/b.yaml": cm("x", "other") + "---\n" + cm("x", "other")})
    with pytest.raises(RenderError, match=r"first in app/b\.yaml"):
        run(tmp_path)


def test_unknown_and_mistyped_options(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": cm("a")})
    with pytest.raises(RenderError) as err:
        run(tmp_path, recurse=True)
    assert err.value.field == "options.recurse" and "unknown plain option" in err.value.message
    with pytest.raises(RenderError, match=r"options.recursive"):
        run(tmp_path, recursive="yes")
    with pytest.raises(RenderError, match=r"options.include"):
        run(tmp_path, include={"a": 1})


# --- hostile input ---------------------------------------------------------------------------------

def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": cm("a") + "---\nkind: [unclosed\n"})
    with pytest.raises(RenderError) as err:
        run(tmp_path)
    assert err.value.path == "app/a.yaml" and err.value.line is not None and err.value.line >= 7


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.json": '{\n "apiVersion": "v1",\n "kind": \n}'})
    with pytest.raises(RenderError) as err:
        run(tmp_path)
    assert err.value.path == "app/a.json" and err.value.line == 4


def test_yaml_alias_bomb_is_rejected(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    write(tmp_path, {"app/bomb.yaml": "\n".join(lines) + "\n"})
    with pytest.raises(RenderError, match="alias bomb"):
        run(tmp_path)


def test_deeply_nested_json_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, {"app/deep.json": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(RenderError, match=r"app/deep\.json"):
        run(tmp_path)


def test_huge_file_is_rejected_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "app" / "huge.yaml"
    path.parent.mkdir()
    with path.open("wb") as handle:
        handle.truncate(yamlio.MAX_BYTES + 1)
    with pytest.raises(RenderError, match="over the limit"):
        run(tmp_path)


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"})
    with pytest.raises(RenderError, match=r"app/a.yaml.*(binary|UTF-8)"):
        run(tmp_path)


def test_total_budget_across_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {f"app/{i}.yaml": cm(f"c{i}") for i in range(5)})
    monkeypatch.setattr(plain, "MAX_TOTAL_BYTES", 200)
    with pytest.raises(RenderError, match="adds up to more than 200 bytes"):
        run(tmp_path, in_process=True)


def test_fifo_is_rejected_not_read(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    os.mkfifo(tmp_path / "app" / "pipe.yaml")
    with pytest.raises(RenderError, match="not a regular file"):
        run(tmp_path)


@pytest.mark.parametrize("path", ["../outside", "/etc", "app/../../outside", "~root", "app\\..\\x", "a\x00b"])
def test_application_path_traversal(tmp_path: Path, path: str) -> None:
    write(tmp_path, {"repo/app/a.yaml": cm("a"), "outside/b.yaml": cm("b")})
    with pytest.raises(RenderError) as err:
        run(tmp_path / "repo", path=path)
    assert err.value.field == "path"


def test_application_path_symlink_escape(tmp_path: Path) -> None:
    write(tmp_path, {"outside/b.yaml": cm("b"), "repo/x.yaml": ""})
    (tmp_path / "repo" / "app").symlink_to(tmp_path / "outside")
    with pytest.raises(RenderError, match="outside the repository"):
        run(tmp_path / "repo")


def test_symlinked_file_escaping_the_root_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"secret.yaml": cm("secret"), "repo/app/a.yaml": cm("a")})
    (tmp_path / "repo" / "app" / "b.yaml").symlink_to(tmp_path / "secret.yaml")
    with pytest.raises(RenderError) as err:
        run(tmp_path / "repo")
    assert err.value.path == "app/b.yaml" and "outside the repository" in err.value.message


def test_symlink_inside_the_root_is_followed(tmp_path: Path) -> None:
    write(tmp_path, {"shared/s.yaml": cm("shared"), "app/a.yaml": cm("a")})
    (tmp_path / "app" / "s.yaml").symlink_to(tmp_path / "shared" / "s.yaml")
    assert names(run(tmp_path)) == ["a", "shared"]


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "x.yaml").symlink_to(tmp_path / "app" / "y.yaml")
    (tmp_path / "app" / "y.yaml").symlink_to(tmp_path / "app" / "x.yaml")
    with pytest.raises(RenderError, match="cannot resolve"):
        run(tmp_path)


@pytest.mark.parametrize("glob", ["../*", "/etc/*", "a/../../*"])
def test_traversal_in_globs_is_rejected(tmp_path: Path, glob: str) -> None:
    write(tmp_path, {"app/a.yaml": cm("a")})
    with pytest.raises(RenderError) as err:
        run(tmp_path, include=[glob])
    assert err.value.field == "options.include[0]"


def test_too_many_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {f"app/{i}.yaml": cm(f"c{i}") for i in range(4)})
    monkeypatch.setattr(plain, "MAX_FILES", 3)
    with pytest.raises(RenderError, match="more than 3 files"):
        run(tmp_path, in_process=True)




@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\" \n\t#%@`,?")),
                                          max_size=200).map(str.encode))
def test_any_file_content_renders_or_raises_render_error(tmp_path: Path, data: bytes) -> None:
    write(tmp_path, {"app/a.yaml": data})
    try:
        run(tmp_path)
    except RenderError as err:
        assert err.path is not None and err.path.startswith("app/a.yaml")


def test_unreadable_subdirectory_fails_instead_of_being_skipped(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"app/a.yaml": cm("a"), "app/sub/b.yaml": cm("b")})
    real_scandir = os.scandir

    def scandir(path: object) -> object:  # what a directory without read permission does
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(RenderError) as err:
        run(tmp_path, recursive=True, in_process=True)
    assert err.value.path == "app/sub" and "Permission denied" in err.value.message


@pytest.mark.parametrize("text", ["a: &a [1, *a]\n", "&m {k: *m}\n", "x: &x\n  y: [*x]\n",
                                  "apiVersion: v1\nkind: List\nitems: &i [*i]\n"])
def test_recursive_yaml_alias_is_rejected_not_hung(tmp_path: Path, text: str,
                                                    forbid: Callable[..., list[str]]) -> None:
    write(tmp_path, {"app/a.yaml": text})
    with pytest.raises(RenderError) as err:
        run(tmp_path)  # as the engine renders, in a worker process
    assert err.value.path == "app/a.yaml" and "recursive YAML alias" in err.value.message
    assert err.value.line is not None
    # refused from the parser's events: nothing ever builds the cyclic value (or walks it forever)
    called = forbid((yaml, "load_all"), (yaml, "load"), (yaml, "compose_all"), (yaml, "compose"),
                    (yamlio, "count_nodes"), (yamlio, "tree_size"))
    with pytest.raises(RenderError) as again:
        run(tmp_path, in_process=True)
    assert called == [] and again.value.message == err.value.message


def test_shared_non_recursive_aliases_are_fine(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: &l {x: y}, annotations: *l}\n"
    write(tmp_path, {"app/a.yaml": text})
    meta = run(tmp_path)[0]["metadata"]
    assert meta["labels"] == {"x": "y"}  # the location annotations went to the annotations only
    assert meta["annotations"] == {"x": "y", **located("app/a.yaml", 0)}


def located(path: str, index: int) -> dict[str, str]:
    return {"internal.config.kubernetes.io/path": path, "internal.config.kubernetes.io/index": str(index)}


def test_each_manifest_says_which_file_and_document_it_came_from(tmp_path: Path) -> None:
    listed = ("apiVersion: v1\nkind: List\nitems:\n- " + cm("c").replace("\n", "\n  ").rstrip()
              + "\n- " + cm("d").replace("\n", "\n  ").rstrip() + "\n")
    write(tmp_path, {"app/a.yaml": cm("a") + "---\n" + cm("b") + "---\n" + listed,
                     "app/sub/e.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": '
                                       '{"name": "e", "annotations": {"keep": "me"}}}'})
    out = {m["metadata"]["name"]: m["metadata"]["annotations"] for m in run(tmp_path, recursive=True)}
    assert out == {"a": located("app/a.yaml", 0), "b": located("app/a.yaml", 1),
                   "c": located("app/a.yaml", 2), "d": located("app/a.yaml", 2),
                   "e": {"keep": "me", **located("app/sub/e.json", 0)}}
