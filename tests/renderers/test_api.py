"""``renderers.api.render``: dispatch, the root and path boundary, and the common output checks."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from renderers.api import (
    RENDERERS,
    RendererKind,
    RenderRequest,
    cluster_parameters,
    render,
    render_in_process,
)
from renderers.errors import RenderError

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_every_renderer_name_is_dispatched() -> None:
    assert set(RENDERERS) == {r.value for r in RendererKind} == {"kustomize", "jinja", "plain", "helm"}


def test_request_is_frozen(tmp_path: Path) -> None:
    request = RenderRequest(root=tmp_path, path="app", renderer="plain")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.path = "other"  # type: ignore[misc]


def test_same_directory_through_plain_and_jinja(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": CM.format(name="a")})
    for renderer in ("plain", "jinja", RendererKind.PLAIN):
        out = render(RenderRequest(root=tmp_path, path="app", renderer=renderer))
        located = {"internal.config.kubernetes.io/path": "app/a.yaml",
                   "internal.config.kubernetes.io/index": "0"}
        meta = {"name": "a", "annotations": located}
        assert out == [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}]


def test_kustomize_objects_say_which_file_they_came_from_but_kubectl_output_does_not(tmp_path: Path) -> None:
    from renderers.api import build_kustomization

    write(tmp_path, {"base/kustomization.yaml": "resources: [a.yaml]\n", "base/a.yaml": CM.format(name="a"),
                     "app/kustomization.yaml": ("resources: [../base, b.yaml]\n"
                                                "configMapGenerator: [{name: g, literals: [k=v]}]\n"),
                     "app/b.yaml": CM.format(name="b") + "---\n" + CM.format(name="c")})
    out = render(RenderRequest(root=tmp_path, path="app", renderer="kustomize",
                               options={"load_restrictor": "None"}))
    where = {m["metadata"]["name"]: m["metadata"]["annotations"] for m in out}
    path, index = "internal.config.kubernetes.io/path", "internal.config.kubernetes.io/index"
    assert {name: a[path] for name, a in where.items()} == {
        "a": "base/a.yaml", "b": "app/b.yaml", "c": "app/b.yaml", "g-bdg947hgcc": "app/kustomization.yaml"}
    assert {name: a.get(index) for name, a in where.items()} == {  # a generated object: no document
        "a": "0", "b": "0", "c": "1", "g-bdg947hgcc": None}
    plain = build_kustomization(tmp_path / "app", "None")
    assert all("annotations" not in m["metadata"] for m in plain)


def test_root_path_dot_and_empty_mean_the_root(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": CM.format(name="a")})
    for path in (".", ""):
        assert len(render(RenderRequest(root=tmp_path, path=path, renderer="plain"))) == 1


def test_unknown_renderer(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as err:
        render(RenderRequest(root=tmp_path, path=".", renderer="ksonnet"))
    assert err.value.field == "renderer"
    assert "ksonnet" in err.value.message and "kustomize" in err.value.message


def test_missing_root_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as err:
        render(RenderRequest(root=tmp_path / "gone", path=".", renderer="plain"))
    assert err.value.field == "root"
    with pytest.raises(RenderError) as err:
        render(RenderRequest(root=tmp_path, path="nope", renderer="plain"))
    assert err.value.field == "path" and "does not exist" in err.value.message


def test_relative_root_is_relative_to_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"repo/app/a.yaml": CM.format(name="a")})
    monkeypatch.chdir(tmp_path)
    assert len(render(RenderRequest(root=Path("repo"), path="app", renderer="plain"))) == 1


def test_path_to_a_file_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": CM.format(name="a")})
    with pytest.raises(RenderError, match="not a directory"):
        render(RenderRequest(root=tmp_path, path="a.yaml", renderer="plain"))


def test_root_reached_through_a_symlink_still_works(tmp_path: Path) -> None:
    write(tmp_path, {"real/app/a.yaml": CM.format(name="a")})
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert len(render(RenderRequest(root=tmp_path / "link", path="app", renderer="plain"))) == 1


def test_parameters_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as err:
        render(RenderRequest(root=tmp_path, path=".", renderer="jinja", parameters=["x"]))  # type: ignore[arg-type]
    assert err.value.field == "parameters"


def test_options_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as err:
        render(RenderRequest(root=tmp_path, path=".", renderer="plain", options=["x"]))  # type: ignore[arg-type]
    assert err.value.field == "options"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file_is_a_render_error(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": CM.format(name="a")})
    (tmp_path / "a.yaml").chmod(0)
    with pytest.raises(RenderError, match=r"a.yaml.*cannot read"):
        render(RenderRequest(root=tmp_path, path=".", renderer="plain"))


def test_cluster_parameters_reserved_keys_win() -> None:
    params = cluster_parameters(cluster="east", labels={"env": "prod"}, application="web", namespace="apps",
                                parameters={"replicas": 2, "cluster": "forged", "namespace": "kube-system"})
    assert params == {"replicas": 2, "cluster": {"name": "east", "labels": {"env": "prod"}},
                      "application": "web", "namespace": "apps"}


def test_kustomize_options_are_checked_before_dispatch(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as err:
        render(RenderRequest(root=tmp_path, path=".", renderer="kustomize", options={"helm": True}))
    assert err.value.field == "options.helm"
    with pytest.raises(RenderError) as err:
        render(RenderRequest(root=tmp_path, path=".", renderer="kustomize",
                             options={"load_restrictor": "Anything"}))
    assert err.value.field == "options.load_restrictor"


def _kustomize_available() -> bool:
    try:
        from renderers.kustomize import KustomizeOptions, build  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _kustomize_available(), reason="renderers.kustomize not written yet")
def test_kustomize_dispatch(tmp_path: Path) -> None:
    write(tmp_path, {"app/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: p-\n",
                     "app/cm.yaml": CM.format(name="a")})
    out = render(RenderRequest(root=tmp_path, path="app", renderer="kustomize"))
    assert [m["metadata"]["name"] for m in out] == ["p-a"]


@pytest.mark.skipif(not _kustomize_available(), reason="renderers.kustomize not written yet")
def test_kustomize_cannot_load_outside_the_snapshot(tmp_path: Path) -> None:
    write(tmp_path, {"outside/cm.yaml": CM.format(name="x"),
                     "repo/app/kustomization.yaml": "resources: [../../outside/cm.yaml]\n"})
    with pytest.raises(RenderError):
        render(RenderRequest(root=tmp_path / "repo", path="app", renderer="kustomize",
                             options={"load_restrictor": "None"}))


@pytest.mark.skipif(not _kustomize_available(), reason="renderers.kustomize not written yet")
def test_kustomize_load_restrictor_none_reaches_the_snapshot_but_no_further(tmp_path: Path) -> None:
    generator = "configMapGenerator:\n- name: g\n  files: [{}]\n"
    write(tmp_path, {"outside/cm.yaml": CM.format(name="y"), "repo/shared/cm.yaml": CM.format(name="x"),
                     "repo/app/kustomization.yaml": generator.format("../shared/cm.yaml")})
    root = tmp_path / "repo"
    lifted = {"load_restrictor": "None"}
    with pytest.raises(RenderError):
        render(RenderRequest(root=root, path="app", renderer="kustomize"))
    out = render(RenderRequest(root=root, path="app", renderer="kustomize", options=lifted))
    assert out[0]["kind"] == "ConfigMap" and out[0]["metadata"]["name"].startswith("g-")
    (root / "app" / "kustomization.yaml").write_text(generator.format("../../outside/cm.yaml"))
    with pytest.raises(RenderError, match="outside"):
        render(RenderRequest(root=root, path="app", renderer="kustomize", options=lifted))


def test_unexpected_renderer_exception_leaves_as_render_error(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> list[dict[str, object]]:
        raise KeyError("bug")

    monkeypatch.setitem(RENDERERS, "plain", broken)
    with pytest.raises(RenderError, match="plain renderer failed: KeyError") as err:
        render_in_process(RenderRequest(root=tmp_path, path=".", renderer="plain"))
    assert isinstance(err.value.__cause__, KeyError)
