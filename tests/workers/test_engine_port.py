"""The production ports read the configuration: targets, intervals, pinned revisions, retry policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.config import load_config, to_fleet
from gitops.errors import ConfigError
from gitops.vocabulary import Target
from workers.engine_port import ConfigCatalog, runtime_from_config
from workers.ports import Retry
from workers.settings import Settings

CONFIG = """apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: repo}
spec: {url: "file:///nonexistent/repo", allowLocal: true, interval: 45s}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: prod}
spec: {server: "https://127.0.0.1:6443"}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {name: web}
spec:
  source: {repository: repo, path: apps/web}
  destination: {cluster: prod}
  syncPolicy: {automated: true, selfHeal: true, retry: {limit: 2, backoff: 1s, factor: 3, maxBackoff: 9s}}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {name: pinned}
spec:
  source: {repository: repo, path: apps/pinned, revision: v1.2.3}
  destination: {cluster: prod}
"""


def test_catalog_from_configuration(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    catalog = ConfigCatalog(to_fleet(load_config(tmp_path / "c.yaml")))
    assert catalog.repositories() == {"repo": 45.0}
    web = catalog.target(Target("web", "prod"))
    assert web is not None and web.path == "apps/web" and web.self_heal and web.follows_head
    assert web.retry == Retry(limit=2, base=1.0, factor=3.0, cap=9.0)
    pinned = catalog.target(Target("pinned", "prod"))
    assert pinned is not None and not pinned.follows_head and not pinned.self_heal
    assert catalog.target(Target("web", "dev")) is None
    assert len(catalog.targets()) == 2


def test_runtime_needs_a_configuration() -> None:
    with pytest.raises(ConfigError, match="GITOPS_CONFIG"):
        runtime_from_config(Settings(config_path=None))


def test_a_verifier_plugs_into_the_workers_engine_through_the_engines_wiring(tmp_path: Path) -> None:
    from gitops.adapters import RenderersPort
    from gitops.errors import VerificationFailed
    from gitops.sources import GitSource
    from gitops.state import InMemoryStore
    from gitops.vocabulary import Trigger
    from workers.engine_port import EngineReconciler

    _git_app(tmp_path)  # one ConfigMap in a local repository, and its configuration in c.yaml
    seen: list[str] = []

    class Refuse:
        def verify(self, manifests: list[dict[str, object]], target: Target) -> None:
            seen.extend(str(m["kind"]) for m in manifests)
            raise VerificationFailed("image not signed")

    refuse = Refuse()
    reconciler = EngineReconciler(to_fleet(load_config(tmp_path / "c.yaml")), GitSource(tmp_path / "git"),
                                  InMemoryStore(), verifier=refuse)
    result = reconciler.reconcile(Target("web", "prod"), trigger=Trigger.POLL, sync=True)
    assert seen == ["ConfigMap"] and result.error and "image not signed" in result.error
    assert not result.temporary and result.failure is not None and result.failure.kind == "VerificationFailed"
    ports = reconciler._engine_ports()  # the engine's own wiring: real renderers, the verifier plugged in
    assert ports.verifier is refuse and isinstance(ports.renderer, RenderersPort)


def _git_app(tmp_path: Path, revision: str | None = None) -> tuple[Path, Path]:
    """A local repository with one ConfigMap (committed at a fixed time) and a configuration for it."""
    import os
    import subprocess

    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {v: '1'}\n")
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    env = {**os.environ, "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
           "GIT_AUTHOR_DATE": "2025-06-01T00:00:00+00:00"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", "-C", str(repo), *ident, *args], check=True, capture_output=True, env=env)
    return repo, _git_config(tmp_path, repo, revision)


def _git_config(tmp_path: Path, repo: Path, revision: str | None = None) -> Path:
    pin = f", revision: {revision}" if revision else ""
    (tmp_path / "c.yaml").write_text(f"""apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: repo}}
spec: {{url: "{repo}", allowLocal: true}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: prod}}
spec: {{server: "https://127.0.0.1:1"}}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {{name: web}}
spec:
  source: {{repository: repo, path: app{pin}}}
  destination: {{cluster: prod, namespace: web}}
