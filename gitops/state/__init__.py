"""Durable state: per-target status, operation history, the event stream, leases and coalescing.

The workers write it (one fenced write per reconcile), ``gitops status`` and the HTTP API read it.
Key design choice: the port is split by role — :class:`Records` (status, history, events; its read
side :class:`RecordReader`), :class:`Leases` (fenced per-target leases, named locks),
:class:`Coalescing` (trigger state per target) and :class:`Schedule` (due polls, repository heads) —
so each caller depends only on what it uses, and :class:`TargetIndex` (paged, filtered, sorted reads of
every target for the web, kept by the writes; :mod:`gitops.state.index`); :class:`Store` is all of
them. Two implementations provide every role — :class:`RedisStore` (Lua scripts, appendonly Redis,
versioned ``gitops:v1:`` keys) and :class:`InMemoryStore` (tests; time from an injected
:class:`gitops.clock.Clock`) — so callers never see Redis. :func:`open_store` picks the Redis URL
from the argument or ``GITOPS_REDIS_URL``; every Redis client is built by :func:`connect`
(:mod:`gitops.state.connect`: plain Redis or Redis Sentinel, one grammar). The ApplicationSet
controller's versioned records and tombstones have a port of their own (:class:`AppSetStore` in
:mod:`gitops.state.appsets`; opened by :func:`open_appsets`).
"""

from __future__ import annotations

import os
from pathlib import Path

from gitops import program
from gitops.env import ENV_REDIS_URL
from gitops.errors import StateError
from gitops.state.appsets import AppSetStore, InMemoryAppSets, RedisAppSets, Tombstone, Versioned
from gitops.state.base import (
    EVENTS_LIMIT,
    HISTORY_LIMIT,
    Coalescing,
    Lease,
    Leases,
    RecordReader,
    Records,
    Schedule,
    Store,
)
from gitops.state.connect import SentinelURL, connect, parse_redis_url
from gitops.state.index import (
    DEFAULT_PAGE,
    MAX_PAGE,
    RenderedManifests,
    SortKey,
    TargetCounts,
    TargetIndex,
    TargetPage,
    TargetQuery,
)
from gitops.state.memory import InMemoryStore
from gitops.state.model import (
    DriftRecord,
    Event,
    ObjectRecord,
    Operation,
    TargetStatus,
    carry_forward,
    records_from_result,
)
from gitops.state.names import DEFAULT_PREFIX, Keys, check_name, check_target
from gitops.state.redis_store import RedisStore

__all__ = [
    "DEFAULT_PAGE", "DEFAULT_PREFIX", "EVENTS_LIMIT", "HISTORY_LIMIT", "MAX_PAGE", "AppSetStore",
    "Coalescing", "DriftRecord", "Event", "InMemoryAppSets", "InMemoryStore", "Keys", "Lease", "Leases",
    "ObjectRecord", "Operation", "RecordReader", "Records", "RedisAppSets", "RedisStore", "RenderedManifests",
    "Schedule", "SentinelURL", "SortKey", "Store", "TargetCounts", "TargetIndex", "TargetPage", "TargetQuery",
    "TargetStatus", "Tombstone", "Versioned", "carry_forward", "check_name", "check_target", "connect",
    "open_appsets", "open_store", "parse_redis_url", "recorded_url_path", "records_from_result", "redis_url",
]


# `gitops up` writes the URL of the Redis it uses into ./.gitops/redis.url of the directory it was started
# in (whatever its --data-dir), so commands run from the same directory (`gitops status`) find a running
# engine without any setting.
URL_FILE = "redis.url"
DEFAULT_DATA_DIR = ".gitops"


def recorded_url_path(directory: Path | None = None) -> Path:
    """Where `gitops up` started in ``directory`` (default: the current one) records its Redis URL."""
    return (directory or Path()) / DEFAULT_DATA_DIR / URL_FILE


def redis_url(url: str | None = None) -> str:
    """The Redis URL to use: ``url``, ``$GITOPS_REDIS_URL``, or the one a running ``gitops up`` recorded
    in ``./.gitops/redis.url``; StateError when there is none."""
    recorded = recorded_url_path()
    chosen = (url or os.environ.get(ENV_REDIS_URL)
              or (recorded.read_text().strip() if recorded.is_file() else ""))
    if not chosen:
        raise StateError(f"no Redis configured: set {ENV_REDIS_URL} (e.g. redis://127.0.0.1:6379/0) "
                         f"or run `{program()} up` in this directory")
    return chosen


def open_store(url: str | None = None) -> RedisStore:
    """A RedisStore on ``url`` (or ``$GITOPS_REDIS_URL``)."""
    return RedisStore.from_url(redis_url(url))


def open_appsets(url: str | None = None) -> RedisAppSets:
    """The ApplicationSet controller's store (:class:`RedisAppSets`) on ``url`` (or the Redis
    :func:`redis_url` finds)."""
    return RedisAppSets.from_url(redis_url(url))
