"""The chart's objects applied to a cluster and read back: the sandbox API server, and the real control
plane (the ``cluster`` variant of the sync tests' ``backend``, marked ``real_cluster``; it skips or
fails by that fixture's rules). Every object goes through server-side apply with
``fieldValidation=Strict``, so an unknown field is an error from the server itself, not a warning, into
a namespace that enforces the ``restricted`` Pod Security Standard: the real API server warns about
every workload whose pods would break it (no warning may come back) and refuses such pods (the
workloads' pods must appear)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from gitops.clock import poll_until
from gitops.cluster import object_path
from gitops.vocabulary import ObjectRef
from tests.charts.chartkit import render
from tests.charts.test_chart import INGRESS_TLS, TWO_POOLS
from tests.gitops.sync.conftest import Env

pytest.importorskip("helm_python", reason="the helm extra is not installed")

# everything the chart can render at once: bundled Redis, ingress with TLS, two pools, restricted egress
ALL_ON: dict[str, Any] = {**INGRESS_TLS, **TWO_POOLS,
                          "networkPolicy": {"restrictEgress": True},
                          "extraSecretMounts": [{"name": "keys", "secretName": "keys", "mountPath": "/keys"}],
                          "envFromSecrets": ["git-credentials"]}


def strict_apply(env: Env, obj: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The live object and the server's Warning header ("" for none)."""
    info = env.cluster.resource_for(obj["apiVersion"], obj["kind"])
    path = object_path(info, obj["metadata"].get("namespace"), obj["metadata"]["name"])
    api = env.backend.raw()
    try:
        resp = api.call_api(path, "PATCH",
                            query_params=[("fieldManager", "chart-test"), ("fieldValidation", "Strict"),
                                          ("force", "true")],
                            body=obj, header_params={"Content-Type": "application/apply-patch+yaml"},
                            auth_settings=["BearerToken"], _preload_content=False,
                            _return_http_data_only=True)
        live: dict[str, Any] = json.loads(resp.data)
        return live, str(resp.headers.get("Warning") or "")
    finally:
        api.close()


def contained(want: Any, have: Any, path: str = "") -> list[str]:
    """Where ``have`` (the live object) lacks what ``want`` (the applied one) says; the server may add
    defaults, never drop or change what was applied."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [path]
        return [p for k, v in want.items() for p in contained(v, have.get(k), f"{path}.{k}")]
    if isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            return [path]
        pairs = enumerate(zip(want, have, strict=True))
        return [p for i, (w, h) in pairs for p in contained(w, h, f"{path}[{i}]")]
    return [] if want == have else [f"{path}: {want!r} != {have!r}"]


def test_chart_objects_apply_and_read_back(env: Env) -> None:
    release = f"gitops-{uuid.uuid4().hex[:6]}"
    objects = render(ALL_ON, name=release, namespace=env.namespace)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "StatefulSet", "Ingress", "NetworkPolicy", "PodDisruptionBudget",
            "ClusterRoleBinding", "Secret", "ServiceAccount"} <= kinds
    made_cluster_scoped: list[ObjectRef] = []
    env.cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": env.namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                          "pod-security.kubernetes.io/warn": "restricted"}}},
        field_manager="chart-test")
    try:
        for obj in objects:
            info = env.cluster.resource_for(obj["apiVersion"], obj["kind"])
            if info.namespaced:
                obj["metadata"]["namespace"] = env.namespace
            else:
                made_cluster_scoped.append(ObjectRef.of(obj))
            _, warning = strict_apply(env, obj)
            assert warning == "", (obj["kind"], obj["metadata"]["name"], warning)
        for obj in objects:
            live = env.cluster.get(ObjectRef.of(obj))
            assert live is not None, obj["metadata"]["name"]
            body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
            assert contained(body, live) == [], (obj["kind"], obj["metadata"]["name"])
            assert contained(obj["metadata"].get("labels", {}), live["metadata"]["labels"]) == []
        beat = env.cluster.get(ObjectRef("apps", "Deployment", env.namespace, f"{release}-beat", "v1"))
        assert beat is not None and beat["spec"]["replicas"] == 1
        if env.backend.kind == "cluster":  # the controllers made the pods: the restricted profile took them
            workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
            for obj in workloads:
                selector = obj["spec"]["selector"]["matchLabels"]

                def pods(selector: dict[str, str] = selector) -> list[Any]:
                    return [p for p in env.cluster.list("v1", "Pod", namespace=env.namespace)
                            if all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())]

                assert poll_until(pods, 90.0, every=0.2), f"no pod of {obj['metadata']['name']}"
            # the check has teeth: a web pod allowed to escalate privileges is warned about
            web = next(o for o in workloads if o["metadata"]["name"] == f"{release}-web")
            bad = json.loads(json.dumps(web))
            bad["metadata"]["name"] += "-escalating"
            container = bad["spec"]["template"]["spec"]["containers"][0]
            container["securityContext"]["allowPrivilegeEscalation"] = True
            _, warning = strict_apply(env, bad)
            assert "allowPrivilegeEscalation" in warning and "restricted" in warning
    finally:
        if env.backend.kind == "cluster":  # leave a real cluster as we found it
            for ref in made_cluster_scoped:
                env.cluster.delete(ref)
