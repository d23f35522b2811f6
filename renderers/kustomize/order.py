"""Output order: Kustomize's "legacy" kind order (default) or "fifo", and ``sortOptions``.

Callers: :func:`renderers.kustomize.build` on the final resource list. Legacy order puts kinds others
depend on first (Namespace, CRDs, RBAC, ConfigMaps, ...) and webhooks last; ties break by
group_version_kind, then namespace (empty sorts last), then name.
"""

from __future__ import annotations

from typing import Any

from renderers.kustomize.errors import as_list, as_map, fail
from renderers.kustomize.resource import Gvk, Resource

ORDER_FIRST = ("Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
               "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
               "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
               "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget")
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def _ranks(first: tuple[str, ...], last: tuple[str, ...]) -> dict[str, int]:
    ranks = {kind: i - len(first) for i, kind in enumerate(first)}
    ranks.update({kind: i + 1 for i, kind in enumerate(last)})
    return ranks


def gvk_key(gvk: Gvk) -> tuple[int, str]:
    """Kustomize's ``Gvk.IsLessThan`` (the default legacy kind order, then the group/version/kind)."""
    return _ranks(ORDER_FIRST, ORDER_LAST).get(gvk.kind, 0), gvk.sort_key()


def legacy(items: list[Resource], first: tuple[str, ...] = ORDER_FIRST,
           last: tuple[str, ...] = ORDER_LAST) -> list[Resource]:
    ranks = _ranks(first, last)

    def key(res: Resource) -> tuple[int, str, str, str]:
        rid = res.cur_id()
        return ranks.get(rid.gvk.kind, 0), rid.gvk.sort_key(), rid.namespace or "~X", rid.name
    return sorted(items, key=key)


def apply_sort_options(items: list[Resource], options: Any, where: str) -> list[Resource]:
    """``sortOptions`` of the top kustomization (``None`` when absent or null: the legacy default).
    Validated as Kustomize's SortOrderTransformer does: an order must be named (``sortOptions: {}`` is an
    error), and ``legacySortOptions`` (even ``{}``) only goes with ``order: legacy``; given, its lists
    replace both default lists (an absent ``orderLast`` is empty, not the default)."""
    if options is None:
        return legacy(items)
    options = as_map(options, where, "sortOptions")
    order = options.get("order")
    if order not in ("fifo", "legacy"):
        raise fail("the field 'sortOptions.order' must be one of [fifo, legacy]", where, "sortOptions.order")
    legacy_opts = options.get("legacySortOptions")
    if order == "fifo":
        if legacy_opts is not None:
            raise fail("the field 'sortOptions.legacySortOptions' is set but the selected sort order is "
                       "'fifo', not 'legacy'", where, "sortOptions.legacySortOptions")
        return items
    if legacy_opts is None:
        return legacy(items)
    legacy_opts = as_map(legacy_opts, where, "sortOptions.legacySortOptions")
    first = tuple(str(k) for k in as_list(legacy_opts.get("orderFirst"), where, "orderFirst"))
    last = tuple(str(k) for k in as_list(legacy_opts.get("orderLast"), where, "orderLast"))
    return legacy(items, first, last)
