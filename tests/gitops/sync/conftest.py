"""Fixtures for the sync tests (plan, apply, prune and health over a cluster): a cluster backend
and a per-test environment.

``backend`` is parametrized: the sandbox API server (always), and a real cluster: the one
GITOPS_E2E_KUBECONFIG names (never the user's default KUBECONFIG), else the control plane built from
Kubernetes' Go modules (the ``real_cluster`` fixture of tests/conftest.py). Each test gets its
own namespace and application name, so tests never see each other's objects.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from gitops.cluster.rest import ClusterSettings, KubeCluster
from gitops.cluster.throttle import RetryPolicy
from gitops.config import load_config, to_fleet
from gitops.engine import Ports, ReconcileRequest, ReconcileResult, reconcile
from gitops.testing import FakeClusters, FakeSource, StaticRenderer
from tests.configkit import e2e_app

_counter = itertools.count(1)


@dataclass
class Backend:
    kind: str
    kubeconfig: Path
    sandbox: Any = None

    def cluster(self, timeout: float = 5.0) -> KubeCluster:
        return KubeCluster(
            ClusterSettings("e2e", kubeconfig=str(self.kubeconfig), timeout_seconds=timeout, qps=1000.0),
            retry_policy=RetryPolicy(attempts=4, base_delay=0.05),
        )

    def raw(self) -> k8s.ApiClient:
        return k8s_config.new_client_from_config(config_file=str(self.kubeconfig))


@pytest.fixture(scope="module", params=["sandbox", "cluster"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    if request.param == "cluster":  # GITOPS_E2E_KUBECONFIG, or the control plane built from Go modules
        yield Backend("cluster", request.getfixturevalue("real_cluster"))
        return
    from kubesandbox import Sandbox

    kubeconfig = tmp_path_factory.mktemp("sandbox") / "kubeconfig.yaml"
    sandbox = Sandbox.start(kubeconfig=kubeconfig, controller_delay=0.1)
    try:
        yield Backend("sandbox", kubeconfig, sandbox)
    finally:
        sandbox.stop()


@dataclass
class Env:
    """One application in its own namespace on the backend."""

    backend: Backend
    tmp: Path
    app: str
    namespace: str
    cluster: KubeCluster
    renderer: StaticRenderer = field(default_factory=StaticRenderer)

    def request(
        self,
        policy: str = "{automated: true, prune: true}",
        ignore: str = "[]",
        timeout: str = "5s",
        **kw: Any,
    ) -> ReconcileRequest:
        path = self.tmp / f"config-{next(_counter)}.yaml"
        path.write_text(
            e2e_app(self.backend.kubeconfig, timeout=timeout, app=self.app, namespace=self.namespace,
                    policy=policy, ignore=ignore)
        )
        return ReconcileRequest(*to_fleet(load_config(path)).lookup(self.app, "e2e"), **kw)

    def sync(self, manifests: list[dict[str, Any]] | None = None, **kw: Any) -> ReconcileResult:
        if manifests is not None:
            self.renderer.manifests = manifests
        kw.setdefault("sync", True)
        ports = Ports(FakeSource(), self.renderer, FakeClusters({"e2e": self.cluster}))
        return reconcile(self.request(**kw), ports)

    def writes(self) -> int:
        return int(self.backend.sandbox.stats.count(write=True)) if self.backend.sandbox else -1

    def reset_stats(self) -> None:
        if self.backend.sandbox:
            self.backend.sandbox.stats.reset()

    def kubectl_patch(self, path: str, patch: dict[str, Any], manager: str = "kubectl-edit") -> Any:
        """A kubectl-style JSON merge PATCH as another field manager."""
        api = self.backend.raw()
        try:
            resp = api.call_api(
                path,
                "PATCH",
                query_params=[("fieldManager", manager)],
                body=patch,
                header_params={"Content-Type": "application/merge-patch+json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
            )
            return json.loads(resp.data)
        finally:
            api.close()


@pytest.fixture
def env(backend: Backend, tmp_path: Path) -> Iterator[Env]:
    suffix = uuid.uuid4().hex[:8]
    cluster = backend.cluster()
    namespace = f"e2e-{suffix}"
    cluster.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, field_manager="e2e-setup"
    )
    e = Env(backend, tmp_path, f"app-{suffix}", namespace, cluster)
    yield e
    if backend.sandbox:
        backend.sandbox.faults.clear()
    if backend.kind == "cluster":  # leave a real cluster as we found it
        from gitops import prune
        from gitops.vocabulary import ObjectRef, Target

        cluster.delete(ObjectRef("", "Namespace", "", namespace, "v1"))
        cluster.delete(
            ObjectRef("", "ConfigMap", prune.NAMESPACE, prune.inventory_name(Target(e.app, "e2e")), "v1")
        )
        crd = f"widgets.{e.app}.example.com"
        cluster.delete(ObjectRef("apiextensions.k8s.io", "CustomResourceDefinition", "", crd, "v1"))
    cluster.close()
