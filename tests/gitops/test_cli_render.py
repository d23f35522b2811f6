"""``gitops render``: the engine's desired manifests for one target, without touching the cluster."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitops.cli import main

TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{{ cluster.name }}
data:
  env: "{{ cluster.labels.env }}"
  greeting: {{ greeting | tojson }}
"""


def git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    out = subprocess.run(["git", "-C", str(repo), *ident, *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "app" / "cm.yaml.j2").write_text(TEMPLATE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    cfg = tmp_path / "config.yaml"
    # The kubeconfig does not exist: render must never contact (or even load) the cluster.
    cfg.write_text(f"""
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: repo}}
spec: {{url: "{repo}", allowLocal: true}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: eu, labels: {{env: prod}}}}
spec: {{kubeconfig: missing-kubeconfig.yaml}}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {{name: web}}
spec:
  source:
    repository: repo
    path: app
    renderer: jinja
    parameters: {{greeting: "{{{{ 7*7 }}}}"}}
  destination: {{cluster: eu, namespace: web}}
""")
    return cfg


def test_render_prints_desired_manifests_with_cluster_parameters(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["render", "-c", str(config), "web", "--cache-dir", str(tmp_path / "cache"), "-o", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(out["revision"]) == 40
    [cm] = out["manifests"]
    assert cm["metadata"]["name"] == "settings-eu"
    assert cm["data"]["env"] == "prod"
    assert cm["data"]["greeting"] == "{{ 7*7 }}"  # parameters are data, never re-rendered
    assert "annotations" not in cm["metadata"]  # the renderers' location annotations are not shown


def test_render_yaml_and_errors_name_the_problem(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "-c", str(config), "web", "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# web@eu at ")
    assert "name: settings-eu" in out and "internal.config.kubernetes.io" not in out
    assert main(["render", "-c", str(config), "nope", "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "no application named 'nope'" in capsys.readouterr().err
    repo = tmp_path / "repo"
    (repo / "app" / "cm.yaml.j2").write_text("kind: {{ undefined_name }}\n")
    git(repo, "commit", "-qam", "broken")
    assert main(["render", "-c", str(config), "web", "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "cm.yaml.j2" in err and "undefined_name" in err
    assert str(tmp_path / "cache") not in err  # files named as in the repository, not the cache
    (repo / "app" / "kustomization.yaml").write_text("resources: [../../outside.yaml]\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "kustomize")
    config.write_text(config.read_text().replace("renderer: jinja", "renderer: kustomize"))
    assert main(["render", "-c", str(config), "web", "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "outside.yaml" in err and str(tmp_path / "cache") not in err, err
