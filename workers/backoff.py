"""Exponential backoff with jitter, the one formula of every retry in the workers.

Used by workers/service.py (reconciles, a Redis that is away) and workers/notices.py (notification
deliveries); a module of its own so both import it without importing each other.
"""

from __future__ import annotations

import random


def backoff(attempt: int, base: float, cap: float, *, factor: float = 2.0, floor: float = 0.0) -> float:
    """Exponential backoff with jitter: base * factor^(attempt-1), capped, scaled by a random 0.5..1."""
    raw = min(cap, base * float(factor) ** min(max(0, attempt - 1), 64))
    return max(floor, raw * (0.5 + random.random() / 2))
