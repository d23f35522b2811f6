"""Real Git repositories for the ApplicationSet tests, made with the ``git`` command in the test.

``git_repo("demo", {"apps/a/x.yaml": "..."})`` commits the files to a new repository's ``main`` and
returns its ``domain.Repository`` (a local ``file://`` URL, ``allowLocal``); ``snapshot_tree(repos)``
is the real GitTree adapter over a GitSource cache in the test's temporary directory. ``appset(...)``
validates an ApplicationSet spec with the configuration's own model, as the loader does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from gitops import domain
from gitops.appset.snapshots import SnapshotTree
from gitops.config.application import ApplicationSet, ApplicationSetSpec
from gitops.sources import GitSource

GitRepo = Callable[..., domain.Repository]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=t@example.invalid",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True,
                          text=True)
    return done.stdout.strip()


def commit(path: Path, files: Mapping[str, str | bytes], message: str = "change") -> str:
    """Write ``files`` into the work tree at ``path`` and commit them; the new commit id."""
    for rel, content in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", message)
    return _git(path, "rev-parse", "HEAD")


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    def make(name: str, files: Mapping[str, str | bytes]) -> domain.Repository:
        path = tmp_path / "repos" / name
        path.mkdir(parents=True)
        _git(path, "init", "-q", "-b", "main")
        commit(path, files, "initial")
        return domain.Repository(name, f"file://{path}", "main", allow_local=True)
    return make


@pytest.fixture
def snapshot_tree(tmp_path: Path) -> Callable[..., SnapshotTree]:
    def make(*repositories: domain.Repository) -> SnapshotTree:
        return SnapshotTree(GitSource(tmp_path / "cache"), repositories)
    return make


def _appset(generators: list[Any], template: Mapping[str, Any] | None = None,
            name: str = "set") -> ApplicationSet:
    spec = ApplicationSetSpec.model_validate(
        {"generators": generators, "template": template if template is not None else TEMPLATE},
        by_alias=True, by_name=False)
    return ApplicationSet(name=name, generators=spec.generators, template=spec.template)


@pytest.fixture
def appset() -> Callable[..., ApplicationSet]:
    """``appset(generators, template=None)``: an ApplicationSet validated by the configuration's model
    (YAML aliases only, as the loader does); the default template names each application ``{{ name }}``."""
    return _appset


TEMPLATE: dict[str, Any] = {
    "metadata": {"name": "{{ name }}"},
    "spec": {"source": {"repository": "demo", "path": "apps"}, "destination": {"cluster": "{{ name }}"}},
}


CLUSTERS = (domain.Cluster("dev-eu", {"env": "dev", "region": "eu"}, server="https://dev-eu.example:6443",
                          annotations={"owner": "team-a"}),
            domain.Cluster("prod-eu", {"env": "prod", "region": "eu"}, server="https://prod-eu.example:6443"),
            domain.Cluster("prod-us", {"env": "prod", "region": "us", "canary": "true"},
                           kubeconfig="/nonexistent/kubeconfig"))


@pytest.fixture
def fleet() -> domain.Fleet:
    """Three clusters (dev-eu, prod-eu, prod-us) and the ``demo`` repository."""
    demo = domain.Repository("demo", "https://git.example/demo.git")
    return domain.Fleet({"demo": demo}, {c.name: c for c in CLUSTERS})
