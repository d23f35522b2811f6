"""Kustomize remote bases resolved through the engine's Git source, served over loopback HTTP."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gitops.engine import GitSourcePort, RenderersPort
from gitops.errors import GitOpsError, InputError, UnsafeSource
from gitops.sources import GitSource
from gitops.sources.remote_bases import RemoteBase, RemoteBaseLoader, parse
from renderers.errors import RenderError

BASE_FILES = {
    "base/kustomization.yaml": "resources: [cm.yaml]\ncommonLabels: {tier: base}\n",
    "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n",
}


GH, EX = "https://github.com/org/repo", "https://example.com/org/repo"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://github.com/org/repo//deploy/base?ref=v1.0.6", RemoteBase(GH, "deploy/base", "v1.0.6")),
    ("github.com/org/repo/deploy?ref=main", RemoteBase(GH, "deploy", "main")),
    ("git@github.com:org/repo/deploy?ref=x", RemoteBase("git@github.com:org/repo", "deploy", "x")),
    ("ssh://git@example.com/org/r.git/base", RemoteBase("ssh://git@example.com/org/r.git", "base", None)),
    ("git::https://example.com/org/repo//base?version=v2", RemoteBase(EX, "base", "v2")),
    ("https://example.com/org/repo.git///etc/passwd", RemoteBase(f"{EX}.git", "etc/passwd", None)),  # inside
])
def test_kustomize_url_forms(url: str, expected: RemoteBase) -> None:
    assert parse(url) == expected


@pytest.mark.parametrize(("url", "error"), [
    ("https://example.com/org/repo/base", InputError),  # repository and path cannot be told apart
    ("https://example.com/org/repo.git//../../etc", UnsafeSource),
    ("https://example.com/org/repo.git//base/../../x", UnsafeSource),
])
def test_hostile_urls_rejected(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse(url)


def test_dangerous_transports_never_reach_git(tmp_path: Path) -> None:
    loader = RemoteBaseLoader(GitSource(tmp_path / "cache"))
    for url in ("ext::sh -c touch% /tmp/pwned//base", "file:///etc//base", "fd::17//base"):
        with pytest.raises(GitOpsError):
            loader(url)
    assert not Path("/tmp/pwned").exists()


def app_repository(url: str) -> Any:
    return SimpleNamespace(name="app", url=url, ref="main", credentials=None, allow_local=False)


def test_engine_renders_an_app_whose_base_is_remote(builder: Any, http: Any, tmp_path: Path) -> None:
    base = builder("base.git")
    base.tag("v1", base.commit(BASE_FILES), annotated=True)
    base.commit({**BASE_FILES, "base/cm.yaml": BASE_FILES["base/cm.yaml"].replace("blue", "red")})
    app = builder("app.git")
    remote = f"{http.url('base.git')}//base?ref=v1"
    app.commit({"overlay/kustomization.yaml": f"namePrefix: prod-\nresources:\n  - {remote}\n"})
    port = GitSourcePort(GitSource(tmp_path / "cache"))
    repository = app_repository(http.url("app.git"))
    root = port.checkout(repository, port.resolve(repository, None))
    source = SimpleNamespace(path="overlay", renderer="kustomize", options={})
    [cm] = RenderersPort().render(root, source, {}, port.remote_loader(repository))
    assert cm["metadata"]["name"] == "prod-settings"
    assert cm["data"] == {"color": "blue"}  # the tag, not the branch head
    assert cm["metadata"]["labels"] == {"tier": "base"}
    with pytest.raises(RenderError, match="remote"):  # without a loader (the standalone CLI's case)
        RenderersPort().render(root, source, {})


def test_missing_directory_in_remote_base_is_a_clear_error(builder: Any, http: Any, tmp_path: Path) -> None:
    builder("base.git").commit(BASE_FILES)
    loader = RemoteBaseLoader(GitSource(tmp_path / "cache"))
    with pytest.raises(InputError, match="no directory 'nope'"):
        loader(f"{http.url('base.git')}//nope")
    assert (loader(f"{http.url('base.git')}//base") / "kustomization.yaml").is_file()
