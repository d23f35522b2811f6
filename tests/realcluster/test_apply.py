"""What the API server decides when the engine writes: server-side apply conflicts and who owns a field
afterwards, dry runs that persist nothing, validation and admission refusals in Kubernetes' own words,
immutable fields and recreation, a CRD and its custom resources in one sync.

Marker: real_cluster (set on collection by tests/conftest.py): the real API server, never the sandbox.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from gitops import prune
from gitops.plan import managed
from gitops.results import ObjectResult
from gitops.vocabulary import Action, HealthStatus, SyncStatus, Target, Trigger
from tests.gitops.sync.test_e2e_sync import actions, cm, deploy
from tests.realcluster.conftest import Env, eventually, live, ref

IMAGE = '.spec.template.spec.containers[name="web"].image'


def by_kind(result: Any) -> dict[tuple[str, str], ObjectResult]:
    return {(r.ref.kind, r.ref.name): r for r in result.objects}


def owned_by(obj: dict[str, Any]) -> dict[str, set[str]]:
    """Manager -> the fields it owns, as printed paths, from the live object's managedFields."""
    owners = managed.owners(obj["metadata"].get("managedFields"))
    return {m: {managed.display(p) for p in paths} for m, paths in owners.items()}


def service(name: str = "web", port: int = 80, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": 80}], **spec}}


def inventory_version(env: Env) -> str | None:
    found = live(env, "v1", "ConfigMap", prune.inventory_name(Target(env.app, "e2e")), prune.NAMESPACE)
    return None if found is None else str(found["metadata"]["resourceVersion"])


# -- 1. server-side apply conflicts ----------------------------------------------------------------
def test_conflicts_name_each_manager_and_force_takes_the_fields(env: Env) -> None:
    assert env.sync([deploy(replicas=2, image="nginx:1.27")]).error is None
    env.kubectl_patch(f"/apis/apps/v1/namespaces/{env.namespace}/deployments/web", {"spec": {"replicas": 3}})
    other = {"containers": [{"name": "web", "image": "nginx:1.28"}]}
    env.cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "web", "namespace": env.namespace},
                       "spec": {"template": {"spec": other}}}, field_manager="platform-team", force=True)

    refused = env.sync(policy="{automated: false}")
    [obj] = refused.objects
    assert obj.action is Action.FAILED and obj.error
    # the server's conflict causes, verbatim: which manager holds which field
    assert ".spec.replicas owned by kubectl-edit" in obj.error, obj.error
    assert f"{IMAGE} owned by platform-team" in obj.error, obj.error
    assert refused.sync is SyncStatus.OUT_OF_SYNC and refused.error and not refused.temporary
    held = live(env, "apps/v1", "Deployment", "web")
    assert held is not None and held["spec"]["replicas"] == 3
    assert held["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert ".spec.replicas" in owned_by(held)["kubectl-edit"] and IMAGE in owned_by(held)["platform-team"]

    forced = env.sync(policy="{automated: false}", force=True)
    assert forced.error is None and actions(forced) == {"web": Action.CONFIGURED}
    assert {(d.path, d.manager) for d in forced.corrected} >= {(".spec.replicas", "kubectl-edit"),
                                                                (IMAGE, "platform-team")}
    taken = live(env, "apps/v1", "Deployment", "web")
    assert taken is not None and taken["spec"]["replicas"] == 2
    assert taken["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    owners = owned_by(taken)
    assert {".spec.replicas", IMAGE} <= owners["gitops"]
    assert ".spec.replicas" not in owners.get("kubectl-edit", set())
    assert IMAGE not in owners.get("platform-team", set())
    assert set(actions(env.sync(policy="{automated: false}")).values()) == {Action.UNCHANGED}


def test_self_heal_takes_a_hand_edited_field_back(env: Env) -> None:
    assert env.sync([cm("settings", "git")]).error is None
    env.kubectl_patch(f"/api/v1/namespaces/{env.namespace}/configmaps/settings", {"data": {"v": "by hand"}})
    edited = live(env, "v1", "ConfigMap", "settings")
    assert edited is not None and ".data.v" in owned_by(edited)["kubectl-edit"]

    healed = env.sync(policy="{automated: true, selfHeal: true}", sync=None, trigger=Trigger.SELF_HEAL,
                      previous_revision="0" * 40)
    assert healed.error is None and actions(healed) == {"settings": Action.CONFIGURED}
    assert [(d.path, d.manager) for d in healed.corrected] == [(".data.v", "kubectl-edit")]
    back = live(env, "v1", "ConfigMap", "settings")
    assert back is not None and back["data"] == {"v": "git"}
    owners = owned_by(back)
    assert ".data.v" in owners["gitops"] and ".data.v" not in owners.get("kubectl-edit", set())


# -- 2. dry runs persist nothing ---------------------------------------------------------------------
def test_dry_run_and_compare_persist_nothing(env: Env) -> None:
    first = env.sync([cm("a", "1"), service(), deploy(replicas=1), cm("old")])
    assert first.error is None, first.error
    names = (("v1", "ConfigMap", "a"), ("v1", "Service", "web"), ("v1", "ConfigMap", "old"))

    def versions() -> dict[str, Any]:
        found = {name: live(env, api, kind, name) for api, kind, name in names}
        seen: dict[str, Any] = {f"{n}": o and o["metadata"]["resourceVersion"] for n, o in found.items()}
        web = live(env, "apps/v1", "Deployment", "web")
        assert web is not None  # its status moves with the rollout: its spec's generation does not
        seen["deployment"] = (web["metadata"]["generation"], web["spec"]["replicas"])
        seen["inventory"] = inventory_version(env)
        seen["new"] = live(env, "v1", "ConfigMap", "new")
        return seen

    before = versions()
    assert before["inventory"] is not None and before["new"] is None
    changed = [cm("a", "2"), service(port=8080), deploy(replicas=3), cm("new")]  # "old" leaves Git

    planned = env.sync(changed, dry_run=True)
    assert planned.error is None and not planned.applied
    assert by_kind(planned)[("ConfigMap", "a")].action is Action.CONFIGURED
    assert by_kind(planned)[("Service", "web")].action is Action.CONFIGURED
    assert by_kind(planned)[("Deployment", "web")].action is Action.CONFIGURED
    assert by_kind(planned)[("ConfigMap", "new")].action is Action.CREATED
    assert by_kind(planned)[("ConfigMap", "old")].action is Action.DELETED
    assert "(dry run)" in by_kind(planned)[("ConfigMap", "old")].message
    # the prediction is the server's own dry run of the apply, shown as a diff
    assert "port: 8080" in planned.diff and "replicas: 3" in planned.diff
    assert versions() == before

    compared = env.sync(sync=False)  # what `gitops diff` does
    assert compared.sync is SyncStatus.OUT_OF_SYNC and not compared.applied
    assert {d.path for d in compared.drift} >= {".data.v", ".spec.replicas"}
    assert versions() == before


# -- 3. validation and admission, in Kubernetes' words ---------------------------------------------------
def test_invalid_objects_fail_with_the_servers_message_and_nothing_is_written(env: Env) -> None:
    mismatched = deploy()
    mismatched["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    result = env.sync([cm("fine"), mismatched, service(port=70000)])
    objects = by_kind(result)
    assert objects[("Deployment", "web")].action is Action.FAILED
    assert "`selector` does not match template `labels`" in (objects[("Deployment", "web")].error or "")
    assert objects[("Service", "web")].action is Action.FAILED
    assert "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive" in (
        objects[("Service", "web")].error or "")
    assert objects[("ConfigMap", "fine")].action is Action.SKIPPED
    assert result.error and result.error.startswith("2 object(s) failed") and not result.temporary
    assert result.sync is SyncStatus.OUT_OF_SYNC
    assert live(env, "v1", "ConfigMap", "fine") is None
    assert live(env, "apps/v1", "Deployment", "web") is None and live(env, "v1", "Service", "web") is None
    assert inventory_version(env) is None  # not even the inventory: nothing at all was written


def test_an_object_refused_after_its_namespace_was_created_is_reported(env: Env,
                                                                       leftovers: list[Any]) -> None:
    """An object in a namespace the application creates has no dry run before that namespace exists:
    the server refuses it only at apply time, after the namespace was written; the result says both."""
    fresh = f"{env.namespace}-fresh"
    leftovers.append(ref(env, "v1", "Namespace", fresh, ""))
    invalid = {**service(port=70000), "metadata": {"name": "web", "namespace": fresh}}
    result = env.sync([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": fresh}}, invalid])
    objects = by_kind(result)
    assert objects[("Namespace", fresh)].action is Action.CREATED
    assert objects[("Service", "web")].action is Action.FAILED
    assert "must be between 1 and 65535, inclusive" in (objects[("Service", "web")].error or "")
    assert result.sync is SyncStatus.OUT_OF_SYNC and result.error and "Service" in result.error
    assert live(env, "v1", "Namespace", fresh, "") is not None
    recorded = prune.read_inventory(env.cluster, Target(env.app, "e2e")) or []
    assert {(r.kind, r.name) for r in recorded} == {("Namespace", fresh), ("Service", "web")}


def test_admission_refusal_fails_the_object_with_the_servers_message(env: Env) -> None:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota",
             "metadata": {"name": "no-pods", "namespace": env.namespace}, "spec": {"hard": {"pods": "0"}}}
    env.cluster.apply(quota, field_manager="e2e-setup")
    eventually(lambda: ((live(env, "v1", "ResourceQuota", "no-pods") or {}).get("status") or {}).get("used"),
               "the resource quota controller counting the namespace")
    # a Pod also needs the namespace's default ServiceAccount (the controller-manager creates it)
    eventually(lambda: live(env, "v1", "ServiceAccount", "default"), "the default ServiceAccount")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "one"},
           "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}
    result = env.sync([cm("fine"), pod])
    objects = by_kind(result)
    assert objects[("Pod", "one")].action is Action.FAILED
    error = objects[("Pod", "one")].error or ""
    assert 'pods "one" is forbidden: exceeded quota: no-pods' in error, error
    assert objects[("ConfigMap", "fine")].action is Action.SKIPPED
    assert live(env, "v1", "Pod", "one") is None and live(env, "v1", "ConfigMap", "fine") is None


# -- 4. immutable fields -------------------------------------------------------------------------------
def job(image: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "migrate", "image": image}]}}}}


