"""``gitops appset preview`` end to end: a configuration directory, a real Git repository, the CLI's
exit codes (0 all good, 1 some element failed, 2 configuration error) and its text and JSON output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops import domain
from gitops.cli import main

CONFIG = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: infra}}
spec: {{url: "{url}", allowLocal: true}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: prod-eu, labels: {{env: prod}}}}
spec: {{server: "https://prod-eu.example:6443"}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: dev-eu, labels: {{env: dev}}}}
spec: {{server: "https://dev-eu.example:6443"}}
---
apiVersion: gitops.dev/v1alpha1
kind: ApplicationSet
metadata: {{name: apps}}
spec:
  generators:
    - matrix:
        generators:
          - clusters: {{selector: {{matchLabels: {{env: prod}}}}}}
          - git: {{repository: infra, directories: [{{path: "apps/*"}}]}}
  template:
    metadata: {{name: "{{{{ path.basename | dns_label }}}}-{{{{ name }}}}"}}
    spec:
      source: {{repository: infra, path: "{{{{ path }}}}"}}
      destination: {{cluster: "{{{{ name }}}}", namespace: "{{{{ {namespace} }}}}"}}
"""


@pytest.fixture
def config(tmp_path: Path, git_repo: Callable[..., domain.Repository]) -> Callable[[str], Path]:
    repo = git_repo("infra", {"apps/web/k.yaml": "x", "apps/API/k.yaml": "x"})

    def write(namespace: str = "path.basename | dns_label") -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(CONFIG.format(url=repo.url, namespace=namespace))
        return path
    return write


def preview(capsys: pytest.CaptureFixture[str], tmp_path: Path, config: Path, *extra: str) -> tuple[int, str]:
    code = main(["appset", "preview", "-c", str(config), "--cache-dir", str(tmp_path / "cache"), *extra])
    return code, capsys.readouterr().out


def test_preview_prints_the_generated_applications(config: Callable[[str], Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out = preview(capsys, tmp_path, config("path.basename | dns_label"))
    assert code == 0, out
    assert "ApplicationSet apps: 2 application(s), 0 element error(s)" in out
    assert "api-prod-eu  cluster=prod-eu  repository=infra  path=apps/API" in out
    code, out = preview(capsys, tmp_path, config("path.basename | dns_label"), "apps", "-o", "json")
    (report,) = json.loads(out)["applicationSets"]
    assert code == 0 and report["complete"]
    assert [a["name"] for a in report["applications"]] == ["api-prod-eu", "web-prod-eu"]


def test_a_failing_element_is_exit_1_and_the_others_are_listed(config: Callable[[str], Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out = preview(capsys, tmp_path, config("path.basename"))  # "API" is not a namespace name
    assert code == 1
    assert "web-prod-eu" in out
    assert "error: template: element 0: template.spec.destination.namespace:" in out


def test_configuration_errors_are_exit_2(config: Callable[[str], Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert preview(capsys, tmp_path, config("name"), "nope")[0] == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text(config("name").read_text().replace("matchLabels", "matchLabel"))
    assert preview(capsys, tmp_path, broken)[0] == 2
    undefined = tmp_path / "undefined.yaml"
    text = config("name").read_text()
    undefined.write_text(text.replace("repository: infra, dir", "repository: nope, dir"))
    assert preview(capsys, tmp_path, undefined)[0] == 2  # a configuration error: nothing is generated
    gone = tmp_path / "gone.yaml"  # known only per element: the generator fails as a whole
    gone.write_text(config("name").read_text().replace("repository: infra, dir",
                                                       "repository: \"{{ name }}-repo\", dir"))
    code, out = preview(capsys, tmp_path, gone)
    assert code == 2 and "failed: generators[0].matrix" in out and "prod-eu-repo" in out
