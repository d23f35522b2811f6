"""Validated names and the versioned Redis key layout of the state store.

Called by every Store implementation and by the workers before a name reaches Redis. Key design choice:
keys are built only from names that passed :func:`check_name` (a DNS-1123-like alphabet, bounded length),
so a forged task argument can never inject a key separator, a glob or a newline, and every key carries
the schema version (``gitops:v1:``) so a future layout can live next to this one during a migration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gitops.errors import InputError
from gitops.vocabulary import Target

SCHEMA_VERSION: Final = 1
DEFAULT_PREFIX: Final = f"gitops:v{SCHEMA_VERSION}:"
MAX_NAME: Final = 253
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid application/cluster/repository name, else raise InputError."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string, got {type(value).__name__}", field=what)
    if not value or len(value) > MAX_NAME or not _NAME.fullmatch(value):
        shown = value[:60] + ("..." if len(value) > 60 else "")
        raise InputError(f"invalid {what} {shown!r}: lowercase letters, digits, '-', '.', '_' "
                         f"(at most {MAX_NAME})", field=what)
    return value


def check_target(application: object, cluster: object) -> Target:
    """A :class:`Target` from two untrusted values (task arguments, HTTP parameters)."""
    return Target(check_name(application, "application"), check_name(cluster, "cluster"))


@dataclass(frozen=True)
class Keys:
    """Every Redis key of the store, under one versioned prefix."""

    prefix: str = DEFAULT_PREFIX

    def _t(self, kind: str, target: Target) -> str:
        check_target(target.application, target.cluster)
        return f"{self.prefix}{kind}:{target.application}:{target.cluster}"

    def status(self, target: Target) -> str:
        return self._t("status", target)

    def history(self, target: Target) -> str:
        """Sorted set of operation ids scored by start time (newest last)."""
        return self._t("history", target)

    def operations(self, target: Target) -> str:
        """Hash of operation id -> operation JSON (the entries the history sorted set names)."""
        return self.history(target) + ":ops"

    def fence(self, target: Target) -> str:
        """Highest fencing token seen by a write for the target."""
        return self._t("fence", target)

    def lock(self, target: Target) -> str:
        return self._t("lock", target)

    def token_counter(self, target: Target) -> str:
        return self._t("tokens", target)

    def schedule(self, target: Target) -> str:
        """Coalescing state of the target: absent, ``queued``, ``running`` or ``dirty``."""
        return self._t("sched", target)

    def targets(self) -> str:
        """Set of every target key (``app@cluster``) that has a status."""
        return f"{self.prefix}targets"

    def events(self) -> str:
        return f"{self.prefix}events"

    def named_lock(self, name: str) -> str:
        return f"{self.prefix}lock:{check_name(name, 'lock name')}"

    def repo_head(self, repository: str) -> str:
        return f"{self.prefix}head:{check_name(repository, 'repository')}"

    def repo_due(self) -> str:
        """Sorted set: repository name scored by the time its next poll is due."""
        return f"{self.prefix}poll-due"

    # -- the target index (gitops.state.index; layout in gitops.state.redis_store) -------------------
    # The index's Lua scripts (gitops.state.lua._INDEX) build the same names from index_prefix().
    def index_prefix(self) -> str:
        return f"{self.prefix}idx:"

    def manifests(self, target: Target) -> str:
        """Hash: the last rendered manifests of the target (digest, operation, text, truncated)."""
        return self._t("manifests", target)

    def index_version(self) -> str:
        """The version of the index layout the entries were written with (absent: rebuild)."""
        return f"{self.index_prefix()}version"

    def index_entries(self) -> str:
        """Hash: target key -> JSON of its entry (its facets and orders), what a rewrite or ``forget``
        removes."""
        return f"{self.index_prefix()}entry"

    def index_facet(self, facet: str) -> str:
        """Set of target keys with one facet (``sync:Synced``, ``cluster:prod``, ``drifted``...)."""
        return f"{self.index_prefix()}f:{facet}"

    def index_order(self, sort: str) -> str:
        """Sorted set, every score 0: the members of one order (``primary\\0app\\0cluster``)."""
        return f"{self.index_prefix()}by:{sort}"

    def index_members(self, sort: str) -> str:
        """Hash: target key -> its member in one order (to sort a filtered set)."""
        return f"{self.index_prefix()}of:{sort}"

    def index_scratch(self) -> str:
        """Prefix of the temporary keys a query script creates and deletes before it returns."""
        return f"{self.index_prefix()}tmp"


_OP_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def check_operation_id(value: object) -> str:
    """Operation ids are Celery task ids (UUIDs) or our own; bounded and separator-free."""
    if not isinstance(value, str) or not _OP_ID.fullmatch(value):
        raise InputError(f"invalid operation id {str(value)[:60]!r}", field="operation")
    return value
