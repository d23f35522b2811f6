"""Bounded, order-preserving parallel map for the I/O-bound per-object requests of one step.

Used by gitops.plan (GETs and dry-runs), gitops.apply (applies within one stage) and gitops.prune: against a
real API server each request is a network round trip, so a few in flight at once cut a large first sync
from seconds to a fraction. Results come back in input order, so plans and reports stay
deterministic; the first exception (in input order) propagates after all calls finished. The
per-cluster token bucket still bounds the request rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_WORKERS = 8


def pmap(fn: Callable[[T], R], items: Sequence[T], workers: int = DEFAULT_WORKERS) -> list[R]:
    """``[fn(x) for x in items]`` with up to ``workers`` calls in flight."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="gitops-kube") as pool:
        futures = [pool.submit(fn, x) for x in items]
        return [f.result() for f in futures]
