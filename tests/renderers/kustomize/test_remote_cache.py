"""Remote bases behind local bases: the base cache is keyed on what determines the result (the
remote URL and the snapshot it resolved to), never on the identity of the loader object."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from renderers.errors import RenderError
from renderers.kustomize import KustomizeOptions, build

Tree = Callable[[dict[str, str | bytes]], Path]
URL = "https://git.example.com/org/bases.git//web?ref=main"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  commit: {commit}\n"


class Snapshots:
    """A remote loader whose answer moves when the remote repository gets a new commit."""

    def __init__(self, current: Path) -> None:
        self.current = current
        self.calls = 0

    def __call__(self, url: str) -> Path:
        assert url == URL
        self.calls += 1
        return self.current


def _commits(tree: Tree) -> Path:
    return tree({
        "remote/c1/web/kustomization.yaml": "resources: [cm.yaml]\n",
        "remote/c1/web/cm.yaml": CM.format(commit="one"),
        "remote/c2/web/kustomization.yaml": "resources: [cm.yaml]\n",
        "remote/c2/web/cm.yaml": CM.format(commit="two"),
        "repo/base/kustomization.yaml": f"resources:\n- {URL}\n",
        "repo/app/kustomization.yaml": "resources: [../base]\nnamePrefix: app-\n",
    })


def test_new_commit_of_a_remote_base_behind_a_local_base_is_rendered(tree: Tree) -> None:
    root = _commits(tree)
    loader = Snapshots(root / "remote/c1/web")
    options = KustomizeOptions(root=root / "repo", remote_loader=loader)
    assert build(root / "repo/app", options)[0]["data"] == {"commit": "one"}
    loader.current = root / "remote/c2/web"  # the remote moved on; same loader object (same id())
    assert build(root / "repo/app", options)[0]["data"] == {"commit": "two"}


def test_a_fresh_loader_for_the_same_commit_reuses_the_cached_base(tree: Tree) -> None:
    root = _commits(tree)
    first = Snapshots(root / "remote/c1/web")
    build(root / "repo/app", KustomizeOptions(root=root / "repo", remote_loader=first))
    second = Snapshots(root / "remote/c1/web")
    out = build(root / "repo/app", KustomizeOptions(root=root / "repo", remote_loader=second))
    assert out[0]["data"] == {"commit": "one"} and second.calls == 1


def test_a_cached_base_with_a_remote_is_not_reused_without_a_remote_loader(tree: Tree) -> None:
    root = _commits(tree)
    loader = Snapshots(root / "remote/c1/web")
    build(root / "repo/app", KustomizeOptions(root=root / "repo", remote_loader=loader))
    with pytest.raises(RenderError, match="remote loader"):
        build(root / "repo/app", KustomizeOptions(root=root / "repo"))


def test_remote_bases_resolve_through_the_callers_loader_across_the_process_boundary(tree: Tree) -> None:
    from renderers.api import RenderRequest, render

    root = _commits(tree)
    request = RenderRequest(root=root / "repo", path="app", renderer="kustomize",
                            remote_loader=Snapshots(root / "remote/c1/web"))
    assert render(request)[0]["data"] == {"commit": "one"}
    moved = Snapshots(root / "remote/c2/web")  # a new loader object per reconcile, as the engine makes
    out = render(RenderRequest(root=root / "repo", path="app", renderer="kustomize", remote_loader=moved))
    assert out[0]["data"] == {"commit": "two"} and moved.calls == 1


def test_a_remote_loader_failure_keeps_its_message_and_cause(tree: Tree) -> None:
    from renderers.api import RenderRequest, render

    root = _commits(tree)

    def offline(url: str) -> Path:
        raise TimeoutError(f"fetching {url} timed out")

    with pytest.raises(RenderError, match=r"cannot load remote resource .* timed out") as err:
        render(RenderRequest(root=root / "repo", path="app", renderer="kustomize", remote_loader=offline))
    assert isinstance(err.value.__cause__, TimeoutError)


SECRET_URL = "https://deploy:SECRET1@git.example.com/org/bases.git//web?ref=main&private_token=SECRET2#SECRET3"


@pytest.mark.parametrize("echo", [None, "echo"])
def test_a_remote_base_is_quoted_without_its_credentials(tree: Tree, echo: str | None) -> None:
    from renderers.api import RenderRequest, render

    root = tree({"repo/app/kustomization.yaml": f"resources:\n- {SECRET_URL}\n"})

    def echoing(url: str) -> Path:
        raise TimeoutError(f"fetching {url} timed out")

    with pytest.raises(RenderError) as err:
        render(RenderRequest(root=root / "repo", path="app", renderer="kustomize",
                             remote_loader=echoing if echo else None))
    assert "SECRET" not in str(err.value) and "SECRET" not in (err.value.path or "")
    assert "git.example.com/org/bases.git//web?ref=main" in str(err.value)


@pytest.mark.parametrize(("ref", "shown"), [
    ("https://tok@host/org/r.git//b?ref=v1", "https://***@host/org/r.git//b?ref=v1"),
    ("git::https://u:p@host/r//b?version=v2&timeout=9s&submodules=false",
     "git::https://***@host/r//b?version=v2&timeout=9s&submodules=false"),
    ("ssh://git@host/org/r.git//b?ref=main", "ssh://git@host/org/r.git//b?ref=main"),
    ("ssh://git:pw@host/r.git", "ssh://***@host/r.git"),
    ("git@github.com:org/r.git//b?ref=v1", "git@github.com:org/r.git//b?ref=v1"),
    ("github.com/org/r//b?ref=v1&key=s3cr3t", "github.com/org/r//b?ref=v1&key=***"),
    ("u:pw@example.com/org/r.git//b", "***@example.com/org/r.git//b"),
    ("https://host/r.git?s3cr3t", "https://host/r.git?***"),
])
def test_shown_ref_masks_userinfo_query_values_and_fragments(ref: str, shown: str) -> None:
    from renderers.kustomize.loader import shown_ref

    assert shown_ref(ref) == shown


def test_engine_locations_name_the_file_and_document_also_inside_a_remote_base(tree: Tree) -> None:
    secret_url = "https://deploy:s3cret@git.example.com/org/bases.git//web?ref=main&token=s3cret"
    root = tree({
        "remote/web/kustomization.yaml": ("resources: [cms.yaml]\n"
                                          "configMapGenerator: [{name: g, literals: [k=v]}]\n"),
        "remote/web/cms.yaml": (CM.format(commit="one").replace("web", "r0") + "---\n"
                                "apiVersion: v1\nkind: List\nitems:\n"
                                "- {apiVersion: v1, kind: ConfigMap, metadata: {name: r1}}\n"
                                "- {apiVersion: v1, kind: ConfigMap, metadata: {name: r2}}\n"),
        "repo/app/kustomization.yaml": f"resources:\n- local.yaml\n- {secret_url}\n",
        "repo/app/local.yaml": CM.format(commit="x").replace("web", "l0") + "---\n"
                               + CM.format(commit="y").replace("web", "l1"),
    })
    options = KustomizeOptions(root=root / "repo", remote_loader=lambda url: root / "remote/web")
    located = build(root / "repo/app", dataclasses.replace(options, locations=True))
    out = {m["metadata"]["name"]: m["metadata"]["annotations"] for m in located}
    path, index = "internal.config.kubernetes.io/path", "internal.config.kubernetes.io/index"
    base = "https://***@git.example.com/org/bases.git//web/{file}?ref=main&token=***"
    assert {name: (a[path], a.get(index)) for name, a in out.items()} == {
        "l0": ("app/local.yaml", "0"), "l1": ("app/local.yaml", "1"),
        "r0": (base.format(file="cms.yaml"), "0"),
        "r1": (base.format(file="cms.yaml"), "1"), "r2": (base.format(file="cms.yaml"), "1"),
        "g-bdg947hgcc": (base.format(file="kustomization.yaml"), None)}
    assert "s3cret" not in repr(out)
    kubectl = build(root / "repo/app", options)  # what kubectl kustomize prints: no locations
    assert all("annotations" not in m["metadata"] for m in kubectl)
