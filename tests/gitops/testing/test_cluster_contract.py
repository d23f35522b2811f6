"""One contract, three clusters: the in-memory FakeCluster, and the real HTTP client on the sandbox and
on a real kube-apiserver (the ``real_cluster`` fixture: the control plane built from Go modules).

Every scenario runs against all three, through the Cluster port only (gitops/cluster), so the fake
the engine's unit tests rely on cannot drift from what the real client sees from an API server with
server-side apply semantics: what apply stores and returns, dry runs, field ownership and conflicts,
fields a manager stops applying, immutable fields, deletes, label selectors, and the errors
(NotFound, Conflict, ImmutableField, Invalid, InputError) with the details the engine reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops.clock import poll_until
from gitops.cluster import Cluster, ResourceInfo
from gitops.errors import Conflict, ImmutableField, InputError, Invalid, NotFound
from gitops.testing import FakeCluster
from gitops.vocabulary import ObjectRef

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from kubesandbox import Sandbox

    sb = Sandbox.start(kubeconfig=tmp_path_factory.mktemp("contract") / "kubeconfig.yaml")
    yield sb
    sb.stop()


@pytest.fixture(params=["fake", "sandbox", "real"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if request.param == "fake":
        yield FakeCluster("contract")
        return
    from gitops.cluster.rest import ClusterSettings, KubeCluster
    from gitops.cluster.throttle import RetryPolicy

    kubeconfig = (Path(request.getfixturevalue("sandbox").kubeconfig_path) if request.param == "sandbox"
                  else request.getfixturevalue("real_cluster"))
    real = KubeCluster(ClusterSettings("contract", kubeconfig=str(kubeconfig), qps=1000.0,
                                       timeout_seconds=10.0), retry_policy=RetryPolicy(attempts=1))
    yield real
    real.close()


@pytest.fixture
def ns(cluster: Cluster) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    cluster.apply(namespace, field_manager="setup")
    return name


def deploy(ns: str, replicas: int = 1, **spec: Any) -> dict[str, Any]:
    containers = [{"name": "web", "image": "nginx:1"}]
    pod = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": pod,
                     **spec}}


def cm(ns: str, name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, **({"labels": labels} if labels else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def managers(obj: dict[str, Any]) -> set[str]:
    return {e["manager"] for e in obj["metadata"].get("managedFields") or []}


def test_apply_creates_and_get_returns_what_the_server_stores(cluster: Cluster, ns: str) -> None:
    created = cluster.apply(cm(ns, "a", v="1"), field_manager="gitops")
    meta = created["metadata"]
    assert created["data"] == {"v": "1"} and meta["uid"] and meta["resourceVersion"]
    assert "creationTimestamp" in meta and managers(created) == {"gitops"}
    live = cluster.get(ObjectRef("", "ConfigMap", ns, "a", "v1"))
    assert live is not None and live["data"] == {"v": "1"} and live["metadata"]["uid"] == meta["uid"]
    dep = cluster.apply(deploy(ns), field_manager="gitops")
    assert dep["metadata"]["generation"] == 1


def test_a_dry_run_predicts_without_storing(cluster: Cluster, ns: str) -> None:
    ref = ObjectRef("", "ConfigMap", ns, "a", "v1")
    predicted = cluster.apply(cm(ns, "a", v="1"), field_manager="gitops", dry_run=True)
    assert predicted["data"] == {"v": "1"} and cluster.get(ref) is None
    cluster.apply(cm(ns, "a", v="1"), field_manager="gitops")
    changed = cluster.apply(cm(ns, "a", v="2"), field_manager="gitops", dry_run=True)
    live = cluster.get(ref)
    assert changed["data"] == {"v": "2"} and live is not None and live["data"] == {"v": "1"}


def test_another_managers_field_conflicts_until_forced(cluster: Cluster, ns: str) -> None:
    ref = ObjectRef("apps", "Deployment", ns, "web", "v1")
    cluster.apply(deploy(ns), field_manager="gitops")
    cluster.apply(deploy(ns, replicas=5), field_manager="kubectl-edit", force=True)
    with pytest.raises(Conflict) as info:
        cluster.apply(deploy(ns, replicas=2), field_manager="gitops")
    assert info.value.causes == [("kubectl-edit", ".spec.replicas")] and not info.value.temporary
    live = cluster.get(ref)
    assert live is not None and live["spec"]["replicas"] == 5
    forced = cluster.apply(deploy(ns, replicas=2), field_manager="gitops", force=True)
    assert forced["spec"]["replicas"] == 2 and forced["metadata"]["generation"] == 3
    assert managers(forced) >= {"gitops"}
    with pytest.raises(Conflict) as lost:  # forcing took the field over: now the other manager conflicts
        cluster.apply(deploy(ns, replicas=5), field_manager="kubectl-edit", dry_run=True)
    assert lost.value.causes == [("gitops", ".spec.replicas")]


def test_fields_a_manager_stops_applying_are_removed(cluster: Cluster, ns: str) -> None:
    cluster.apply(cm(ns, "a", v="1", w="2"), field_manager="gitops")
    smaller = cluster.apply(cm(ns, "a", v="1"), field_manager="gitops")
    assert smaller["data"] == {"v": "1"}


def test_an_immutable_field_is_refused_with_its_name(cluster: Cluster, ns: str) -> None:
    cluster.apply(deploy(ns), field_manager="gitops")
    changed = deploy(ns)
    changed["spec"]["selector"] = {"matchLabels": {"app": "v2"}}
    changed["spec"]["template"]["metadata"]["labels"] = {"app": "v2"}
    with pytest.raises(ImmutableField) as info:
        cluster.apply(changed, field_manager="gitops")
    assert info.value.fields == ["spec.selector"] and info.value.status == 422


def test_list_by_label_selector_sets_kind_and_api_version(cluster: Cluster, ns: str) -> None:
    cluster.apply(cm(ns, "a", {"app": "x"}), field_manager="gitops")
    cluster.apply(cm(ns, "b", {"app": "y"}), field_manager="gitops")
    found = cluster.list("v1", "ConfigMap", namespace=ns, label_selector="app=y")
    assert [(o["kind"], o["apiVersion"], o["metadata"]["name"]) for o in found] == [("ConfigMap", "v1", "b")]
    everywhere = cluster.list("v1", "ConfigMap", label_selector="app=x")
    assert [o["metadata"]["name"] for o in everywhere if o["metadata"]["namespace"] == ns] == ["a"]


def test_delete_then_get_and_delete_again(cluster: Cluster, ns: str) -> None:
    ref = ObjectRef("", "ConfigMap", ns, "a", "v1")
    cluster.apply(cm(ns, "a"), field_manager="gitops")
    assert cluster.delete(ref) is True
    assert cluster.get(ref) is None and cluster.delete(ref) is False


def test_create_names_a_generate_name_object_and_refuses_a_taken_name(cluster: Cluster, ns: str) -> None:
    template = cm(ns, "unused", v="1")
    template["metadata"] = {"generateName": "hook-", "namespace": ns}
    first, second = (cluster.create(template, field_manager="gitops") for _ in range(2))
    names = {first["metadata"]["name"], second["metadata"]["name"]}
    assert len(names) == 2 and all(n.startswith("hook-") and len(n) > len("hook-") for n in names)
    assert first["kind"] == "ConfigMap" and first["apiVersion"] == "v1"
    assert "gitops" in managers(first)
    stored = cluster.get(ObjectRef("", "ConfigMap", ns, first["metadata"]["name"], "v1"))
    assert stored is not None and stored["data"] == {"v": "1"}
    cluster.create(cm(ns, "named"), field_manager="gitops")
    with pytest.raises(Conflict):
        cluster.create(cm(ns, "named"), field_manager="gitops")
    hostile = cm(ns, "unused")
    hostile["metadata"] = {"generateName": "../secrets-", "namespace": ns}
    with pytest.raises(InputError):
        cluster.create(hostile, field_manager="gitops")


def test_unserved_kinds_and_hostile_names_are_refused(cluster: Cluster, ns: str) -> None:
    with pytest.raises(NotFound):
        cluster.list("example.com/v1", "Nothing")
    with pytest.raises(NotFound):
        cluster.resource_for("example.com/v1", "Nothing")
    with pytest.raises(InputError):
        cluster.apply(cm(ns, "../secrets"), field_manager="gitops")


def test_what_the_server_refuses_in_an_apply_body(cluster: Cluster, ns: str) -> None:
    created = cluster.apply(cm(ns, "a", v="1"), field_manager="gitops")
    exported = cm(ns, "a", v="2")
    exported["metadata"]["managedFields"] = created["metadata"]["managedFields"]
    with pytest.raises(Invalid):
        cluster.apply(exported, field_manager="gitops")
    fresh = cm(ns, "new")
    fresh["metadata"]["resourceVersion"] = "1"  # an apply that creates ignores it (kube-apiserver 1.36)
    made = cluster.apply(fresh, field_manager="gitops")
    assert made["metadata"]["name"] == "new" and made["metadata"].get("uid")
    stale = cm(ns, "a", v="3")
    stale["metadata"]["resourceVersion"] = "1"
    with pytest.raises(Conflict) as info:
        cluster.apply(stale, field_manager="gitops")
    assert info.value.temporary and info.value.causes == []


def test_fields_of_another_manager_survive_our_apply(cluster: Cluster, ns: str) -> None:
    cluster.apply(cm(ns, "a", v="1"), field_manager="gitops")
    theirs = cluster.apply(cm(ns, "a", {"team": "web"}), field_manager="labeller")
    assert theirs["metadata"]["labels"] == {"team": "web"} and theirs["data"] == {"v": "1"}
    ours = cluster.apply(cm(ns, "a", v="2"), field_manager="gitops")
    assert ours["metadata"]["labels"] == {"team": "web"} and ours["data"] == {"v": "2"}
    assert managers(ours) == {"gitops", "labeller"}


def test_a_custom_resource_is_served_once_its_definition_exists(cluster: Cluster, ns: str) -> None:
    group = f"{ns}.example.com"
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"widgets.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema}]}}
    with pytest.raises(NotFound):
        cluster.resource_for(f"{group}/v1", "Widget")
    cluster.apply(crd, field_manager="gitops")

    def discovered() -> ResourceInfo | None:  # a real API server serves a new CRD after a moment
        cluster.invalidate_discovery()
        try:
            return cluster.resource_for(f"{group}/v1", "Widget")
        except NotFound:
            return None

    info = poll_until(discovered, 10)
    assert info is not None, f"widgets.{group} was never served"
    assert (info.plural, info.namespaced, info.api_version) == ("widgets", True, f"{group}/v1")
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": ns},
              "spec": {"size": 3}}
    created = cluster.apply(widget, field_manager="gitops")
    assert created["spec"] == {"size": 3} and created["kind"] == "Widget"
    [listed] = cluster.list(f"{group}/v1", "Widget", namespace=ns)
    assert listed["metadata"]["name"] == "w" and listed["kind"] == "Widget"
