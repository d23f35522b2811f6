"""The garbage collector's rules for owners that do not exist ("Garbage Collection", "Owners and
Dependents"): an object whose owner references all point to absent owners (missing, or present under
the same name with another uid) is deleted, also when it is created after its owner is gone; with at
least one owner present only the dangling references are removed; references the collector cannot
resolve keep the object. The sandbox collects synchronously, right after the write."""

from __future__ import annotations

from typing import Any

from kubesandbox import Sandbox
from kubesandbox.client import Client

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
SECRETS = "/api/v1/namespaces/default/secrets"


def ref(owner: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], **extra}


def configmap(name: str, *refs: dict[str, Any], **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **meta}
    if refs:
        metadata["ownerReferences"] = list(refs)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


def make_owner(client: Client, name: str = "owner") -> dict[str, Any]:
    made = client.post(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}})
    assert made.status == 201
    return dict(made.body)


def test_dependent_created_after_its_owner_is_gone_is_collected(client: Client, sandbox: Sandbox) -> None:
    owner = make_owner(client)
    assert client.delete(f"{SECRETS}/owner").status == 200
    made = client.post(CONFIGMAPS, configmap("orphan", ref(owner)))
    assert made.status == 201  # the create itself succeeds, as on a cluster ...
    assert client.get(f"{CONFIGMAPS}/orphan").status == 404  # ... and the collector deletes it
    assert sandbox.objects("configmaps", "", "default") == []


def test_owner_with_the_same_name_but_another_uid_counts_as_absent(client: Client) -> None:
    first = make_owner(client)
    client.delete(f"{SECRETS}/owner")
    second = make_owner(client)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    client.post(CONFIGMAPS, configmap("stale", ref(first)))
    client.post(CONFIGMAPS, configmap("owned", ref(second)))
    assert client.get(f"{CONFIGMAPS}/stale").status == 404
    assert client.get(f"{CONFIGMAPS}/owned").status == 200


def test_never_existing_owner_and_reference_added_later(client: Client) -> None:
    ghost = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ghost", "uid": "0000-ghost"}}
    client.post(CONFIGMAPS, configmap("a", ref(ghost)))
    assert client.get(f"{CONFIGMAPS}/a").status == 404
    assert client.post(CONFIGMAPS, configmap("b")).status == 201
    patched = client.patch(f"{CONFIGMAPS}/b", {"metadata": {"ownerReferences": [ref(ghost)]}})
    assert patched.status == 200
    assert client.get(f"{CONFIGMAPS}/b").status == 404


def test_one_present_owner_keeps_it_and_dangling_references_are_removed(client: Client) -> None:
    alive = make_owner(client, "alive")
    gone = make_owner(client, "gone")
    client.delete(f"{SECRETS}/gone")
    client.post(CONFIGMAPS, configmap("shared", ref(gone), ref(alive)))
    kept = client.get(f"{CONFIGMAPS}/shared")
    assert kept.status == 200
    assert kept.body["metadata"]["ownerReferences"] == [ref(alive)]


def test_dangling_reference_added_later_is_removed_and_owner_deletion_collects(client: Client) -> None:
    owner = make_owner(client, "owner")
    ghost = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ghost", "uid": "0000-ghost"}}
    alive = make_owner(client, "alive")
    client.post(CONFIGMAPS, configmap("dep", ref(owner)))
    # created while both exist: keep; then the ghost reference is added with the real owner present
    patched = client.patch(f"{CONFIGMAPS}/dep", {"metadata": {"ownerReferences": [ref(owner), ref(ghost)]}})
    assert patched.status == 200
    assert client.get(f"{CONFIGMAPS}/dep").body["metadata"]["ownerReferences"] == [ref(owner)]
    client.post(CONFIGMAPS, configmap("two", ref(owner), ref(alive)))
    assert client.delete(f"{SECRETS}/owner").status == 200
    assert client.get(f"{CONFIGMAPS}/dep").status == 404
    assert client.get(f"{CONFIGMAPS}/two").body["metadata"]["ownerReferences"] == [ref(alive)]


def test_owner_in_another_namespace_is_absent(client: Client) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
    client.post("/api/v1/namespaces", namespace)
    made = client.post("/api/v1/namespaces/other/secrets",
                       {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "owner"}})
    client.post(CONFIGMAPS, configmap("cross", ref(made.body)))
    assert client.get(f"{CONFIGMAPS}/cross").status == 404


def test_cluster_scoped_owner_of_a_namespaced_dependent(client: Client) -> None:
    ns = client.post("/api/v1/namespaces",
                     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "owner-ns"}}).body
    client.post(CONFIGMAPS, configmap("by-ns", ref(ns)))
    assert client.get(f"{CONFIGMAPS}/by-ns").status == 200
    stale = dict(ns, metadata={**ns["metadata"], "uid": "0000-other"})
    client.post(CONFIGMAPS, configmap("by-stale-ns", ref(stale)))
    assert client.get(f"{CONFIGMAPS}/by-stale-ns").status == 404


def test_unresolvable_references_keep_the_object(client: Client) -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Nothing", "name": "x", "uid": "0000-x"}
    client.post(CONFIGMAPS, configmap("unknown-kind", unknown))
    assert client.get(f"{CONFIGMAPS}/unknown-kind").status == 200
    # A cluster-scoped dependent naming a namespaced owner kind is never collected.
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "0000-y"}
    made = client.post("/api/v1/namespaces",
                       {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": "held", "ownerReferences": [owner]}})
    assert made.status == 201
    assert client.get("/api/v1/namespaces/held").status == 200


def test_collected_dependent_with_a_finalizer_waits_for_it(client: Client) -> None:
    owner = make_owner(client)
    client.delete(f"{SECRETS}/owner")
    client.post(CONFIGMAPS, configmap("held", ref(owner), finalizers=["example.com/hold"]))
    held = client.get(f"{CONFIGMAPS}/held")
    assert held.status == 200 and held.body["metadata"]["deletionTimestamp"]
    client.patch(f"{CONFIGMAPS}/held", {"metadata": {"finalizers": None}})
    assert client.get(f"{CONFIGMAPS}/held").status == 404


def test_dependent_of_an_owner_deleting_in_the_foreground(client: Client) -> None:
    owner = make_owner(client)
    client.post(CONFIGMAPS, configmap("blocker", ref(owner), finalizers=["example.com/hold"]))
    client.request("DELETE", f"{SECRETS}/owner?propagationPolicy=Foreground")
    waiting = client.get(f"{SECRETS}/owner").body
    assert "foregroundDeletion" in waiting["metadata"]["finalizers"]
    # A dependent created now is collected (its only owner waits for its dependents).
    client.post(CONFIGMAPS, configmap("late", ref(waiting)))
    assert client.get(f"{CONFIGMAPS}/late").status == 404
    client.patch(f"{CONFIGMAPS}/blocker", {"metadata": {"finalizers": None}})
    assert client.get(f"{SECRETS}/owner").status == 404
