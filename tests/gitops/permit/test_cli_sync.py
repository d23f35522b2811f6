"""``gitops sync`` run in the command's own process (``--local``) honours the sync windows as the
workers do: a deny window without ``manualSync`` refuses it before anything is written, one with
``manualSync: true`` lets it through, and a dry run is never refused. A local Git repository, the
sandbox, the real CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops.cli import main
from tests.configkit import local_app

MANIFEST = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n"
ALWAYS_OPEN = """\
---
apiVersion: gitops.dev/v1alpha1
kind: SyncWindow
metadata: {{name: freeze}}
spec:
  kind: deny
  schedule: "* * * * *"          # a tick every minute, open for an hour: open now, whenever now is
  duration: 1h
  manualSync: {manual}
  applications: {{names: ["dem?"]}}
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path, object]]:
    from kubesandbox import Sandbox

    monkeypatch.delenv("GITOPS_REDIS_URL", raising=False)
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "all.yaml").write_text(MANIFEST)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "app")
    sandbox = Sandbox.start(kubeconfig=tmp_path / "kubeconfig.yaml")
    yield tmp_path, repo, sandbox
    sandbox.stop()


def sync(tmp_path: Path, repo: Path, window: str, *flags: str) -> int:
    config = tmp_path / "config.yaml"
    config.write_text(local_app(repo, tmp_path / "kubeconfig.yaml", app="demo") + window)
    cache = str(tmp_path / "cache")
    return main(["sync", "-c", str(config), "demo", "--local", "--cache-dir", cache, *flags])


def configmap(sandbox: Any) -> object:
    from gitops.cluster.rest import ClusterSettings, KubeCluster
    from gitops.vocabulary import ObjectRef

    cluster = KubeCluster(ClusterSettings("dev", kubeconfig=str(sandbox.kubeconfig_path)))
    try:
        return cluster.get(ObjectRef("", "ConfigMap", "default", "settings", "v1"))
    finally:
        cluster.close()


def test_a_deny_window_refuses_a_local_sync_and_writes_nothing(
        world: tuple[Path, Path, object], capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path, repo, sandbox = world
    assert sync(tmp_path, repo, ALWAYS_OPEN.format(manual="false")) == 2
    err = capsys.readouterr().err
    assert "not synced: deny window freeze is open" in err, err
    assert configmap(sandbox) is None
    assert sync(tmp_path, repo, ALWAYS_OPEN.format(manual="false"), "--dry-run") == 1  # a plan: never held
    assert configmap(sandbox) is None


def test_manual_sync_true_lets_a_local_sync_through(world: tuple[Path, Path, object]) -> None:
    tmp_path, repo, sandbox = world
    assert sync(tmp_path, repo, ALWAYS_OPEN.format(manual="true")) == 0
    assert configmap(sandbox) is not None
