"""Repository settings the Git layer reads: the remote-base host allow-list and the snapshot caps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.config import load_config, to_fleet
from gitops.errors import Problem
from gitops.sources import RepoSpec

Write = Callable[[str, str], Path]
Problems = Callable[[Path], list[Problem]]


def _repo(extra: str) -> str:
    return ("apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: r}\n"
            f"spec: {{url: 'https://git.example.com/org/r.git', {extra}}}\n")


def test_remote_base_hosts_and_snapshot_limits_reach_the_git_layer(write: Write) -> None:
    path = write("r.yaml", _repo(
        "remoteBaseHosts: [Git.Example.com, 'git.example.com:8443', '*.corp.example', '[::1]:9418', "
        "127.0.0.1], "
        "snapshotLimits: {maxBytes: 256Mi, maxEntries: 5000, maxFileBytes: 1048576}"))
    repo = load_config(path).repositories["r"]
    assert repo.remote_base_hosts == ("git.example.com", "git.example.com:8443", "*.corp.example",
                                      "[::1]:9418", "127.0.0.1")
    assert repo.snapshot_limits is not None
    assert (repo.snapshot_limits.max_bytes, repo.snapshot_limits.max_entries,
            repo.snapshot_limits.max_file_bytes) == (256 * 2**20, 5000, 2**20)
    spec = RepoSpec.from_config(to_fleet(load_config(path)).repositories["r"])
    assert spec.remote_base_hosts == repo.remote_base_hosts
    assert spec.limits is not None
    assert (spec.limits.max_total_bytes, spec.limits.max_entries, spec.limits.max_file_bytes) == (
        256 * 2**20, 5000, 2**20)


def test_defaults_leave_the_allow_list_to_the_configured_repositories(write: Write) -> None:
    loaded = load_config(write("r.yaml", _repo("ref: main")))
    repo = loaded.repositories["r"]
    assert repo.remote_base_hosts is None and repo.snapshot_limits is None
    assert RepoSpec.from_config(to_fleet(loaded).repositories["r"]).remote_base_hosts is None


@pytest.mark.parametrize(("extra", "field"), [
    ("remoteBaseHosts: ['https://git.example.com']", "spec.remoteBaseHosts[0]"),
    ("remoteBaseHosts: [git.example.com/org]", "spec.remoteBaseHosts[0]"),
    ("remoteBaseHosts: ['*']", "spec.remoteBaseHosts[0]"),
    ("remoteBaseHosts: ['-oProxyCommand=x']", "spec.remoteBaseHosts[0]"),
    ("remoteBaseHosts: [ok.example, 'h:0']", "spec.remoteBaseHosts[1]"),
    ("remoteBaseHosts: ['h:99999']", "spec.remoteBaseHosts[0]"),
    ("remoteBaseHosts: ['user@h']", "spec.remoteBaseHosts[0]"),
    ("remoteBaseHosts: ['169.254.169.254']", "spec.remoteBaseHosts[0]"),
    ("remoteBaseHosts: [metadata.google.internal]", "spec.remoteBaseHosts[0]"),
    ("snapshotLimits: {maxBytes: 0}", "spec.snapshotLimits.maxBytes"),
    ("snapshotLimits: {maxBytes: -5}", "spec.snapshotLimits.maxBytes"),
    ("snapshotLimits: {maxBytes: '1 GB'}", "spec.snapshotLimits.maxBytes"),
    ("snapshotLimits: {maxBytes: 10Qi}", "spec.snapshotLimits.maxBytes"),
    ("snapshotLimits: {maxEntries: 0}", "spec.snapshotLimits.maxEntries"),
    ("snapshotLimits: {maxFiles: 10}", "spec.snapshotLimits.maxFiles"),
])
def test_bad_settings_are_located(write: Write, problems: Problems, extra: str, field: str) -> None:
    (problem,) = problems(write("r.yaml", _repo(extra)))
    assert problem.field == field, problem


@pytest.mark.parametrize(("text", "value"), [("1Gi", 2**30), ("512Mi", 512 * 2**20), ("10k", 10_000),
                                             ("2G", 2 * 10**9), ("4096", 4096), ("100Ki", 102_400)])
def test_sizes_accept_kubernetes_quantities(write: Write, text: str, value: int) -> None:
    repo = load_config(write("r.yaml", _repo(f"snapshotLimits: {{maxBytes: '{text}'}}"))).repositories["r"]
    assert repo.snapshot_limits is not None and repo.snapshot_limits.max_bytes == value
