"""The engine deploys its own chart: examples/self-managed/ validates, and ``gitops render`` of its
Application (the helm renderer, from a Git repository holding the chart and the example's values)
gives exactly the objects Helm renders directly from the same values. The example's values must keep
every render identical (no generated secret), or the engine would change its own Redis password."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.cli import main
from tests.charts.chartkit import CHART, ROOT, find, render

pytest.importorskip("helm_python", reason="the helm extra is not installed")

EXAMPLE = ROOT / "examples" / "self-managed"


def git(repo: Path, *args: str) -> None:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(repo), *ident, *args], check=True, capture_output=True, text=True)


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def test_example_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(EXAMPLE / "config")]) == 0
    assert "1 Repository, 1 Cluster, 1 Application" in capsys.readouterr().out


def test_engine_renders_its_own_chart_as_helm_does(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(CHART, repo / "charts" / "gitops")
    (repo / "examples" / "self-managed").mkdir(parents=True)
    shutil.copy(EXAMPLE / "values.yaml", repo / "examples" / "self-managed" / "values.yaml")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the chart")
    config = tmp_path / "config"
    config.mkdir()
    for name in ("cluster.yaml", "application.yaml"):
        shutil.copy(EXAMPLE / "config" / name, config / name)
    # the example's Repository, pointed at the local copy
    repository = yaml.safe_load((EXAMPLE / "config" / "repository.yaml").read_text())
    repository["spec"].update(url=str(repo), allowLocal=True)
    (config / "repository.yaml").write_text(yaml.safe_dump(repository))

    code = main(["render", "-c", str(config), "gitops", "--cache-dir", str(tmp_path / "cache"), "-o", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    by_engine = sorted(json.loads(out)["manifests"], key=key)
    values = yaml.safe_load((EXAMPLE / "values.yaml").read_text())
    direct = sorted(render(values, name="gitops", namespace="gitops"), key=key)
    assert [key(o) for o in by_engine] == [key(o) for o in direct]
    assert by_engine == direct
    # nothing generated: the configuration and the Redis password are the user's objects
    assert not find(direct, "Secret") and not find(direct, "ConfigMap")
    assert render(values, name="gitops", namespace="gitops") == render(values, name="gitops",
                                                                        namespace="gitops")