""")
    return tmp_path / "c.yaml"


class _StopAtVerify:
    """Refuses every image: the reconcile stops before any cluster is needed."""

    def verify(self, manifests: list[dict[str, object]], target: Target) -> None:
        from gitops.errors import VerificationFailed

        raise VerificationFailed("stop here")


def test_the_workers_engine_reports_commit_time_manifests_and_trace_from_real_git(tmp_path: Path) -> None:
    from gitops.sources import GitSource
    from gitops.state import InMemoryStore
    from gitops.vocabulary import Trigger
    from workers.engine_port import EngineReconciler

    _, config = _git_app(tmp_path)
    reconciler = EngineReconciler(to_fleet(load_config(config)), GitSource(tmp_path / "git"), InMemoryStore(),
                                  verifier=_StopAtVerify())
    result = reconciler.reconcile(Target("web", "prod"), trigger=Trigger.POLL)
    assert result.failure is not None and result.failure.kind == "VerificationFailed"
    assert result.commit_time == 1_767_225_600.0  # the committer's time, not the author's
    assert [s.name for s in result.spans] == ["resolve", "render", "verify"]
    assert result.spans[-1].error == "stop here" and result.manifests_digest
    assert "name: a" in result.rendered and "v: '1'" in result.rendered


def test_hard_refresh_drops_the_snapshots_of_the_current_and_the_next_revision(tmp_path: Path) -> None:
    import subprocess

    from gitops.sources import GitSource, RepoSpec
    from gitops.state import InMemoryStore, records_from_result
    from gitops.vocabulary import Trigger
    from workers.engine_port import EngineReconciler

    repo, config = _git_app(tmp_path)
    git, store, target = GitSource(tmp_path / "git"), InMemoryStore(), Target("web", "prod")
    fleet = to_fleet(load_config(config))
    reconciler = EngineReconciler(fleet, git, store, verifier=_StopAtVerify())
    assert reconciler.hard_refresh(target).startswith("no snapshot to drop of ")  # nothing built yet
    first = reconciler.reconcile(target, trigger=Trigger.POLL)
    assert first.revision is not None
    store.record(*records_from_result(first, operation_id="o1", trigger=Trigger.POLL))
    assert (store.status(target) or first).revision == first.revision
    (repo / "app" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam",
                    "2"], check=True, capture_output=True)
    second = reconciler.reconcile(target, trigger=Trigger.POLL)
    assert second.revision not in (None, first.revision)
    spec = RepoSpec.from_config(fleet.repositories["repo"])
    snapshots = {r: git.layout.snapshot_dir(spec, r) for r in (first.revision, second.revision)}
    assert all(p.is_dir() for p in snapshots.values())
    said = reconciler.hard_refresh(target)
    revs = sorted(r[:12] for r in snapshots)
    assert said == f"dropped the snapshot of {', '.join(revs)}"
    assert not any(p.exists() for p in snapshots.values())
    again = reconciler.reconcile(target, trigger=Trigger.POLL)  # built again from the Git objects
    assert again.revision == second.revision and "name: b" in again.rendered
    assert snapshots[second.revision].is_dir()


def test_hard_refresh_of_a_pinned_revision_and_of_an_unreachable_remote(tmp_path: Path) -> None:
    import shutil
    import subprocess

    from gitops.sources import GitSource
    from gitops.state import InMemoryStore
    from gitops.vocabulary import Trigger
    from workers.engine_port import EngineReconciler

    repo, following = _git_app(tmp_path)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / "pinned").mkdir()
    pinned = _git_config(tmp_path / "pinned", repo, head)
    git, target, stop = GitSource(tmp_path / "git"), Target("web", "prod"), _StopAtVerify()
    by_pin = EngineReconciler(to_fleet(load_config(pinned)), git, InMemoryStore(), verifier=stop)
    by_head = EngineReconciler(to_fleet(load_config(following)), git, InMemoryStore(), verifier=stop)
    by_pin.reconcile(target, trigger=Trigger.POLL)
    assert by_pin.hard_refresh(target) == f"dropped the snapshot of {head[:12]}"  # no listing needed
    by_pin.reconcile(target, trigger=Trigger.POLL)
    shutil.rmtree(repo)  # the remote is gone
    assert by_pin.hard_refresh(target) == f"dropped the snapshot of {head[:12]}"
    said = by_head.hard_refresh(target)
    assert said.startswith("head not listed (") and "repo" in said  # what it could not do, said
