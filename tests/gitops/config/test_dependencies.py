"""``spec.dependsOn``: converted into the domain; unknown names, another cluster, self-dependency,
cycles (the whole path) and over-long lists are located errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from gitops.cli import main
from gitops.config import load_config, to_fleet
from gitops.config.dependencies import MAX_DEPENDENCIES
from gitops.domain import Dependency
from gitops.errors import Problem

DOCS = Path(__file__).resolve().parents[3] / "docs"


def app(name: str, deps: str = "[]", cluster: str = "prod") -> str:
    return f"""\
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  source: {{repository: demo, path: apps/{name}}}
  destination: {{cluster: {cluster}}}
  dependsOn: {deps}
"""


STAGING = """\
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata:
  name: staging
spec:
  kubeconfig: staging.kubeconfig
"""


def test_dependencies_load_into_the_domain(write: Callable[[str, str], Path], base_text: str) -> None:
    text = base_text + STAGING + app("db") + app("queue", cluster="staging") + \
        app("web", "[{name: db}, {name: queue, cluster: staging}]")
    fleet = to_fleet(load_config(write("c.yaml", text)))
    assert fleet.applications["web"].depends_on == (Dependency("db"), Dependency("queue", "staging"))


def test_unknown_self_other_cluster_are_located(write: Callable[[str, str], Path], base_text: str,
                                                problems: Callable[[Path], list[Problem]]) -> None:
    text = base_text + STAGING + app("db", cluster="staging") + \
        app("web", "[{name: nope}, {name: web}, {name: db}, {name: db, cluster: prod}]")
    found = {p.field: p for p in problems(write("c.yaml", text))}
    assert found["spec.dependsOn[0].name"].message == 'application "nope" is not defined'
    assert found["spec.dependsOn[1].name"].message == "an application cannot depend on itself"
    assert found["spec.dependsOn[2].name"].message.startswith(
        'application "db" is deployed to cluster "staging", not "prod"')
    assert "spec.dependsOn[3].name" in found and len(found) == 4
    assert all(p.line is not None and p.file is not None for p in found.values())


def test_a_cycle_names_the_whole_path(write: Callable[[str, str], Path], base_text: str,
                                      problems: Callable[[Path], list[Problem]]) -> None:
    text = base_text + app("a", "[{name: c}]") + app("b", "[{name: a}]") + app("c", "[{name: b}]") + app("d")
    [problem] = problems(write("c.yaml", text))
    assert problem.message == "dependency cycle: a -> c -> b -> a"
    assert problem.field == "spec.dependsOn[0].name" and problem.line == 22  # the dependsOn of a


def test_bad_entries_and_long_lists(write: Callable[[str, str], Path], base_text: str,
                                    problems: Callable[[Path], list[Problem]]) -> None:
    text = base_text + app("db") + app("web", "[{name: DB}, {name: db, extra: 1}, {cluster: prod}]")
    fields = {p.field for p in problems(write("c.yaml", text))}
    assert {"spec.dependsOn[0].name", "spec.dependsOn[1].extra", "spec.dependsOn[2].name"} <= fields
    many = "[" + ", ".join("{name: db}" for _ in range(MAX_DEPENDENCIES + 1)) + "]"
    [problem] = problems(write("d.yaml", base_text + app("db") + app("web", many)))
    assert problem.field == "spec.dependsOn" and f"at most {MAX_DEPENDENCIES}" in problem.message


def yaml_blocks(page: Path) -> str:
    """Every ```yaml block of a docs page, as one multi-document configuration."""
    blocks = re.findall(r"```yaml\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks, page
    return "---\n".join(blocks)


def test_the_docs_example_validates(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(yaml_blocks(DOCS / "dependencies.md"))
    assert main(["validate", "-c", str(tmp_path / "config.yaml")]) == 0
    fleet = to_fleet(load_config(tmp_path / "config.yaml"))
    assert fleet.applications["orders"].depends_on == (Dependency("postgres"), Dependency("vault", "shared"))
