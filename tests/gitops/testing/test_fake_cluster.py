"""The in-memory FakeCluster behaves like the API server where the engine depends on it."""

from __future__ import annotations

import pytest

from gitops.errors import ClusterUnavailable, Conflict, ImmutableField, InputError, NotFound
from gitops.testing import FakeCluster, FakeClusters, fake_ports
from gitops.vocabulary import ObjectRef

DEP = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d", "namespace": "n"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "paused": False},
}
REF = ObjectRef("apps", "Deployment", "n", "d", "v1")


def test_apply_tracks_ownership_conflicts_and_dry_run() -> None:
    cluster = FakeCluster()
    created = cluster.apply(DEP, field_manager="gitops")
    assert (
        created["metadata"]["generation"] == 1
        and created["metadata"]["managedFields"][0]["manager"] == "gitops"
    )
    dry = cluster.apply({**DEP, "spec": {**DEP["spec"], "replicas": 3}}, field_manager="gitops", dry_run=True)
    assert dry["spec"]["replicas"] == 3 and cluster.get(REF)["spec"]["replicas"] == 1  # type: ignore[index]
    cluster.edit(REF, {"spec": {"replicas": 2}}, "kubectl-edit")
    with pytest.raises(Conflict) as info:
        cluster.apply(DEP, field_manager="gitops")
    assert info.value.causes == [("kubectl-edit", ".spec.replicas")]
    forced = cluster.apply(DEP, field_manager="gitops", force=True)
    assert forced["spec"]["replicas"] == 1 and forced["metadata"]["generation"] == 3


def test_fields_a_manager_stops_applying_are_removed() -> None:
    cluster = FakeCluster()
    cluster.apply(DEP, field_manager="gitops")
    smaller = {**DEP, "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}}}
    assert "paused" not in cluster.apply(smaller, field_manager="gitops")["spec"]


def test_errors_like_the_real_client() -> None:
    cluster = FakeCluster()
    cluster.apply(DEP, field_manager="gitops")
    with pytest.raises(ImmutableField) as info:
        cluster.apply(
            {**DEP, "spec": {**DEP["spec"], "selector": {"matchLabels": {"x": "y"}}}}, field_manager="g"
        )
    assert info.value.fields == ["spec.selector"]
    with pytest.raises(NotFound):
        cluster.list("example.com/v1", "Nothing")
    with pytest.raises(InputError):
        cluster.apply({**DEP, "metadata": {"name": "../x", "namespace": "n"}}, field_manager="g")
    cluster.faults.append(ClusterUnavailable("boom"))
    with pytest.raises(ClusterUnavailable):
        cluster.get(REF)
    assert cluster.get(REF) is not None and cluster.delete(REF) and not cluster.delete(REF)


def test_label_selector_and_ports_factory() -> None:
    cluster = FakeCluster("c")
    for name, app in (("a", "x"), ("b", "y")):
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "n", "labels": {"app": app}},
            },
            field_manager="g",
        )
    assert [o["metadata"]["name"] for o in cluster.list("v1", "ConfigMap", label_selector="app=y")] == ["b"]
    ports = fake_ports([], cluster, name="c")
    assert isinstance(ports.clusters, FakeClusters)

    class Cfg:
        name = "c"

    assert ports.clusters.connect(Cfg()) is cluster
