"""Deep copies of parsed YAML (JSON-like data), fast.

Used by the loader's parse cache (every caller gets its own copy of a cached parse) and by
:meth:`renderers.kustomize.resource.Resource.copy` (built bases are reused by copy).
"""

from __future__ import annotations

import marshal
from typing import Any


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (``marshal`` round trip: several times faster than
    ``copy.deepcopy``; values marshal cannot carry, such as YAML timestamps, take the slow path)."""
    try:
        return marshal.loads(marshal.dumps(value, 2))
    except ValueError:
        return plain_clone(value)


def plain_clone(value: Any) -> Any:
    """A deep copy of dicts and lists (the slow path of :func:`clone`; leaves are shared)."""
    if isinstance(value, dict):
        return {k: plain_clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_clone(v) for v in value]
    return value
