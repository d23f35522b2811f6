"""The ApplicationSet example of docs/configuration.md ("ApplicationSet generators") is valid for
``gitops validate`` and generates what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitops.appset import Generated, Inputs, generate, render_applications
from gitops.cli import main
from gitops.config import load_config, to_fleet
from gitops.testing.gittree import FakeGitTree

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
BASE = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: demo}
spec: {url: https://git.example.com/org/demo.git}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: prod, labels: {env: prod, region: eu-1}}
spec: {server: https://prod.example:6443}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: prod-us, labels: {env: prod, region: us-1}}
spec: {server: https://prod-us.example:6443}
---
"""


def example() -> str:
    section = DOC.read_text().split("## ApplicationSet generators", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_documented_example_validates_and_generates(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BASE + example())
    assert main(["validate", "-c", str(path)]) == 0
    assert "1 ApplicationSet" in capsys.readouterr().out
    config = load_config(path)
    fleet = to_fleet(config)
    appset = config.application_sets["platform"]
    git = FakeGitTree({"demo": {None: {"apps/web/k.yaml": "x", "apps/Billing_API/k.yaml": "x",
                                       "apps/legacy/k.yaml": "x", "README.md": "x"}}})
    generation = generate(appset, Inputs(fleet, git))
    assert generation.complete and generation.errors == ()
    rendered = render_applications(appset, generation, fleet)
    apps = [r.application for r in rendered if isinstance(r, Generated)]
    assert len(apps) == len(rendered)
    assert [(a.name, a.destination.cluster, a.source.path) for a in apps] == [
        ("billing-api-prod", "prod", "apps/Billing_API"), ("web-prod", "prod", "apps/web"),
        ("tools", "prod", "tools")]
    assert apps[0].labels == {"team": "platform"} and apps[0].sync_policy.automated


APPSETS_DOC = DOC.parent / "applicationsets.md"


def test_the_applicationsets_page_example_validates_and_generates(tmp_path: Path) -> None:
    """docs/applicationsets.md's complete example: valid, and what it says it generates."""
    match = re.search(r"```yaml\n(.*?)```", APPSETS_DOC.read_text(), re.S)
    assert match is not None
    path = tmp_path / "config.yaml"
    path.write_text(BASE + match.group(1))
    assert main(["validate", "-c", str(path)]) == 0
    config = load_config(path)
    appset = config.application_sets["guestbook"]
    rolling = appset.strategy.rolling_sync
    assert rolling is not None and [s.share for s in rolling.steps] == [None, 0.3, 1.0]
    assert rolling.bake_seconds == 300.0 and rolling.steps[1].bake_seconds == 600.0
    assert appset.sync_policy.max_delete_share == 0.1
    fleet = to_fleet(config)
    rendered = render_applications(appset, generate(appset, Inputs(fleet, FakeGitTree({}))), fleet)
    assert sorted(r.application.name for r in rendered if isinstance(r, Generated)) == [
        "guestbook-prod", "guestbook-prod-us"]


@pytest.mark.parametrize(("fragment", "message"), [
    ("strategy: {type: RollingSync}", "needs rollingSync.steps"),
    ("strategy: {type: RollingSync, rollingSync: {steps: [{share: 30%, clusters: {a: b}}]}}", "exactly one"),
    ("strategy: {type: RollingSync, rollingSync: {steps: [{share: lots}]}}", "expected a number"),
    ("strategy: {type: RollingSync, rollingSync: {steps: [{share: 130%}]}}", "less than or equal"),
    ("syncPolicy: {applicationsSync: delete-all}", "applicationsSync"),
    ("syncPolicy: {maxDeleteCount: -1}", "maxDeleteCount"),
    ("strategy: {type: RollingSync, rollingSync: {steps: [{share: 1}], "
     "prometheus: {url: ftp://x, query: up}}}", "http"),
])
def test_bad_policies_and_strategies_are_refused_naming_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fragment: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BASE + "apiVersion: gitops.dev/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s}\n"
                    "spec:\n  generators: [{clusters: {}}]\n  template: {metadata: {name: x}}\n  "
                    + fragment + "\n")
    assert main(["validate", "-c", str(path)]) == 2
    err = capsys.readouterr()
    assert message in err.out + err.err and "config.yaml:" in err.out + err.err