def test_a_jobs_template_is_refused_without_recreate_and_recreated_with_it(env: Env) -> None:
    assert env.sync([job("busybox:1.36")]).error is None
    old = live(env, "batch/v1", "Job", "migrate")
    assert old is not None

    refused = env.sync([job("busybox:1.37"), cm("after")])
    objects = by_kind(refused)
    error = objects[("Job", "migrate")].error or ""
    assert objects[("Job", "migrate")].action is Action.FAILED
    assert "immutable field spec.template changed" in error and "allow recreate" in error, error
    assert objects[("ConfigMap", "after")].action is Action.SKIPPED
    assert live(env, "v1", "ConfigMap", "after") is None

    recreated = env.sync(policy="{automated: true, allowRecreate: true}", wait_seconds=60)
    assert recreated.error is None, recreated.error
    assert by_kind(recreated)[("Job", "migrate")].action is Action.RECREATED
    new = live(env, "batch/v1", "Job", "migrate")
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
    # kwok runs the new Job's Pod to completion: the Job is Complete, so Healthy
    assert by_kind(recreated)[("Job", "migrate")].health is HealthStatus.HEALTHY


def _free_cluster_ip(env: Env, near: str) -> str:
    """An address of ``near``'s /24 that no Service of the cluster holds."""
    taken = {s["spec"].get("clusterIP") for s in env.cluster.list("v1", "Service")}
    network = ipaddress.ip_network(f"{near}/24", strict=False)
    return next(str(a) for a in list(network.hosts())[9:] if str(a) not in taken)


