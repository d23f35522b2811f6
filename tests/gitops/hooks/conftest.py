"""Fixtures for the hook tests against the sandbox API server: one sandbox per module (its controller
completes a Job after ``DELAY`` seconds, and fails it when an image contains ``fail``), and per test an
application in its own namespace synced through the engine with a static renderer."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitops.cluster.rest import ClusterSettings, KubeCluster
from gitops.cluster.throttle import RetryPolicy
from gitops.config import load_config, to_fleet
from gitops.engine import Ports, ReconcileRequest, ReconcileResult, delete, reconcile
from gitops.testing import FakeClusters, FakeSource, StaticRenderer
from tests.configkit import e2e_app

DELAY = 0.2
_counter = itertools.count(1)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from kubesandbox import Sandbox

    kubeconfig = tmp_path_factory.mktemp("hooks") / "kubeconfig.yaml"
    sb = Sandbox.start(kubeconfig=kubeconfig, controller_delay=DELAY)
    yield sb
    sb.stop()


@dataclass
class App:
    """One application in its own namespace of the sandbox."""

    kubeconfig: Path
    tmp: Path
    name: str
    namespace: str
    cluster: KubeCluster
    renderer: StaticRenderer = field(default_factory=StaticRenderer)
    source: FakeSource = field(default_factory=FakeSource)

    def request(self, policy: str = "{automated: true, prune: true}", **kw: Any) -> ReconcileRequest:
        path = self.tmp / f"config-{next(_counter)}.yaml"
        path.write_text(e2e_app(self.kubeconfig, app=self.name, namespace=self.namespace, policy=policy))
        return ReconcileRequest(*to_fleet(load_config(path)).lookup(self.name, "e2e"), **kw)

    def ports(self) -> Ports:
        return Ports(self.source, self.renderer, FakeClusters({"e2e": self.cluster}))

    def sync(self, manifests: list[dict[str, Any]] | None = None, **kw: Any) -> ReconcileResult:
        if manifests is not None:
            self.renderer.manifests = manifests
        kw.setdefault("sync", True)
        return reconcile(self.request(**kw), self.ports())

    def delete(self, **kw: Any) -> ReconcileResult:
        return delete(self.request(**kw), self.ports())


@pytest.fixture
def app(sandbox: Any, tmp_path: Path) -> Iterator[App]:
    suffix = uuid.uuid4().hex[:8]
    cluster = KubeCluster(ClusterSettings("e2e", kubeconfig=str(sandbox.kubeconfig_path), timeout_seconds=5.0,
                                          qps=1000.0), retry_policy=RetryPolicy(attempts=4, base_delay=0.05))
    namespace = f"h-{suffix}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                  field_manager="setup")
    yield App(Path(sandbox.kubeconfig_path), tmp_path, f"app-{suffix}", namespace, cluster)
    cluster.close()
