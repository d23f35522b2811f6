"""Custom resources for the health tests against an API server (the sandbox and the real control
plane): a CRD with a status subresource, its objects, the engine's request with CEL rules, and a
status write through ``/status`` as a controller makes it."""

from __future__ import annotations

import dataclasses
from typing import Any

from gitops.domain import HealthCheck
from gitops.engine import Ports, ReconcileResult, reconcile
from gitops.testing import FakeClusters, FakeSource
from tests.gitops.sync.conftest import Env

PHASE_RULE = HealthCheck(
    "{group}/v1", "Gadget",
    current="has(status.phase) && status.phase == 'Ready'",
    in_progress="has(status.phase) && status.phase == 'Provisioning'",
    failed="has(status.phase) && status.phase == 'Failed'",
)


def crd(group: str, kind: str = "Gadget", plural: str = "gadgets") -> dict[str, Any]:
    """A namespaced CRD whose status is a subresource (written only through /status)."""
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": plural[:-1], "kind": kind,
                               "listKind": f"{kind}List"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": schema}}]}}


def cr(group: str, name: str, kind: str = "Gadget", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": f"{group}/v1", "kind": kind, "metadata": meta, "spec": {"size": 1}}


def rule(group: str) -> HealthCheck:
    return dataclasses.replace(PHASE_RULE, api_version=f"{group}/v1")


def sync(env: Env, manifests: list[dict[str, Any]], checks: tuple[HealthCheck, ...] = (),
         **kw: Any) -> ReconcileResult:
    """One reconcile through gitops.engine.reconcile of an application with ``checks`` as its
    ``healthCheckExprs``."""
    env.renderer.manifests = manifests
    kw.setdefault("sync", True)
    request = env.request(**kw)
    app = dataclasses.replace(request.application, health_checks=checks)
    ports = Ports(FakeSource(), env.renderer, FakeClusters({"e2e": env.cluster}))
    return reconcile(dataclasses.replace(request, application=app), ports)


def write_status(env: Env, group: str, plural: str, name: str, status: dict[str, Any]) -> None:
    """Write ``status`` through the status subresource, as the object's controller would."""
    path = f"/apis/{group}/v1/namespaces/{env.namespace}/{plural}/{name}/status"
    env.kubectl_patch(path, {"status": status}, manager="gadget-controller")


def health_of(result: ReconcileResult, name: str) -> tuple[str, str]:
    obj = next(o for o in result.objects if o.ref.name == name)
    return str(obj.health), obj.message
