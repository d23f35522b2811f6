"""Shared constants and helpers of the worker tests (fast timeouts for real worker processes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


OFFSET_KEY = "test:clock:offset"  # seconds added to the system clock
FROZEN_KEY = "test:clock:frozen"  # when set: the time, standing still


@dataclass
class RedisClock:
    """A clock the test sets for worker processes it cannot reach: the time frozen at ``FROZEN_KEY`` when
    set, else the system clock shifted by ``OFFSET_KEY`` (0 when unset); both keys in the test's Redis.
    Installed by a ``GITOPS_RUNTIME`` factory; waits stay real."""

    client: Any

    def now(self) -> float:
        frozen = self.client.get(FROZEN_KEY)
        if frozen is not None:
            return float(frozen)
        return time.time() + float(self.client.get(OFFSET_KEY) or 0.0)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(max(0.0, timeout))


def shift_time(client: Any, at: float) -> None:
    """Make a RedisClock on ``client`` read ``at`` now, and run on from there."""
    client.set(OFFSET_KEY, repr(at - time.time()))


def freeze_time(client: Any, at: float) -> None:
    """Make a RedisClock on ``client`` read ``at`` until told otherwise."""
    client.set(FROZEN_KEY, repr(at))
