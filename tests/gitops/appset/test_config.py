"""An ApplicationSet's generators and template as the configuration loader validates them: located,
field-naming problems for bad generators, selectors and globs; valid sets load as typed models."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitops.appset.spec import ClustersSpec, GitSpec, MatrixSpec, from_model
from gitops.config import load_config
from gitops.errors import ConfigError

HEAD = "apiVersion: gitops.dev/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s}\n"
TEMPLATE = "template: {metadata: {name: '{{ name }}'}, spec: {}}"


def problems(tmp_path: Path, generators: str) -> list[tuple[str | None, str, int | None]]:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + f"spec:\n  generators: {generators}\n  {TEMPLATE}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [(p.field, p.message, p.line) for p in info.value.problems]


@pytest.mark.parametrize(("generators", "field", "message"), [
    ("[{}]", "spec.generators[0]", "set exactly one generator"),
    ("[{list: {elements: []}, clusters: {}}]", "spec.generators[0]", "(found list, clusters)"),
    ("[{lists: {elements: []}}]", "spec.generators[0].lists", "did you mean 'list'"),
    ("[{list: {elements: [{a: {b: 1}}]}}]", "spec.generators[0].list.elements[0].a",
     "must be a string, number"),
    ("[{clusters: {selector: {matchExpressions: [{key: env, operator: Equals, values: [a]}]}}}]",
     "spec.generators[0].clusters.selector.matchExpressions[0].operator", "'In', 'NotIn', 'Exists'"),
    ("[{clusters: {selector: {matchExpressions: [{key: env, operator: In}]}}}]",
     "spec.generators[0].clusters.selector.matchExpressions[0]", "needs a non-empty values list"),
    ("[{clusters: {selector: {matchExpressions: [{key: env, operator: Exists, values: [a]}]}}}]",
     "spec.generators[0].clusters.selector.matchExpressions[0]", "takes no values"),
    ("[{git: {repository: r, directories: [{path: ../../etc}]}}]",
     "spec.generators[0].git.directories[0].path", "stay inside the repository"),
    ("[{git: {repository: r, files: [{path: /etc/*.json}]}}]",
     "spec.generators[0].git.files[0].path", "not absolute"),
    ("[{git: {repository: r, directories: [{path: a}], files: [{path: b}]}}]",
     "spec.generators[0].git", "either directories or files"),
    ("[{git: {repository: r, directories: [{path: a, exclude: true}]}}]",
     "spec.generators[0].git", "at least one entry without exclude"),
    ("[{git: {repository: r, revision: 'a..b', directories: [{path: a}]}}]",
     "spec.generators[0].git.revision", "branch, tag or commit"),
    ("[{matrix: {generators: [{clusters: {}}]}}]", "spec.generators[0].matrix.generators",
     "needs from 2 to 8"),
    ("[{merge: {mergeKeys: [], generators: [{clusters: {}}, {clusters: {}}]}}]",
     "spec.generators[0].merge.mergeKeys", "must not be empty"),
    ("[{matrix: {generators: [{clusters: {}},"
     " {merge: {mergeKeys: [a], generators: [{}, {clusters: {}}]}}]}}]",
     "spec.generators[0].matrix.generators[1].merge.generators[0]", "set exactly one generator"),
])
def test_bad_generators_are_located(tmp_path: Path, generators: str, field: str, message: str) -> None:
    found = problems(tmp_path, generators)
    assert any(f == field and message in m and line == 5 for f, m, line in found), found


def test_a_valid_set_loads_as_typed_specs(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: gitops.dev/v1alpha1
        kind: Repository
        metadata: {name: demo}
        spec: {url: "https://git.example.com/demo.git"}
        ---
        apiVersion: gitops.dev/v1alpha1
        kind: ApplicationSet
        metadata: {name: s}
        spec:
          generators:
            - matrix:
                generators:
                  - clusters: {selector: {matchLabels: {env: prod}}}
                  - git:
                      repository: demo
                      directories: [{path: "apps/*"}, {path: apps/legacy, exclude: true}]
              selector: {matchExpressions: [{key: labels.region, operator: NotIn, values: [us]}]}
          template:
            metadata: {name: "{{ path.basename }}-{{ name }}"}
            spec: {source: {repository: demo, path: "{{ path }}"}, destination: {cluster: "{{ name }}"}}
        """))
    appset = load_config(path).application_sets["s"]
    spec = from_model(appset.generators[0])
    assert isinstance(spec.kind, MatrixSpec) and spec.selector is not None
    clusters, git = spec.kind.children
    assert isinstance(clusters.kind, ClustersSpec)
    assert clusters.kind.selector.match_labels == (("env", "prod"),)
    assert isinstance(git.kind, GitSpec)
    assert (git.kind.include, git.kind.exclude) == (("apps/*",), ("apps/legacy",))
    assert not spec.selector.matches({"labels.region": "us"}) and spec.selector.matches({})


def test_cluster_annotations_from_metadata_reach_the_clusters_generator(tmp_path: Path) -> None:
    from gitops.appset import Inputs, generate
    from gitops.config import to_fleet
    from gitops.testing.gittree import FakeGitTree
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: gitops.dev/v1alpha1
        kind: Cluster
        metadata: {name: prod, labels: {env: prod}, annotations: {owner: team-a}}
        spec: {server: "https://prod.example:6443"}
        ---
        """) + HEAD + "spec:\n  generators: [{clusters: {}}]\n  " + TEMPLATE + "\n")
    config = load_config(path)
    generation = generate(config.application_sets["s"], Inputs(to_fleet(config), FakeGitTree({})))
    assert generation.parameters == ({"name": "prod", "server": "https://prod.example:6443",
                                      "labels.env": "prod", "annotations.owner": "team-a"},)


def test_git_generators_must_name_configured_repositories(tmp_path: Path) -> None:
    generators = ("[{git: {repository: nope, directories: [{path: a}]}},"
                  " {matrix: {generators: [{clusters: {}},"
                  " {git: {repository: gone, files: [{path: a.json}]}},"
                  " {git: {repository: '{{ name }}', files: [{path: a.json}]}}]}}]")
    found = problems(tmp_path, generators)
    assert [(f, m) for f, m, _ in found] == [
        ("spec.generators[0].git.repository", 'repository "nope" is not defined'),
        ("spec.generators[1].matrix.generators[1].git.repository", 'repository "gone" is not defined')]
