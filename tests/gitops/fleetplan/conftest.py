"""Real Git repositories and configurations for the fleet plan tests, made with ``git`` in the test.

``Fleet`` builds one repository (``infra``: a Kustomize base, overlays under ``apps/``, a Jinja application)
and a configuration whose ApplicationSet is a matrix of the clusters and the git directories ``apps/*``;
``fleet.commit({...})`` commits a change (None deletes a file), ``fleet.plan(...)`` runs ``gitops plan``
through ``gitops.cli.main`` and returns the exit code and output. Helpers copied from
tests/gitops/appset/conftest.py (``_git``, ``commit``).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitops.cli import main


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=t@example.invalid",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True,
                          text=True)
    return done.stdout.strip()


def write(path: Path, files: Mapping[str, str | bytes | None]) -> None:
    for rel, content in files.items():
        target = path / rel
        if content is None:
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)


def commit(path: Path, files: Mapping[str, str | bytes | None], message: str = "change") -> str:
    """Write ``files`` (None: delete) into the work tree at ``path`` and commit them; the commit id."""
    write(path, files)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", message)
    return _git(path, "rev-parse", "HEAD")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released: connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BASE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: blue, size: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2-topsecret}
"""


def overlay(size: str) -> str:
    return f"""\
resources: [../../bases/web]
patches:
  - target: {{kind: ConfigMap, name: settings}}
    patch: |
      - op: replace
        path: /data/size
        value: "{size}"
"""


FILES: dict[str, str | bytes | None] = {
    "bases/web/kustomization.yaml": "resources: [all.yaml]\n",
    "bases/web/all.yaml": BASE,
    "apps/alpha/kustomization.yaml": overlay("2"),
    "apps/beta/kustomization.yaml": overlay("3"),
    "jinja/cm.yaml.j2": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hello-{{ cluster.name }}}\n"
                        "data: {greeting: hi}\n",
}

CONFIG = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: infra}}
spec: {{url: "{url}", allowLocal: true}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: dev, labels: {{env: dev}}}}
spec: {dev}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: prod, labels: {{env: prod}}}}
spec: {prod}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {{name: hello}}
spec:
  source: {{repository: infra, path: jinja, renderer: jinja}}
  destination: {{cluster: dev, namespace: default}}
---
apiVersion: gitops.dev/v1alpha1
kind: ApplicationSet
metadata: {{name: apps}}
spec:
  generators:
    - matrix:
        generators:
          - clusters: {{}}
          - git: {{repository: infra, directories: [{{path: "apps/*"}}]}}
  template:
    metadata: {{name: "{{{{ path.basename | dns_label }}}}-{{{{ name }}}}"}}
    spec:
      source: {{repository: infra, path: "{{{{ path }}}}", renderer: kustomize}}
      destination: {{cluster: "{{{{ name }}}}", namespace: "{{{{ path.basename | dns_label }}}}"}}
"""


@dataclass
class Fleet:
    root: Path
    repo: Path
    config: Path
    capsys: pytest.CaptureFixture[str]

    def commit(self, files: Mapping[str, str | bytes | None], message: str = "change") -> str:
        return commit(self.repo, files, message)

    def configure(self, dev: str | None = None, prod: str | None = None) -> None:
        closed = f'{{server: "https://127.0.0.1:{closed_port()}", timeout: 2s}}'
        self.config.write_text(CONFIG.format(url=f"file://{self.repo}", dev=dev or closed,
                                             prod=prod or closed))

    def plan(self, *args: str) -> tuple[int, str, str]:
        code = main(["plan", "-c", str(self.config), "--cache-dir", str(self.root / "cache"), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def plan_json(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, out, err = self.plan(*args, "-o", "json")
        assert out, err
        return code, json.loads(out)


@pytest.fixture
def fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Fleet:
    repo = tmp_path / "infra"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    commit(repo, FILES, "initial")
    made = Fleet(tmp_path, repo, tmp_path / "config.yaml", capsys)
    made.configure()
    return made


def pairs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The plan's pairs by ``application@cluster``."""
    return {f"{p['application']}@{p['cluster']}": p for p in document["pairs"]}
