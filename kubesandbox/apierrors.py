"""API errors of the sandbox API server, rendered as ``meta/v1`` Status objects.

Raised by the sandbox REST handlers and turned into an HTTP response in one place (the server module).
The reasons, codes and message texts follow the Kubernetes API conventions ("Response Status Kind")
and the wording of kube-apiserver's ``k8s.io/apimachinery/pkg/api/errors`` so clients that match on
them (kubectl, the Python client, our engine) behave as they would against a real cluster.
``ApiError`` derives from :class:`kubesandbox.errors.SandboxError`, the sandbox's own error tree (the
engine's client sees these errors as HTTP responses and translates them into its own tree).
"""

from __future__ import annotations

from typing import Any

from kubesandbox.errors import SandboxError


class ApiError(SandboxError):
    """One failed API request: HTTP ``code``, machine ``reason``, optional ``details`` and the
    ``retry_after`` seconds sent as a ``Retry-After`` header."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.details = details
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Failure", "message": self.message, "code": self.code}
        if self.reason:
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        return status


def _details(name: str, resource: str, group: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {}  # StatusDetails fields are omitempty
    if name:
        details["name"] = name
    if resource:
        details["kind"] = resource
    if group:
        details["group"] = group
    details.update(extra)
    return details


def qualified(resource: str, group: str) -> str:
    """``deployments.apps`` / ``pods``: how kube-apiserver names a resource in messages."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    details=_details(name, resource, group))


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
                    details=_details(name, resource, group))


def conflict(resource: str, group: str, name: str, why: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}'
    return ApiError(409, "Conflict", message, details=_details(name, resource, group))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def apply_conflict(resource: str, group: str, name: str, conflicts: list[tuple[str, str]],
                   message: str | None = None) -> ApiError:
    """409 for server-side apply conflicts, causes shaped like kube-apiserver's.

    The apiserver serializes ``StatusCause.Type`` under the JSON key ``reason``; the team contract
    spells it ``type``, so both keys are present (clients ignore the extra one)."""
    causes = [{"reason": "FieldManagerConflict", "type": "FieldManagerConflict",
               "message": f'conflict with "{mgr}": {path}', "field": path} for mgr, path in conflicts]
    if message:
        summary = message
    elif len(conflicts) == 1:
        mgr, path = conflicts[0]
        summary = f'Apply failed with 1 conflict: conflict with "{mgr}": {path}'
    else:
        summary = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(
            f'conflict with "{mgr}": {path}' for mgr, path in conflicts)
    return ApiError(409, "Conflict", summary, details=_details(name, resource, group, causes=causes))


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid. ``causes`` are (reason, field, message) triples, e.g.
    ("FieldValueInvalid", "spec.selector", "Invalid value: ...: field is immutable")."""
    what = f"{kind}.{group}" if group else kind
    texts = [f"{fld}: {msg}" if fld else msg for _, fld, msg in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = _details(name, kind, group, causes=[
        {"reason": reason, "message": msg, "field": fld} for reason, fld, msg in causes])
    return ApiError(422, "Invalid", f'{what} "{name}" is invalid: {joined}', details=details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource"
                       ) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                    f"accepted media types include: application/json-patch+json, "
                    f"application/merge-patch+json, application/apply-patch+yaml; got {content_type!r}")


def too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
