"""A CRD can be Established while discovery does not serve its kind yet (kube-apiserver's discovery
controller is asynchronous; tests/gitops/sync/test_e2e_sync.py's CRD scenario met it on the real
server as "kind Widget is not served"): the applier waits, bounded, until discovery serves the new kind
before applying its custom resources."""

from __future__ import annotations

from typing import Any

from gitops.apply import ApplyOptions, apply_plan
from gitops.cluster import ResourceInfo, builtin
from gitops.errors import NotFound
from gitops.testing import FakeCluster
from gitops.vocabulary import Action
from tests.gitops.sync.test_apply import planned

FAST = ApplyOptions(definition_timeout=0.2, poll_interval=0.01, wave_timeout=0.2)
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
             "versions": [{"name": "v1", "served": True, "storage": True}]},
    "status": {"conditions": [{"type": "Established", "status": "True"}]},
}
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1}}


class LaggingDiscovery(FakeCluster):
    """Discovery answers "not served" for a CRD's kind ``lag`` more times once the CRD exists."""

    def __init__(self, lag: int) -> None:
        super().__init__("c1")
        self.lag = lag
        self.misses = 0

    def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        info = super().resource_for(api_version, kind)  # NotFound while the CRD does not exist
        if builtin(api_version, kind) is None and self.lag > 0:
            self.lag -= 1
            self.misses += 1
            raise NotFound(f"kind {kind} is not served by {api_version}", status=404)
        return info


def test_custom_resources_wait_until_discovery_serves_their_kind() -> None:
    cluster = LaggingDiscovery(lag=3)
    done = apply_plan(cluster, planned(cluster, [WIDGET, CRD]), FAST)
    assert not done.failed, done.failed
    assert {r.ref.kind: r.action for r in done.results} == {"CustomResourceDefinition": Action.CREATED,
                                                            "Widget": Action.CREATED}
    assert cluster.misses == 3
    assert ("example.com", "Widget", "demo", "w1") in cluster.objects


def test_a_kind_never_served_fails_its_resources_after_the_bounded_wait() -> None:
    cluster = LaggingDiscovery(lag=10**6)
    done = apply_plan(cluster, planned(cluster, [WIDGET, CRD]), FAST)
    [failed] = done.failed
    assert failed.ref.kind == "Widget" and "is not served" in (failed.error or "")
    assert {r.ref.kind: r.action for r in done.results}["CustomResourceDefinition"] is Action.CREATED
