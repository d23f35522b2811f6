"""Duration strings of the configuration: ``"30s"``, ``"5m"``, ``"1h30m"``, ``"250ms"`` or plain numbers.

Called by the field types in :mod:`gitops.config.fields` (poll intervals, timeouts, retry backoff).
The grammar is Go's ``time.ParseDuration`` without signs or micro/nano units, so values read the same
as in Kubernetes and Argo CD manifests. A bare number means seconds; a string must carry units so that
``"5"`` is never mistaken for five minutes. Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+")
MAX_SECONDS = 366 * 86400.0


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``value``; raises ValueError with a message fit for a user (never echoing input)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _WHOLE.fullmatch(text):
            raise ValueError("expected a duration such as 30s, 5m, 1h30m or 250ms (units: ms, s, m, h, d)")
        seconds = sum(float(num) * _UNITS[unit] for num, unit in _PART.findall(text))
    else:
        raise ValueError("expected a duration such as 30s, 5m or 1h, or a number of seconds")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be a finite, non-negative number of seconds")
    if seconds > MAX_SECONDS:
        raise ValueError("a duration may not exceed 366 days")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest string :func:`parse_duration` reads back as ``seconds`` (``300.0`` -> ``"5m"``)."""
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"
