"""The one conversion from the configuration models to the engine's typed values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gitops.config import load_config, to_fleet
from gitops.domain import (
    Application,
    AppSource,
    Cluster,
    Credentials,
    Destination,
    IgnoreRule,
    Repository,
    RetryPolicy,
    SnapshotLimits,
    SyncPolicy,
)
from gitops.errors import ConfigError
from gitops.vocabulary import ObjectRef, Target
from renderers.budget import Budget

CONFIG = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: repo}
spec:
  url: https://git.example.com/org/repo.git
  ref: release
  interval: 2m
  credentials: {username: deploy, tokenEnv: GIT_TOKEN}
  remoteBaseHosts: [github.com]
  snapshotLimits: {maxBytes: 1Mi, maxEntries: 100}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: prod, labels: {env: prod}}
spec: {server: "https://127.0.0.1:6443", tokenEnv: KUBE_TOKEN, qps: 5, timeout: 10s}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {name: web}
spec:
  source:
    repository: repo
    path: apps/web
    revision: v1
    renderer: jinja
    options: {strict: true}
    parameters: {replicas: 2}
    budget: {maxObjects: 50}
  destination: {cluster: prod, namespace: web}
  syncPolicy:
    automated: true
    prune: true
    selfHeal: true
    pruneMaxShare: 0.25
    fieldManager: ops
    retry: {limit: 2, backoff: 1s, factor: 3, maxBackoff: 9s}
  ignoreDifferences:
    - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas], managedFieldsManagers: [hpa]}
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    out = tmp_path / "config.yaml"
    out.write_text(CONFIG)
    return out


def test_every_field_is_converted(path: Path) -> None:
    fleet = to_fleet(load_config(path))
    assert fleet.repositories["repo"] == Repository(
        "repo", "https://git.example.com/org/repo.git", "release", False,
        Credentials(username="deploy", token_env="GIT_TOKEN"), ("github.com",),
        SnapshotLimits(max_bytes=1024 * 1024, max_entries=100), 120.0)
    assert fleet.clusters["prod"] == Cluster("prod", {"env": "prod"}, server="https://127.0.0.1:6443",
                                             token_env="KUBE_TOKEN", qps=5.0, timeout_seconds=10.0)
    assert fleet.applications["web"] == Application(
        "web",
        AppSource("repo", "apps/web", "v1", "jinja", {"strict": True}, {"replicas": 2},
                  Budget(max_objects=50)),
        Destination("prod", "web"),
        SyncPolicy(automated=True, prune=True, self_heal=True, prune_max_share=0.25, field_manager="ops",
                   retry=RetryPolicy(2, 1.0, 3.0, 9.0)),
        (IgnoreRule("apps", "Deployment", json_pointers=("/spec/replicas",), managers=("hpa",)),))


def test_values_are_frozen_and_rules_match_refs(path: Path) -> None:
    app = to_fleet(load_config(path)).applications["web"]
    with pytest.raises(AttributeError):
        app.name = "other"  # type: ignore[misc]
    [rule] = app.ignore_differences
    assert rule.matches(ObjectRef("apps", "Deployment", "web", "x", "v1"))
    assert not rule.matches(ObjectRef("", "ConfigMap", "web", "x", "v1"))


def test_lookup_gives_one_targets_inputs_or_a_located_error(path: Path) -> None:
    fleet = to_fleet(load_config(path))
    placement = fleet.lookup("web")
    assert placement.target == Target("web", "prod") and placement.repository.name == "repo"
    with pytest.raises(ConfigError, match="no application named 'nope'") as info:
        fleet.lookup("nope", file="config.yaml")
    assert info.value.problems[0].file == "config.yaml"
    with pytest.raises(ConfigError, match="no cluster named 'dev'"):
        fleet.lookup("web", "dev")


def test_the_domain_loads_no_configuration_or_client_library() -> None:
    code = ("import sys, gitops.domain; "
            "print(sorted({'pydantic', 'pygit2', 'kubernetes'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
