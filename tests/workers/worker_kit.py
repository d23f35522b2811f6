"""Shared constants and helpers of the worker tests (fast timeouts for real worker processes)."""

from __future__ import annotations

from collections.abc import Callable

from gitops.clock import poll_until

FAST = {
    "GITOPS_VISIBILITY_TIMEOUT": "4",
    "GITOPS_RESTORE_INTERVAL": "1",
    "GITOPS_LOCK_TTL": "2",
    "GITOPS_SCHED_TTL": "30",
    "GITOPS_RETRY_BASE": "0.2",
    "GITOPS_RETRY_MAX": "0.8",
    "GITOPS_RETRY_LIMIT": "3",
    "GITOPS_SOFT_TIME_LIMIT": "20",
    "GITOPS_HARD_TIME_LIMIT": "25",
}


def wait_for(check: Callable[[], object], timeout: float = 20.0, every: float = 0.05) -> object:
    """The tests' one way to wait: poll ``check`` until it holds (its value) or fail after ``timeout``."""
    value = poll_until(check, timeout, every=every)
    if not value:
        raise AssertionError(f"condition not met within {timeout}s: {check}")
    return value
