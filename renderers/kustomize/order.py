"""Output order: Kustomize's "legacy" kind order (default) or "fifo", and ``sortOptions``.

Callers: :func:`renderers.kustomize.build` on the final resource list. Legacy order puts kinds others
depend on first (Namespace, CRDs, RBAC, ConfigMaps, ...) and webhooks last; ties break by
group_version_kind, then namespace (empty sorts last), then name.
"""

from __future__ import annotations

from typing import Any

from renderers.kustomize.errors import as_list, as_map, fail
from renderers.kustomize.resource import Resource

ORDER_FIRST = ("Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
               "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
               "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
               "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget")
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def _ranks(first: tuple[str, ...], last: tuple[str, ...]) -> dict[str, int]:
    ranks = {kind: i - len(first) for i, kind in enumerate(first)}
    ranks.update({kind: i + 1 for i, kind in enumerate(last)})
    return ranks


def legacy(items: list[Resource], first: tuple[str, ...] = ORDER_FIRST,
           last: tuple[str, ...] = ORDER_LAST) -> list[Resource]:
    ranks = _ranks(first, last)

    def key(res: Resource) -> tuple[int, str, str, str]:
        rid = res.cur_id()
        return ranks.get(rid.gvk.kind, 0), rid.gvk.sort_key(), rid.namespace or "~X", rid.name
    return sorted(items, key=key)


def apply_sort_options(items: list[Resource], options: dict[str, Any], where: str) -> list[Resource]:
    order = options.get("order", "legacy") if options else "legacy"
    if order == "fifo":
        if options.get("legacySortOptions"):
            raise fail("legacySortOptions is only allowed with order: legacy", where, "sortOptions")
        return items
    if order != "legacy":
        raise fail(f"the field 'sortOptions.order' must be one of [legacy, fifo], not {order!r}", where,
                   "sortOptions")
    legacy_opts = as_map((options or {}).get("legacySortOptions"), where, "sortOptions.legacySortOptions")
    first = tuple(str(k) for k in as_list(legacy_opts.get("orderFirst"), where, "orderFirst")) or ORDER_FIRST
    last = tuple(str(k) for k in as_list(legacy_opts.get("orderLast"), where, "orderLast")) or ORDER_LAST
    if not legacy_opts:
        first, last = ORDER_FIRST, ORDER_LAST
    return legacy(items, first, last)
