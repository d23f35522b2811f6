"""Every annotation and label key the engine reads or writes, in one place.

All keys live under one prefix of our own so they never collide with another tool's (the only
others are Argo CD's and Helm's hook keys, read for compatibility). Callers import the constants; no
other module spells a key as a string literal. :func:`app_label` is the value of
:data:`APP_LABEL` (render stamps it, plan and prune select by it).
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

PREFIX: Final = "gitops.dev"

# The target (application/cluster) that owns an object; checked before prune deletes anything.
OWNED_BY: Final = f"{PREFIX}/owned-by"
# Label selecting every object of one application (cheap LIST per kind for inventory checks).
APP_LABEL: Final = f"{PREFIX}/app"
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def app_label(application: str) -> str:
    """The APP_LABEL value: the name when it is a valid label value, else a stable hash."""
    if _LABEL_VALUE.match(application):
        return application
    return "h-" + hashlib.sha256(application.encode()).hexdigest()[:40]


# User ordering inside a sync: lower waves apply first (integer, default 0).
SYNC_WAVE: Final = f"{PREFIX}/sync-wave"
# Compare options for drift, e.g. "IgnoreExtraneous" or "ServerSideDiff=false".
COMPARE: Final = f"{PREFIX}/compare"
# Immutable-field policy per object: "allow" lets the engine delete and recreate it.
RECREATE: Final = f"{PREFIX}/recreate"
# Sync options per object: "Prune=false", "Delete=false".
SYNC_OPTIONS: Final = f"{PREFIX}/sync-options"
# The Git revision last applied to the object (informational).
REVISION: Final = f"{PREFIX}/revision"
# Hash of the desired manifest last applied; an unchanged hash lets a no-op sync skip the dry-run.
APPLIED_HASH: Final = f"{PREFIX}/applied-hash"
# Label on the inventory ConfigMaps (value: the target key hash) so they can be listed.
INVENTORY_LABEL: Final = f"{PREFIX}/inventory"

# Sync hooks (gitops.hooks, docs/hooks.md): the phases an object runs in (comma list: PreSync, Sync,
# PostSync, SyncFail, PreDelete, PostDelete, Skip), when it is deleted (BeforeHookCreation, HookSucceeded,
# HookFailed) and how long it may run (a duration such as "5m").
HOOK: Final = f"{PREFIX}/hook"
HOOK_DELETE_POLICY: Final = f"{PREFIX}/hook-delete-policy"
HOOK_TIMEOUT: Final = f"{PREFIX}/hook-timeout"
# Stamped on a hook object instead of OWNED_BY (value: the target key): hooks are never in the
# inventory, never pruned and never drift.
HOOK_OF: Final = f"{PREFIX}/hook-of"
# Other tools' keys, read (never written) so their repositories work unchanged: Argo CD's hook, delete
# policy and sync wave, and Helm's hook annotations as Argo CD maps them.
ARGO_HOOK: Final = "argocd.argoproj.io/hook"
ARGO_HOOK_DELETE_POLICY: Final = "argocd.argoproj.io/hook-delete-policy"
ARGO_SYNC_WAVE: Final = "argocd.argoproj.io/sync-wave"
HELM_HOOK: Final = "helm.sh/hook"
HELM_HOOK_DELETE_POLICY: Final = "helm.sh/hook-delete-policy"
HELM_HOOK_WEIGHT: Final = "helm.sh/hook-weight"

# Cluster label naming the shard of workers that serves the cluster's targets (a DNS label): their
# per-target tasks go to the queues "<queue>.<shard>" (reconcile.eu, sync.eu); docs/workers.md.
SHARD: Final = f"{PREFIX}/shard"

# Field manager the engine uses for server-side apply unless configured otherwise.
DEFAULT_FIELD_MANAGER: Final = "gitops"
