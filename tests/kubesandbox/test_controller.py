"""The sandbox's built-in controllers: rollout status, failure simulation, Jobs, PVCs, load balancers,
ReplicaSets owned by Deployments and their garbage collection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitops.clock import poll_until
from kubesandbox import FAIL_ROLLOUT, Sandbox
from kubesandbox.client import Client

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def deployment(image: str = "nginx:1.25", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web"}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``check`` until it holds (its value); fail after ``timeout`` seconds."""
    result = poll_until(check, timeout, every=0.02)
    if not result:
        raise AssertionError("condition not reached in time")
    return result


def conditions(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj.get("status", {}).get("conditions", [])}


def test_deployment_progresses_then_becomes_available(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    progressing = wait_for(
        lambda: (d := client.get(f"{DEPLOYMENTS}/web").body).get("status", {}).get("observedGeneration") and d
    )
    assert conditions(progressing).get("Progressing", ("True", "ReplicaSetUpdated"))[0] == "True"
    done = wait_for(
        lambda: (d := client.get(f"{DEPLOYMENTS}/web").body)["status"].get("availableReplicas") and d
    )
    assert done["status"]["readyReplicas"] == 2 == done["status"]["updatedReplicas"]
    assert conditions(done) == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    entry = next(m for m in done["metadata"]["managedFields"] if m["manager"] == "kube-controller-manager")
    assert entry["subresource"] == "status"


def test_failing_rollout_by_image_or_annotation(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment(image="registry/fail:1"))
    failed = wait_for(
        lambda: (
            conditions(d := client.get(f"{DEPLOYMENTS}/web").body).get("Progressing", ("",))[0] == "False"
            and d
        )
    )
    assert conditions(failed)["Progressing"] == ("False", "ProgressDeadlineExceeded")
    assert "availableReplicas" not in failed["status"]
    client.delete(f"{DEPLOYMENTS}/web")
    wait_for(lambda: client.get(f"{DEPLOYMENTS}/web").status == 404)
    client.post(DEPLOYMENTS, deployment(annotations={FAIL_ROLLOUT: "true"}))
    wait_for(
        lambda: conditions(client.get(f"{DEPLOYMENTS}/web").body).get("Progressing", ("",))[0] == "False"
    )


def test_new_generation_is_reported_again(client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    wait_for(lambda: client.get(f"{DEPLOYMENTS}/web").body.get("status", {}).get("availableReplicas"))
    client.patch(
        f"{DEPLOYMENTS}/web",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}},
        "strategic",
    )
    done = wait_for(
        lambda: (
            (d := client.get(f"{DEPLOYMENTS}/web").body)["status"].get("observedGeneration") == 2
            and d["status"].get("availableReplicas")
            and d
        )
    )
    assert done["metadata"]["generation"] == 2


def test_replicasets_are_owned_and_garbage_collected(client: Client) -> None:
    made = client.post(DEPLOYMENTS, deployment()).body
    rs_path = "/apis/apps/v1/namespaces/default/replicasets"
    items = wait_for(lambda: client.get(rs_path).body["items"])
    assert items[0]["metadata"]["ownerReferences"][0]["uid"] == made["metadata"]["uid"]
    assert client.delete(f"{DEPLOYMENTS}/web").status == 200
    assert client.get(rs_path).body["items"] == []  # Background propagation


def test_orphan_and_foreground_propagation(client: Client) -> None:
    made = client.post(DEPLOYMENTS, deployment()).body
    rs_path = "/apis/apps/v1/namespaces/default/replicasets"
    wait_for(lambda: client.get(rs_path).body["items"])
    orphaned = client.delete(f"{DEPLOYMENTS}/web", {"propagationPolicy": "Orphan"})
    assert orphaned.status in (200, 202)
    wait_for(lambda: client.get(f"{DEPLOYMENTS}/web").status == 404)
    left = client.get(rs_path).body["items"]
    assert len(left) == 1 and "ownerReferences" not in left[0]["metadata"]
    client.delete(f"{rs_path}/{left[0]['metadata']['name']}")
    made = client.post(DEPLOYMENTS, deployment()).body
    wait_for(lambda: client.get(rs_path).body["items"])
    rs = client.get(rs_path).body["items"][0]
    client.patch(f"{rs_path}/{rs['metadata']['name']}", {"metadata": {"finalizers": ["example.com/hold"]}})
    fg = client.request("DELETE", f"{DEPLOYMENTS}/web?propagationPolicy=Foreground")
    assert fg.status in (200, 202)
    owner = client.get(f"{DEPLOYMENTS}/web").body  # waits for its dependent
    assert "foregroundDeletion" in owner["metadata"]["finalizers"] and owner["metadata"]["deletionTimestamp"]
    client.patch(f"{rs_path}/{rs['metadata']['name']}", {"metadata": {"finalizers": None}})
    wait_for(lambda: client.get(f"{DEPLOYMENTS}/web").status == 404)
    assert made["metadata"]["uid"]


