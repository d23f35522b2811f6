"""Each generator over real inputs: clusters of a Fleet, Git repositories made with ``git`` in the test.

Covers list, clusters (matchLabels, the four matchExpressions operators, the shorthand), git
directories (include/exclude globs, ``**``, path/basename/segments) and files (JSON and YAML, nested
keys flattened, one malformed or oversized file isolated), matrix (clusters x git directories; a later
child using an earlier child's parameters), merge, post-selectors, and whole-generator failures, which
are values that generate nothing and mark the generation incomplete.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitops import domain
from gitops.appset import Inputs, generate
from gitops.appset.generate import MAX_FILE_BYTES, glob_match
from gitops.appset.snapshots import SnapshotTree
from gitops.testing.gittree import FakeGitTree

NO_GIT = FakeGitTree({})


def names(generation: Any, key: str = "name") -> list[object]:
    return [p[key] for p in generation.parameters]


def test_list_elements_are_parameter_sets(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    elements = [{"name": "a", "replicas": 2}, {"name": "b", "on": True}]
    gen = generate(appset([{"list": {"elements": elements}}]), Inputs(fleet, NO_GIT))
    assert gen.parameters == ({"name": "a", "replicas": 2}, {"name": "b", "on": True})
    assert gen.complete and gen.errors == ()


def test_clusters_expose_name_server_labels_and_annotations(appset: Callable[..., Any],
                                                           fleet: domain.Fleet) -> None:
    gen = generate(appset([{"clusters": {}}]), Inputs(fleet, NO_GIT))
    assert names(gen) == ["dev-eu", "prod-eu", "prod-us"]
    assert gen.parameters[0] == {"name": "dev-eu", "server": "https://dev-eu.example:6443",
                                 "labels.env": "dev", "labels.region": "eu", "annotations.owner": "team-a"}
    assert "server" not in gen.parameters[2]  # a kubeconfig cluster has no server: undefined, not ""


def test_cluster_selectors(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    def selected(selector: dict[str, Any]) -> list[object]:
        return names(generate(appset([{"clusters": {"selector": selector}}]), Inputs(fleet, NO_GIT)))

    assert selected({"env": "prod"}) == ["prod-eu", "prod-us"]  # shorthand for matchLabels
    assert selected({"matchLabels": {"env": "prod", "region": "us"}}) == ["prod-us"]
    expr = lambda key, op, *values: {"matchExpressions": [  # noqa: E731
        {"key": key, "operator": op, **({"values": list(values)} if values else {})}]}
    assert selected(expr("region", "In", "eu", "ap")) == ["dev-eu", "prod-eu"]
    assert selected(expr("env", "NotIn", "dev")) == ["prod-eu", "prod-us"]
    assert selected(expr("canary", "Exists")) == ["prod-us"]
    assert selected(expr("canary", "DoesNotExist")) == ["dev-eu", "prod-eu"]
    assert selected(expr("missing", "NotIn", "x")) == ["dev-eu", "prod-eu", "prod-us"]  # as Kubernetes
    assert selected({"matchLabels": {"env": "prod"}, **expr("region", "In", "eu")}) == ["prod-eu"]


def test_git_directories_with_include_and_exclude(appset: Callable[..., Any], fleet: domain.Fleet,
                                                  git_repo: Callable[..., domain.Repository],
                                                  snapshot_tree: Callable[..., SnapshotTree]) -> None:
    repo = git_repo("infra", {"apps/web/kustomization.yaml": "x", "apps/api/k.yaml": "x",
                              "apps/legacy/k.yaml": "x", "apps/api/overlays/prod/k.yaml": "x",
                              "README.md": "x"})
    tree = snapshot_tree(repo)
    gen = generate(appset([{"git": {"repository": "infra", "directories": [
        {"path": "apps/*"}, {"path": "apps/legacy", "exclude": True}]}}]), Inputs(fleet, tree))
    assert names(gen, "path") == ["apps/api", "apps/web"]
    assert gen.parameters[0] == {"path": "apps/api", "path.basename": "api", "path.segments.0": "apps",
                                 "path.segments.1": "api"}
    deep = generate(appset([{"git": {"repository": "infra", "directories": [{"path": "apps/**/prod"}]}}]),
                    Inputs(fleet, tree))
    assert names(deep, "path") == ["apps/api/overlays/prod"]


def test_glob_segments() -> None:
    assert glob_match("apps/a", "apps/*") and not glob_match("apps/a/b", "apps/*")
    assert glob_match("apps/a/b", "apps/**") and glob_match("apps", "apps/**")
    assert glob_match("x/y/z", "**/z") and not glob_match("x/y/z", "**/y")
    assert glob_match("env-1", "env-[0-9]") and not glob_match("env-a", "env-[0-9]")


def test_git_files_become_flattened_parameters(appset: Callable[..., Any], fleet: domain.Fleet,
                                               git_repo: Callable[..., domain.Repository],
                                               snapshot_tree: Callable[..., SnapshotTree]) -> None:
    repo = git_repo("infra", {
        "clusters/eu/config.json": json.dumps({"cluster": {"name": "prod-eu", "tier": 1},
                                               "zones": ["a", "b"]}),
        "clusters/us/config.yaml": "cluster:\n  name: prod-us\n  tier: 2\nzones: [c]\n",
        "clusters/us/notes.txt": "not matched",
    })
    gen = generate(appset([{"git": {"repository": "infra", "files": [{"path": "clusters/*/config.*"}]}}]),
                   Inputs(fleet, snapshot_tree(repo)))
    assert gen.errors == () and gen.complete
    assert gen.parameters[0] == {"cluster.name": "prod-eu", "cluster.tier": 1, "zones.0": "a", "zones.1": "b",
                                 "path": "clusters/eu", "path.basename": "eu", "path.segments.0": "clusters",
                                 "path.segments.1": "eu", "path.filename": "config.json"}
    assert gen.parameters[1]["cluster.name"] == "prod-us" and gen.parameters[1]["zones.0"] == "c"


def test_a_malformed_or_huge_parameter_file_fails_alone(appset: Callable[..., Any], fleet: domain.Fleet,
                                                        git_repo: Callable[..., domain.Repository],
                                                        snapshot_tree: Callable[..., SnapshotTree]) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
    repo = git_repo("infra", {
        "c/1/p.json": '{"name": "one"}',
        "c/2/p.json": '{"name": ',                      # malformed JSON
        "c/3/p.yaml": "name: [unclosed\n",              # malformed YAML
        "c/4/p.yaml": "- just\n- strings\n",            # not mappings
        "c/5/p.json": "[" * 100_000 + "]" * 100_000,    # nested too deeply (and too big)
        "c/6/p.yaml": "x: " + "y" * (MAX_FILE_BYTES + 1),  # over the size bound
        "c/7/p.yaml": bomb,                             # alias bomb
        "c/8/p.yaml": "name: eight\n",
    })
    gen = generate(appset([{"git": {"repository": "infra", "files": [{"path": "c/*/p.*"}]}}]),
                   Inputs(fleet, snapshot_tree(repo)))
    assert names(gen) == ["one", "eight"]
    assert gen.complete
    failed = {e.element: e.message for e in gen.errors}
    assert set(failed) == {f"file c/{n}/p.{ext}" for n, ext in
                           ((2, "json"), (3, "yaml"), (4, "yaml"), (5, "json"), (6, "yaml"), (7, "yaml"))}
    assert "invalid JSON" in failed["file c/2/p.json"]
    assert "mapping" in failed["file c/4/p.yaml"]
    assert "over the limit" in failed["file c/6/p.yaml"]
    assert all(e.generator == "generators[0].git" for e in gen.errors)


def test_matrix_of_clusters_and_git_directories(appset: Callable[..., Any], fleet: domain.Fleet,
                                                git_repo: Callable[..., domain.Repository],
                                                snapshot_tree: Callable[..., SnapshotTree]) -> None:
    repo = git_repo("infra", {"apps/web/k.yaml": "x", "apps/api/k.yaml": "x"})
    gen = generate(appset([{"matrix": {"generators": [
        {"clusters": {"selector": {"env": "prod"}}},
        {"git": {"repository": "infra", "directories": [{"path": "apps/*"}]}}]}}]),
        Inputs(fleet, snapshot_tree(repo)))
    assert [(p["name"], p["path.basename"]) for p in gen.parameters] == [
        ("prod-eu", "api"), ("prod-eu", "web"), ("prod-us", "api"), ("prod-us", "web")]


def test_a_matrix_child_uses_the_earlier_childs_parameters(
        appset: Callable[..., Any], fleet: domain.Fleet, git_repo: Callable[..., domain.Repository],
        snapshot_tree: Callable[..., SnapshotTree]) -> None:
    repo = git_repo("infra", {"clusters/prod-eu/apps/web/k.yaml": "x", "clusters/prod-eu/apps/db/k.yaml": "x",
                              "clusters/prod-us/apps/web/k.yaml": "x", "clusters/dev-eu/apps/x/k.yaml": "x"})
    gen = generate(appset([{"matrix": {"generators": [
        {"clusters": {"selector": {"env": "prod"}}},
        {"git": {"repository": "infra", "directories": [{"path": "clusters/{{ name }}/apps/*"}]}}]}}]),
        Inputs(fleet, snapshot_tree(repo)))
    assert [(p["name"], p["path.basename"]) for p in gen.parameters] == [
        ("prod-eu", "db"), ("prod-eu", "web"), ("prod-us", "web")]


def test_a_matrix_combination_that_cannot_render_fails_alone(appset: Callable[..., Any],
                                                             fleet: domain.Fleet) -> None:
    git = FakeGitTree({"infra": {None: {"eu/a/k.yaml": "x", "us/a/k.yaml": "x"}}})
    gen = generate(appset([{"matrix": {"generators": [
        {"list": {"elements": [{"region": "eu"}, {"zone": "1"}, {"region": "us"}]}},
        {"git": {"repository": "infra", "directories": [{"path": "{{ region }}/*"}]}}]}}]),
        Inputs(fleet, git))
    assert names(gen, "path") == ["eu/a", "us/a"]
    (error,) = gen.errors
    assert error.element == "combination 1" and error.generator == "generators[0].matrix.generators[1].git"
    assert "region" in error.message and error.field == "git.directories[0].path"


def test_a_matrix_child_rendered_into_a_path_traversal_is_refused(appset: Callable[..., Any],
                                                                  fleet: domain.Fleet) -> None:
    git = FakeGitTree({"infra": {None: {"a/k.yaml": "x"}}})
    gen = generate(appset([{"matrix": {"generators": [
        {"list": {"elements": [{"dir": "../../etc"}, {"dir": "a"}]}},
        {"git": {"repository": "infra", "directories": [{"path": "{{ dir }}"}]}}]}}]), Inputs(fleet, git))
    assert names(gen, "path") == ["a"]
    (error,) = gen.errors
    assert "stay inside the repository" in error.message and error.field == "git.directories[0].path"


def test_matrix_children_disagreeing_on_a_parameter(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    gen = generate(appset([{"matrix": {"generators": [
        {"list": {"elements": [{"name": "x", "a": 1}]}},
        {"list": {"elements": [{"name": "y"}, {"b": 2}]}}]}}]), Inputs(fleet, NO_GIT))
    assert gen.parameters == ({"name": "x", "a": 1, "b": 2},)
    assert "'name'" in gen.errors[0].message


def test_merge_by_keys(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    gen = generate(appset([{"merge": {"mergeKeys": ["name"], "generators": [
        {"clusters": {}},
        {"list": {"elements": [{"name": "prod-us", "replicas": 5}, {"name": "elsewhere", "replicas": 9}]}},
        {"list": {"elements": [{"name": "prod-us", "replicas": 7}]}}]}}]), Inputs(fleet, NO_GIT))
    assert names(gen) == ["dev-eu", "prod-eu", "prod-us"]  # only the base's sets, never the others'
    assert "replicas" not in gen.parameters[0] and gen.parameters[2]["replicas"] == 7  # later child wins
    assert gen.parameters[2]["labels.canary"] == "true"


def test_merge_base_without_the_key(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    gen = generate(appset([{"merge": {"mergeKeys": ["name"], "generators": [
        {"list": {"elements": [{"name": "a"}, {"other": "b"}]}},
        {"list": {"elements": [{"name": "a", "x": 1}]}}]}}]),
        Inputs(fleet, NO_GIT))
    assert gen.parameters == ({"name": "a", "x": 1},)
    assert "no merge key name" in gen.errors[0].message


def test_post_selector_on_any_generator(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    gen = generate(appset([
        {"list": {"elements": [{"name": "a", "tier": "1"}, {"name": "b", "tier": "2"}, {"name": "c"}]},
         "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["2", "3"]}]}},
        {"matrix": {"generators": [{"clusters": {}}, {"list": {"elements": [{"app": "x"}]}}]},
         "selector": {"matchLabels": {"labels.region": "us"}}},
    ]), Inputs(fleet, NO_GIT))
    assert names(gen) == ["b", "prod-us"]


def test_a_failing_generator_is_a_value_and_generates_nothing(appset: Callable[..., Any],
                                                              fleet: domain.Fleet) -> None:
    """The #18480 scenario: Git is away. The list generator still runs; the git generator's sets are
    unknown (not empty), and the generation says it is incomplete, so nothing may be deleted."""
    gen = generate(appset([{"list": {"elements": [{"name": "a"}]}},
                           {"git": {"repository": "infra", "directories": [{"path": "*"}]}}]),
                   Inputs(fleet, FakeGitTree({}, fail=True)))
    assert names(gen) == ["a"] and not gen.complete
    (failure,) = gen.failures
    assert failure.generator == "generators[1].git" and failure.failure.temporary
    assert failure.failure.kind == "SourceUnavailable"


def test_an_unknown_repository_or_revision_fails_the_generator(
        appset: Callable[..., Any], fleet: domain.Fleet, git_repo: Callable[..., domain.Repository],
        snapshot_tree: Callable[..., SnapshotTree]) -> None:
    repo = git_repo("infra", {"a/k.yaml": "x"})
    tree = snapshot_tree(repo)
    gen = generate(appset([{"git": {"repository": "nope", "directories": [{"path": "*"}]}},
                           {"git": {"repository": "infra", "revision": "no-such-branch",
                                    "directories": [{"path": "*"}]}},
                           {"git": {"repository": "infra", "directories": [{"path": "*"}]}}]),
                   Inputs(fleet, tree))
    assert names(gen, "path") == ["a"]
    assert [f.generator for f in gen.failures] == ["generators[0].git", "generators[1].git"]
    assert "nope" in gen.failures[0].failure.message


def test_a_generator_over_the_element_limit_fails(appset: Callable[..., Any], fleet: domain.Fleet,
                                                  monkeypatch: Any) -> None:
    module = importlib.import_module("gitops.appset.generate")
    monkeypatch.setattr(module, "MAX_ELEMENTS", 10)
    gen = generate(appset([{"matrix": {"generators": [
        {"list": {"elements": [{"a": i} for i in range(4)]}},
        {"list": {"elements": [{"b": i} for i in range(4)]}}]}}]), Inputs(fleet, NO_GIT))
    assert gen.parameters == () and not gen.complete
    assert "over" in gen.failures[0].failure.message


def test_a_repository_gone_away_fails_the_generator_with_the_real_adapter(
        appset: Callable[..., Any], fleet: domain.Fleet, git_repo: Callable[..., domain.Repository],
        snapshot_tree: Callable[..., SnapshotTree]) -> None:
    """#18480 against real Git: the remote disappears between two runs; the second run generates
    nothing from it and says so, instead of an empty (delete-everything) set."""
    repo = git_repo("infra", {"apps/web/k.yaml": "x"})
    spec = appset([{"git": {"repository": "infra", "directories": [{"path": "apps/*"}]}}])
    assert names(generate(spec, Inputs(fleet, snapshot_tree(repo))), "path") == ["apps/web"]
    shutil.rmtree(Path(repo.url.removeprefix("file://")))
    again = generate(spec, Inputs(fleet, snapshot_tree(repo)))
    assert again.parameters == () and not again.complete
    assert again.failures[0].generator == "generators[0].git"
