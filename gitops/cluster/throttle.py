"""Client-side rate limit (token bucket) and bounded retries with backoff and jitter.

Used by :mod:`.rest` around every request: the bucket keeps one cluster's request rate at its configured
``qps`` (burst of twice that), shared by every thread using the cluster; ``retry`` re-runs a call
only when it raised a *temporary* GitOpsError, waiting the server's ``Retry-After`` when given,
else exponential backoff with full jitter, never more than ``attempts`` tries or ``max_delay`` each.
Both take a clock and a sleep function so tests run without real waiting.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from gitops.errors import GitOpsError

T = TypeVar("T")
log = logging.getLogger(__name__)


class TokenBucket:
    """At most ``qps`` acquisitions per second on average, ``burst`` at once."""

    def __init__(self, qps: float, burst: int | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.qps = max(qps, 0.001)
        self.burst = max(1, burst if burst is not None else int(qps * 2))
        self._tokens = float(self.burst)
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the time waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1
            wait = -self._tokens / self.qps if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 10.0


def retry(call: Callable[[], T], policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep,
          rand: Callable[[], float] = random.random) -> T:
    """``call()``, retried on temporary errors with backoff; the last error propagates."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except GitOpsError as exc:
            if not exc.temporary or attempt >= policy.attempts:
                raise
            hint = exc.retry_after
            delay = hint if hint is not None else policy.base_delay * (2 ** (attempt - 1)) * (0.5 + rand())
            delay = min(delay, policy.max_delay)
            log.debug("temporary error (attempt %d/%d), retrying in %.2fs: %s", attempt,
                      policy.attempts, delay, exc)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