def test_finalizers_hold_deletion(client: Client) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    client.post(
        path,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "held", "finalizers": ["example.com/keep"]},
        },
    )
    first = client.delete(f"{path}/held")
    assert first.status in (200, 202) and first.body["metadata"]["deletionTimestamp"]
    still = client.get(f"{path}/held")
    assert still.status == 200 and still.body["metadata"]["deletionTimestamp"]
    cleared = client.patch(f"{path}/held", {"metadata": {"finalizers": None}})
    assert cleared.status == 200
    assert client.get(f"{path}/held").status == 404


def test_namespace_deletion_removes_content(client: Client) -> None:
    client.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
    client.post(
        "/api/v1/namespaces/gone/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
    )
    client.delete("/api/v1/namespaces/gone")
    wait_for(lambda: client.get("/api/v1/namespaces/gone").status == 404)
    assert client.get("/api/v1/namespaces/gone/configmaps/a").status == 404


def test_jobs_pvcs_and_load_balancers(client: Client) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}
            }
        },
    }
    client.post("/apis/batch/v1/namespaces/default/jobs", job)
    done = wait_for(
        lambda: conditions(client.get("/apis/batch/v1/namespaces/default/jobs/j").body).get("Complete")
    )
    assert done == ("True", "CompletionsReached")
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    client.post("/api/v1/namespaces/default/persistentvolumeclaims", pvc)
    wait_for(
        lambda: (
            client.get("/api/v1/namespaces/default/persistentvolumeclaims/data")
            .body.get("status", {})
            .get("phase")
            == "Bound"
        )
    )
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }
    made = client.post("/api/v1/namespaces/default/services", svc).body
    assert 30000 <= made["spec"]["ports"][0]["nodePort"] <= 32767
    wait_for(
        lambda: (
            client.get("/api/v1/namespaces/default/services/lb")
            .body.get("status", {})
            .get("loadBalancer", {})
            .get("ingress")
        )
    )


def test_settle_waits_for_rollouts(sandbox: Sandbox, client: Client) -> None:
    client.post(DEPLOYMENTS, deployment())
    assert sandbox.settle(timeout=5)
    assert client.get(f"{DEPLOYMENTS}/web").body["status"]["availableReplicas"] == 2


def test_pods_and_ingresses_get_status(sandbox: Sandbox, client: Client) -> None:
    pods = "/api/v1/namespaces/default/pods"
    for name, image in (("ok", "nginx:1.25"), ("bad", "registry/fail:1")):
        client.post(
            pods,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        )
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {"rules": [{"host": "example.test"}]},
    }
    client.post("/apis/networking.k8s.io/v1/namespaces/default/ingresses", ingress)
    assert sandbox.settle(timeout=5)
    ok = client.get(f"{pods}/ok").body["status"]
    assert ok["phase"] == "Running" and ok["containerStatuses"][0]["ready"] is True
    assert {c["type"]: c["status"] for c in ok["conditions"]}["Ready"] == "True"
    bad = client.get(f"{pods}/bad").body["status"]
    assert bad["phase"] == "Pending"
    assert bad["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    lb = client.get("/apis/networking.k8s.io/v1/namespaces/default/ingresses/web").body["status"]
    assert lb["loadBalancer"]["ingress"][0]["ip"].startswith("172.18.")


def test_delete_options_in_the_body(client: Client) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    client.post(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"}})
    dry = client.delete(f"{path}/keep", {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]})
    assert dry.status == 200 and client.get(f"{path}/keep").status == 200
    stale = client.delete(f"{path}/keep", {"preconditions": {"uid": "not-the-uid"}})
    assert stale.status == 409 and "Precondition failed" in stale.body["message"]
    assert client.delete(f"{path}/keep", {"propagationPolicy": "Sideways"}).status == 400
    assert client.delete(f"{path}/keep", b"[1]").status == 400
    assert client.delete(f"{path}/keep", {"orphanDependents": True}).status == 200
    assert client.get(f"{path}/keep").status == 404


def test_paused_deployment_reports_paused(sandbox: Sandbox, client: Client) -> None:
    body = deployment()
    body["spec"]["paused"] = True
    client.post(DEPLOYMENTS, body)
    assert sandbox.settle(timeout=5)
    assert conditions(client.get(f"{DEPLOYMENTS}/web").body)["Progressing"] == ("Unknown", "DeploymentPaused")
