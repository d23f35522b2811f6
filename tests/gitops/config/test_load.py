"""Loading valid configurations: kinds, defaults, multi-document files, directories, references."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.config import (
    Application,
    AppSource,
    Cluster,
    Destination,
    Repository,
    RetryPolicy,
    SyncPolicy,
    load_config,
)
from gitops.errors import Problem

Write = Callable[[str, str], Path]
Problems = Callable[[Path], list[Problem]]

APP = """\
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata:
  name: web
spec:
  source:
    repository: demo
    path: apps/web
  destination:
    cluster: prod
"""


def test_minimal_objects_get_documented_defaults(write: Write, base_text: str) -> None:
    config = load_config(write("c.yaml", base_text + "---\n" + APP))
    repo, cluster, app = config.repositories["demo"], config.clusters["prod"], config.applications["web"]
    assert (repo.name, repo.ref, repo.interval_seconds, repo.allow_local, repo.credentials) == (
        "demo", "main", 180.0, False, None)
    assert (cluster.qps, cluster.timeout_seconds, cluster.context, cluster.labels) == (20.0, 30.0, None, {})
    assert app.source == AppSource(repository="demo", path="apps/web", renderer="plain")
    assert app.destination == Destination(cluster="prod", namespace=None)
    assert app.sync_policy == SyncPolicy()
    assert app.sync_policy.retry == RetryPolicy(limit=5, backoff_seconds=5.0, factor=2.0,
                                                max_backoff_seconds=300.0)
    assert (app.sync_policy.prune_max_share, app.sync_policy.field_manager) == (0.5, "gitops")
    assert app.ignore_differences == []
    assert isinstance(repo, Repository) and isinstance(cluster, Cluster) and isinstance(app, Application)


def test_every_field_maps_from_camel_case(write: Write, base_text: str) -> None:
    app = APP.replace("    path: apps/web\n", """\
    path: ./apps/web/
    revision: v1.2.3
    renderer: jinja
    options: {strict: true}
    parameters: {replicas: 3, image: {tag: "1.0"}}
""").replace("    cluster: prod\n", """\
    cluster: prod
    namespace: web
  syncPolicy:
    automated: true
    prune: true
    selfHeal: true
    detectOnly: true
    allowRecreate: true
    pruneMaxShare: 0.25
    allowEmpty: true
    fieldManager: team-a
    retry: {limit: 2, backoff: 1s, factor: 3, maxBackoff: 1m}
  ignoreDifferences:
    - group: apps
      kind: Deployment
      name: web
      namespace: web
      jsonPointers: [/spec/replicas, /metadata/annotations/a~1b]
      managedFieldsManagers: [kube-controller-manager]
