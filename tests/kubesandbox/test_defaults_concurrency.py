"""More workload defaults and immutability rules, and optimistic concurrency under parallel writers."""

from __future__ import annotations

import threading
from typing import Any

from kubesandbox import Sandbox
from kubesandbox.client import Client

APPS = "/apis/apps/v1/namespaces/default"
POD = {"containers": [{"name": "c", "image": "busybox@sha256:" + "a" * 64}]}


def workload(kind: str, **spec: Any) -> dict[str, Any]:
    body = {
        "selector": {"matchLabels": {"app": "w"}},
        "template": {"metadata": {"labels": {"app": "w"}}, "spec": POD},
        **spec,
    }
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"}, "spec": body}


def test_statefulset_daemonset_cronjob_defaults(client: Client) -> None:
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    sts = client.post(
        f"{APPS}/statefulsets", workload("StatefulSet", serviceName="w", volumeClaimTemplates=[claim])
    ).body["spec"]
    assert sts["replicas"] == 1 and sts["podManagementPolicy"] == "OrderedReady"
    assert sts["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert sts["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert sts["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    assert sts["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"  # digest
    ds = client.post(f"{APPS}/daemonsets", workload("DaemonSet")).body["spec"]
    assert ds["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert ds["revisionHistoryLimit"] == 10
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": POD}}}},
    }
    made = client.post("/apis/batch/v1/namespaces/default/cronjobs", cron).body["spec"]
    assert (
        made["concurrencyPolicy"],
        made["successfulJobsHistoryLimit"],
        made["failedJobsHistoryLimit"],
    ) == ("Allow", 3, 1)
    assert made["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Always"


def test_statefulset_forbidden_updates(client: Client) -> None:
    client.post(f"{APPS}/statefulsets", workload("StatefulSet", serviceName="w"))
    renamed = client.patch(f"{APPS}/statefulsets/w", {"spec": {"serviceName": "other"}})
    assert renamed.status == 422
    cause = renamed.body["details"]["causes"][0]
    assert cause["field"] == "spec" and cause["reason"] == "FieldValueForbidden"
    assert "updates to statefulset spec for fields other than" in cause["message"]
    assert client.patch(f"{APPS}/statefulsets/w", {"spec": {"replicas": 3}}).status == 200


def test_parallel_read_modify_write_loses_nothing(sandbox: Sandbox, client: Client) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    client.post(
        path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}, "data": {"n": "0"}}
    )
    conflicts = []

    def worker() -> None:
        mine = Client(sandbox.url)
        done = 0
        while done < 20:
            current = mine.get(f"{path}/n").body
            current["data"]["n"] = str(int(current["data"]["n"]) + 1)
            reply = mine.put(f"{path}/n", current)
            if reply.status == 409:
                conflicts.append(1)
                continue
            assert reply.status == 200, reply.body
            done += 1
        mine.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert client.get(f"{path}/n").body["data"]["n"] == "80"


def test_workload_validation_and_protected_namespaces(client: Client) -> None:
    mismatch = workload("Deployment")
    mismatch["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    reply = client.post(f"{APPS}/deployments", mismatch)
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    no_containers = workload("Deployment")
    no_containers["spec"]["template"]["spec"] = {"containers": []}
    assert client.post(f"{APPS}/deployments", no_containers).body["details"]["causes"][0]["field"] == (
        "spec.template.spec.containers"
    )
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": POD}},
    }  # restartPolicy defaults to Always: not allowed for Jobs
    refused = client.post("/apis/batch/v1/namespaces/default/jobs", job)
    assert refused.status == 422
    assert refused.body["details"]["causes"][0]["field"] == "spec.template.spec.restartPolicy"
    protected = client.delete("/api/v1/namespaces/kube-system")
    assert protected.status == 403 and "may not be deleted" in protected.body["message"]
