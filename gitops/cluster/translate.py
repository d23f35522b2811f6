"""Translation of API server failures into gitops.errors, done once for every request.

Called only by :mod:`.rest`. The decision uses the ``Status`` object the API server returns: 429 and 5xx
are ClusterUnavailable (temporary, ``Retry-After`` or ``details.retryAfterSeconds`` honoured); a 409
with ``FieldManagerConflict`` causes is an SSA Conflict carrying (manager, field) pairs; a 422 is
ImmutableField only when a structured cause says so for its field (never a loose match on the whole
body): reason ``FieldValueInvalid`` with "field is immutable" (selectors, a Job's template) or "may not
change once set" (a Service's clusterIPs, ipFamilies, loadBalancerClass), or
reason ``FieldValueForbidden`` with one of the apiserver's immutability messages (an immutable
ConfigMap/Secret's data, a PVC spec, StatefulSet spec fields other than the updatable ones); else
Invalid; 404 NotFound; 401/403 Forbidden.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gitops.errors import (
    ClusterError,
    ClusterUnavailable,
    Conflict,
    Forbidden,
    ImmutableField,
    Invalid,
    NotFound,
)

_MANAGER = re.compile(r'conflict with "([^"]*)"')
_MAX_MESSAGE = 2000


def parse_status(body: bytes | str | None) -> dict[str, Any]:
    """The ``Status`` object of an error body (``{}`` when the body is not one)."""
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _causes(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = status.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    return [c for c in causes or [] if isinstance(c, dict)]


def retry_after(headers: Mapping[str, str] | None, status: Mapping[str, Any]) -> float | None:
    value: Any = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if value is None:
        details = status.get("details")
        value = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


# Messages kube-apiserver validation attaches to FieldValueInvalid causes when a field may not change:
# ValidateImmutableField's (selectors, a Job's template) and the Service's own ("spec.clusterIPs[0]:
# Invalid value: ...: may not change once set", also for ipFamilies and loadBalancerClass).
_INVALID_IMMUTABLE = ("field is immutable", "may not change once set")
# Messages kube-apiserver validation attaches to FieldValueForbidden causes when a field may not change
# after creation (core/v1 ConfigMap and Secret "immutable", PVC spec, apps/v1 StatefulSet spec).
_FORBIDDEN_IMMUTABLE = ("field is immutable", "is immutable after creation",
                        "updates to statefulset spec for fields other than")


def _is_immutable_cause(cause: Mapping[str, Any]) -> bool:
    message, reason = str(cause.get("message", "")), cause.get("reason")
    if reason == "FieldValueInvalid":
        return any(m in message for m in _INVALID_IMMUTABLE)
    return reason == "FieldValueForbidden" and any(m in message for m in _FORBIDDEN_IMMUTABLE)


def immutable_fields(status: Mapping[str, Any]) -> list[str]:
    """Fields a 422 Status names as immutable, from its structured causes only."""
    return [str(c.get("field", "")) for c in _causes(status) if _is_immutable_cause(c)]


def conflicts(status: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(manager, field) pairs of an SSA conflict."""
    out = []
    for cause in _causes(status):
        if cause.get("reason", cause.get("type")) == "FieldManagerConflict":
            found = _MANAGER.search(str(cause.get("message", "")))
            out.append((found.group(1) if found else "unknown", str(cause.get("field", ""))))
    return out


def translate(code: int, body: bytes | str | None, headers: Mapping[str, str] | None = None, *,
              obj: str | None = None, target: str | None = None) -> ClusterError:
    """The ClusterError for one failed response."""
    status = parse_status(body)
    message = str(status.get("message") or (body.decode(errors="replace") if isinstance(body, bytes)
                                            else body) or f"HTTP {code}")[:_MAX_MESSAGE]
    reason = str(status.get("reason") or "") or None
    kw: dict[str, Any] = {"status": code, "reason": reason, "obj": obj, "target": target}
    if code == 429 or code >= 500:
        return ClusterUnavailable(message, retry_after=retry_after(headers, status), **kw)
    if code == 409:
        causes = conflicts(status)
        return Conflict(message, causes=causes, temporary=not causes and reason == "Conflict", **kw)
    if code == 422:
        fields = immutable_fields(status)
        return ImmutableField(message, fields=fields, **kw) if fields else Invalid(message, **kw)
    if code == 404:
        return NotFound(message, **kw)
    if code in (401, 403):
        return Forbidden(message, **kw)
    if code in (400, 415):
        return Invalid(message, **kw)
    return ClusterError(message, temporary=code in (408, 410), **kw)