""")
    got = load_config(write("c.yaml", base_text + "---\n" + app)).applications["web"]
    assert got.source.path == "apps/web" and got.source.revision == "v1.2.3"
    assert got.source.renderer == "jinja" and got.source.options == {"strict": True}
    assert got.source.parameters == {"replicas": 3, "image": {"tag": "1.0"}}
    assert got.destination.namespace == "web"
    policy = got.sync_policy
    assert (policy.automated, policy.prune, policy.self_heal, policy.detect_only, policy.allow_recreate,
            policy.allow_empty) == (True,) * 6
    assert (policy.prune_max_share, policy.field_manager) == (0.25, "team-a")
    assert policy.retry == RetryPolicy(limit=2, backoff_seconds=1.0, factor=3.0, max_backoff_seconds=60.0)
    rule = got.ignore_differences[0]
    assert (rule.group, rule.kind, rule.name, rule.namespace) == ("apps", "Deployment", "web", "web")
    assert rule.json_pointers == ["/spec/replicas", "/metadata/annotations/a~1b"]
    assert rule.managers == ["kube-controller-manager"]


def test_snake_case_keys_are_unknown_in_yaml(write: Write, base_text: str, problems: Problems) -> None:
    text = base_text + "---\n" + APP + "  sync_policy: {self_heal: true}\n"
    (problem,) = problems(write("c.yaml", text))
    assert problem.field == "spec.sync_policy"
    assert problem.message == "unknown field (did you mean 'syncPolicy'?)"


def test_repository_credentials_are_references_resolved_against_the_file(write: Write) -> None:
    path = write("sub/repos.yaml", """\
        apiVersion: gitops.dev/v1alpha1
        kind: Repository
        metadata: {name: ssh}
        spec:
          url: git@github.com:org/repo.git
          interval: 5m
          credentials:
            sshKeyFile: keys/deploy
            knownHostsFile: /etc/ssh/known_hosts
        ---
        apiVersion: gitops.dev/v1alpha1
        kind: Repository
        metadata: {name: https}
        spec:
          url: https://github.com/org/repo.git
          ref: release-1.0
          interval: 90
          credentials: {username: bot, passwordEnv: GIT_PASSWORD}
        ---
        apiVersion: gitops.dev/v1alpha1
        kind: Repository
        metadata: {name: token}
        spec:
          url: https://github.com/org/repo.git
          credentials: {tokenFile: ~/token}
        """)
    repos = load_config(path).repositories
    ssh = repos["ssh"].credentials
    assert ssh is not None and ssh.ssh_key_file == str(path.parent / "keys" / "deploy")
    assert ssh.known_hosts_file == "/etc/ssh/known_hosts" and repos["ssh"].interval_seconds == 300.0
    basic = repos["https"].credentials
    assert basic is not None and (basic.username, basic.password_env) == ("bot", "GIT_PASSWORD")
    assert repos["https"].ref == "release-1.0" and repos["https"].interval_seconds == 90.0
    token = repos["token"].credentials
    assert token is not None and token.token_file == os.path.expanduser("~/token")


def test_local_repository_needs_allow_local_and_resolves_to_absolute_url(write: Write) -> None:
    path = write("cfg/repo.yaml", """\
        apiVersion: gitops.dev/v1alpha1
        kind: Repository
        metadata: {name: demo}
        spec: {url: "file://../demo-repo", allowLocal: true}
        """)
    repo = load_config(path).repositories["demo"]
    assert repo.url == "file://" + str(path.parent.parent / "demo-repo") and repo.allow_local


def test_cluster_by_kubeconfig_and_by_server(write: Write) -> None:
    path = write("clusters/c.yaml", """\
        apiVersion: gitops.dev/v1alpha1
        kind: Cluster
        metadata:
          name: dev
          labels: {env: dev, gitops.dev/region: eu-1}
        spec: {kubeconfig: ../kube/dev.yaml, context: kind-dev, qps: 5, timeout: 10s}
        ---
        apiVersion: gitops.dev/v1alpha1
        kind: Cluster
        metadata: {name: direct}
        spec: {server: "https://127.0.0.1:6443", caFile: ca.crt, tokenEnv: KUBE_TOKEN}
        """)
    clusters = load_config(path).clusters
    dev, direct = clusters["dev"], clusters["direct"]
    assert dev.kubeconfig == str(path.parent.parent / "kube" / "dev.yaml")
    assert (dev.context, dev.qps, dev.timeout_seconds) == ("kind-dev", 5.0, 10.0)
    assert dev.labels == {"env": "dev", "gitops.dev/region": "eu-1"}
    assert (direct.server, direct.ca_file, direct.token_env) == (
        "https://127.0.0.1:6443", str(path.parent / "ca.crt"), "KUBE_TOKEN")
    assert direct.kubeconfig is None and not direct.insecure_skip_tls_verify


def test_application_sets_are_validated_structurally(write: Write) -> None:
    path = write("r.yaml", """\
        apiVersion: gitops.dev/v1alpha1
        kind: ApplicationSet
        metadata: {name: per-cluster}
        spec:
          generators: [{clusters: {selector: {env: prod}}}]
          template: {spec: {source: {path: "apps/{{name}}"}}}
        """)
    config = load_config(path)
    (generator,) = config.application_sets["per-cluster"].generators
    assert generator.kind == "clusters" and generator.clusters is not None
    assert generator.clusters.selector.match_labels == {"env": "prod"}  # the matchLabels shorthand


def test_a_verification_policy_loads_now_that_it_is_enforced(write: Write) -> None:
    path = write("v.yaml", """\
        apiVersion: gitops.dev/v1alpha1
        kind: VerificationPolicy
        metadata: {name: signed}
        spec:
          mode: warn
          rules: [{images: ["ghcr.io/org/*"], keys: [{file: cosign.pub}]}]
        """)
    policy = load_config(path).verification_policies["signed"]
    assert policy.mode == "warn" and policy.rules[0].images == ["ghcr.io/org/*"]


def test_multi_document_file_with_empty_documents_and_comments(write: Write, base_text: str) -> None:
    text = "# header\n---\n---\n" + base_text + "---\n# only a comment\n---\n" + APP + "---\n"
    config = load_config(write("all.yaml", text))
    assert config.counts() == {"Repository": 1, "Cluster": 1, "Application": 1, "ApplicationSet": 0,
                               "VerificationPolicy": 0, "WebhookReceiver": 0,
                               "SyncWindow": 0, "Notification": 0}
    assert config.source_of("web") == (config.files[0], 20)
    assert config.source_of("demo") == (config.files[0], 4)
    assert config.source_of("prod", "Cluster") == (config.files[0], 11)
    with pytest.raises(KeyError):
        config.source_of("nope")


def test_directory_loads_recursively_in_sorted_order(write: Write, tmp_path: Path, base_text: str) -> None:
    write("b.yaml", base_text)
    write("a/z.yml", APP.replace("name: web", "name: zed"))
    write("a.yaml", APP)
    write("a/nested/deeper/x.yaml", APP.replace("name: web", "name: deep"))
    write("notes.txt", "not yaml: [")
    write(".hidden/bad.yaml", "kind: Nope\n")
    write(".git/config.yaml", "- broken")
    config = load_config(tmp_path)
    names = [os.path.relpath(f, tmp_path) for f in config.files]
    assert names == ["a/nested/deeper/x.yaml", "a/z.yml", "a.yaml", "b.yaml"]
    assert list(config.applications) == ["deep", "zed", "web"]
    assert load_config(str(tmp_path)).files == config.files  # deterministic, str or Path


def test_merge_keys_and_anchors_are_supported(write: Write, base_text: str) -> None:
    text = base_text + "---\n" + APP + """\
  ignoreDifferences:
    - &rule {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}
    - {<<: *rule, kind: StatefulSet}
    - *rule
"""
    rules = load_config(write("c.yaml", text)).applications["web"].ignore_differences
    assert [(r.group, r.kind, r.json_pointers) for r in rules] == [
        ("apps", "Deployment", ["/spec/replicas"]), ("apps", "StatefulSet", ["/spec/replicas"]),
        ("apps", "Deployment", ["/spec/replicas"])]


def test_models_are_frozen(write: Write, base_text: str) -> None:
    config = load_config(write("c.yaml", base_text))
    with pytest.raises(ValueError, match="frozen"):
        config.repositories["demo"].url = "https://evil.example.com/x"  # type: ignore[misc]


def test_python_callers_build_models_with_snake_case_names() -> None:
    app = Application(name="a", source=AppSource(repository="r", path="p", renderer="kustomize"),
                      destination=Destination(cluster="c"), sync_policy=SyncPolicy(self_heal=True))
    assert app.sync_policy.self_heal and app.ignore_differences == []