def test_a_services_cluster_ip_is_refused_without_recreate_and_recreated_with_it(env: Env) -> None:
    assert env.sync([service()]).error is None
    old = live(env, "v1", "Service", "web")
    assert old is not None
    wanted = _free_cluster_ip(env, old["spec"]["clusterIP"])

    refused = env.sync([service(clusterIP=wanted)])
    [obj] = refused.objects
    assert obj.action is Action.FAILED and obj.error
    assert "immutable field spec.clusterIPs[0] changed" in obj.error, obj.error
    assert "allow recreate" in obj.error

    recreated = env.sync([service(clusterIP=wanted)], policy="{automated: true, allowRecreate: true}")
    assert recreated.error is None and actions(recreated) == {"web": Action.RECREATED}
    new = live(env, "v1", "Service", "web")
    assert new is not None and new["spec"]["clusterIP"] == wanted
    assert new["metadata"]["uid"] != old["metadata"]["uid"]


# -- 5. a CRD and its custom resources in one sync -------------------------------------------------------
def widget_crd(group: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "required": ["size"], "properties": {"size": {"type": "integer", "minimum": 1}}}}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                               "listKind": "WidgetList"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema}}]}}


def test_a_crd_and_its_resources_in_one_sync_then_its_schema_judges_them(env: Env) -> None:
    group = f"{env.app}.example.com"  # the env fixture deletes widgets.<group> afterwards
    widgets = [{"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": f"w{i}"},
                "spec": {"size": i}} for i in (1, 2)]
    result = env.sync([*widgets, widget_crd(group)], wait_seconds=30)
    assert result.error is None, result.error
    assert [r.ref.kind for r in result.objects] == ["CustomResourceDefinition", "Widget", "Widget"]
    assert set(actions(result).values()) == {Action.CREATED}
    assert result.health is HealthStatus.UNKNOWN  # the CRD is Established; the widgets: no status, no rule
    crd = live(env, "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{group}", "")
    assert crd is not None
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    w2 = live(env, f"{group}/v1", "Widget", "w2")
    assert w2 is not None and w2["spec"] == {"size": 2}

    shrunk = [widgets[0], {**widgets[1], "spec": {"size": 0}}, widget_crd(group)]
    refused = env.sync(shrunk)
    error = by_kind(refused)[("Widget", "w2")].error or ""
    assert by_kind(refused)[("Widget", "w2")].action is Action.FAILED
    assert "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1" in error, (
        error)
    kept = live(env, f"{group}/v1", "Widget", "w2")
    assert kept is not None and kept["spec"] == {"size": 2}
    assert set(actions(env.sync([*widgets, widget_crd(group)])).values()) == {Action.UNCHANGED}
