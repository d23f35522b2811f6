"""The orchestrator over fake ports: trees as plain directories (the TreeSource port), a renderer that
reads them, FakeClusters; per-pair isolation of failures and the dry-run path through the engine."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from gitops import domain
from gitops.config import load_config, to_fleet
from gitops.engine import Ports
from gitops.fleetplan import Mode, PlanRequest, Status, Tree, plan_fleet
from gitops.testing import FakeClusters, FakeSource
from gitops.testing.gittree import FakeGitTree
from renderers.manifest import Manifest

CONFIG = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: infra}
spec: {url: "https://git.example/infra.git"}
---
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: other}
spec: {url: "https://git.example/other.git"}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: dev}
spec: {server: "https://dev.example:6443"}
"""

APP = """\
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {{name: {name}}}
spec:
  source: {{repository: {repository}, path: {path}}}
  destination: {{cluster: dev, namespace: ns}}
"""


class Directory:
    """A TreeSource over a directory of the test."""

    def __init__(self, root: Path, revision: str) -> None:
        self.root, self.revision = root, revision

    def tree(self) -> Tree:
        return Tree(self.root, self.revision, self.revision)


class JsonRenderer:
    """Renders ``<path>/cm.json``; the path ``boom`` is a bug (not a RenderError)."""

    def __init__(self) -> None:
        self.calls = 0

    def render(self, root: Path, source: domain.AppSource, parameters: Mapping[str, object],
               remote_loader: Callable[[str], Path] | None = None) -> list[Manifest]:
        self.calls += 1
        if source.path == "boom":
            raise RuntimeError("a bug")
        return [json.loads((root / source.path / "cm.json").read_text())]


def cm(value: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                       "data": {"value": value}})


def test_failures_stay_per_pair_and_reachable_clusters_get_a_dry_run(tmp_path: Path) -> None:
    for side, value in (("base", "1"), ("new", "2")):
        for path in ("a", "boom"):
            (tmp_path / side / path).mkdir(parents=True)
            (tmp_path / side / path / "cm.json").write_text(cm(value))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(CONFIG + APP.format(name="a", repository="infra", path="a")
                           + APP.format(name="boom", repository="infra", path="boom")
                           + APP.format(name="elsewhere", repository="other", path="a"))
    config = load_config(config_file)
    fleet = to_fleet(config)
    renderer = JsonRenderer()
    ports = Ports(FakeSource(tmp_path / "base"), renderer, FakeClusters())
    request = PlanRequest(config, fleet, fleet.repositories["infra"], Directory(tmp_path / "base", "b" * 40),
                          Directory(tmp_path / "new", "n" * 40), FakeGitTree({}), ports)
    plan = plan_fleet(request)
    by = {p.key: p for p in plan.pairs}
    assert by["boom@dev"].status is Status.ERROR and "unexpected RuntimeError" in (by["boom@dev"].error or "")
    assert by["elsewhere@dev"].status is Status.UNCHANGED and by["elsewhere@dev"].mode is Mode.NONE
    a = by["a@dev"]
    assert a.status is Status.CHANGED and a.mode is Mode.DRY_RUN  # the fake cluster answered
    assert [(o.object, o.change) for o in a.objects] == [("ConfigMap/ns/cm", "added")]  # nothing live yet
    assert renderer.calls == 4  # a and boom at each side; the dry-run reused the NEW render of a
    assert plan.exit_code() == 1
    offline = plan_fleet(PlanRequest(**{**request.__dict__, "offline": True}))
    a = {p.key: p for p in offline.pairs}["a@dev"]
    assert a.mode is Mode.OFFLINE and a.objects[0].fields[0].path == ".data.value"
