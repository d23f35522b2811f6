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
    import subprocess

    from gitops.adapters import RenderersPort
    from gitops.errors import VerificationFailed
    from gitops.sources import GitSource
    from gitops.state import InMemoryStore
    from gitops.vocabulary import Trigger
    from workers.engine_port import EngineReconciler

    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", "-C", str(repo), *ident, *args], check=True, capture_output=True)
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
  source: {{repository: repo, path: app}}
  destination: {{cluster: prod, namespace: web}}
""")
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
