"""Apply order: sync waves, then stages (CRDs/Namespaces, cluster-scoped and RBAC, the rest), then kind.

Pure; the order of the plan's actions: gitops.apply runs them in :func:`plan_steps`, gitops.prune
deletes in reverse (:func:`sort_key`, :func:`deletion_order`). Inside one sync wave (annotation
``keys.SYNC_WAVE``, integer, default 0, lower first) objects are split into stages:

1. ``definitions``: CustomResourceDefinitions and Namespaces; the applier waits until they are
   Established / Active before going on, so custom resources and namespaced objects can follow.
2. ``cluster``: other cluster-scoped kinds and RBAC (roles, bindings, service accounts).
3. ``namespaced``: everything else.

Within a stage objects follow a fixed kind order (Helm's install order, which Argo CD also uses),
then namespace and name, so the order is deterministic. Deletion (prune) runs in the reverse order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

from gitops import keys
from renderers.k8s.schema import resources
from renderers.manifest import Manifest

KIND_ORDER: tuple[str, ...] = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role",
    "RoleBinding", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)
_RBAC = frozenset({"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})


class Stage(IntEnum):
    DEFINITIONS = 0
    CLUSTER = 1
    NAMESPACED = 2


@dataclass(frozen=True)
class Step:
    """One group of objects applied together; ``wait`` says to wait for them before the next step."""

    wave: int
    stage: Stage
    objects: tuple[Manifest, ...]

    @property
    def wait(self) -> bool:
        return self.stage is Stage.DEFINITIONS


@lru_cache(maxsize=1)
def _scopes() -> dict[tuple[str, str], bool]:
    return {(r.group, r.kind): r.namespaced for r in resources()}


def wave_of(obj: Manifest) -> int:
    """The object's sync wave; a malformed annotation counts as 0 (validated at render time)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(str(annotations.get(keys.SYNC_WAVE, "0")).strip())
    except ValueError:
        return 0


def is_cluster_scoped(obj: Manifest) -> bool:
    """Known built-in cluster-scoped kinds by the catalog; for others, having no namespace."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = str(obj.get("kind", ""))
    namespaced = _scopes().get((group, kind))
    if namespaced is not None:
        return not namespaced
    return not (obj.get("metadata") or {}).get("namespace")


def stage_of(obj: Manifest) -> Stage:
    kind = obj.get("kind")
    if kind in ("CustomResourceDefinition", "Namespace"):
        return Stage.DEFINITIONS
    if kind in _RBAC or is_cluster_scoped(obj):
        return Stage.CLUSTER
    return Stage.NAMESPACED


def sort_key(obj: Manifest) -> tuple[int, int, int, str, str, str]:
    kind = str(obj.get("kind", ""))
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    meta = obj.get("metadata") or {}
    return (wave_of(obj), stage_of(obj), rank, kind, str(meta.get("namespace") or ""),
            str(meta.get("name") or ""))


def plan_steps(objects: list[Manifest]) -> list[Step]:
    """The objects grouped into ordered steps (wave, stage); empty groups are omitted."""
    steps: list[Step] = []
    for obj in sorted(objects, key=sort_key):
        wave, stage = wave_of(obj), stage_of(obj)
        if steps and steps[-1].wave == wave and steps[-1].stage == stage:
            steps[-1] = Step(wave, stage, (*steps[-1].objects, obj))
        else:
            steps.append(Step(wave, stage, (obj,)))
    return steps


def deletion_order(objects: list[Manifest]) -> list[Manifest]:
    """Reverse apply order: dependants first, CRDs and Namespaces last."""
    return sorted(objects, key=sort_key, reverse=True)
