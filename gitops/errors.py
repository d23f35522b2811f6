"""The engine's one exception tree.

Every error the core raises derives from :class:`GitOpsError`. Each carries what it is about
(``target``: application/cluster, ``obj``: a ``kind/namespace/name`` reference, ``revision``: a commit)
and says whether retrying can help (``temporary``) and, when the other side said so, after how many
seconds (``retry_after``: a cluster's ``Retry-After``). Celery tasks retry only temporary errors.
Third-party errors (pygit2, kubernetes, redis, yaml) are translated once, at the edge that calls the
library, and chained with ``raise ... from``. A wrapper keeps what it wraps retryable: a render that
failed because Git could not fetch a Kustomize remote base in time is a temporary ``RenderFailed``
(:meth:`RenderFailed.wrapping`). :class:`Failure` is an error as a value (kind, message, temporary,
retry hint): what a ``ReconcileResult`` carries across processes instead of an exception.

::

    GitOpsError                       (temporary=False unless said otherwise)
    ├── ConfigError                   invalid configuration; carries a list of located Problems
    ├── InputError                    hostile or malformed input: YAML bomb, huge file, bad path
    ├── SourceError                   Git: remote, fetch, snapshot
    │   ├── SourceUnavailable         (temporary) network, timeout, remote 5xx
    │   ├── AuthError                 credentials rejected or missing
    │   └── UnsafeSource              dangerous transport, symlink escaping the repository
    ├── RenderFailed                  a renderer failed (wraps renderers.errors.RenderError;
    │                                 temporary when a temporary SourceError caused it)
    ├── VerificationFailed            an image signature did not satisfy the policy
    ├── RegistryError                 an OCI registry (temporary on 429, 5xx, timeouts; carries the
    │                                 status and the registry's Retry-After)
    ├── ClusterError                  talking to a Kubernetes API server
    │   ├── ClusterUnavailable        (temporary) timeout, connection refused, 429, 5xx
    │   ├── Conflict                  SSA field conflict without force (carries the causes)
    │   ├── ImmutableField            422 "field is immutable" (carries the fields)
    │   ├── Invalid                   422 other than immutability
    │   ├── NotFound                  404 on a resource or kind
    │   └── Forbidden                 401/403
    ├── PruneRefused                  the mass-delete guard stopped a prune
    ├── SyncFailed                    a sync ran but did not complete: objects failed, a wave or
    │                                 the inventory stopped it, the health wait failed
    ├── LockHeld                      (temporary) another reconcile of the same target runs
    ├── NotificationFailed            delivering a notification (temporary on 429, 5xx, timeouts)
    └── StateError                    reading or writing state (temporary when Redis is away)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One located problem in an input file: ``file:line:column: field: message``."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        loc = self.file or "<input>"
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return f"{loc}: {self.field}: {self.message}" if self.field else f"{loc}: {self.message}"


class GitOpsError(Exception):
    """Base of every engine error."""

    temporary: bool = False
    retry_after: float | None = None  # seconds the other side asked us to wait before retrying

    def __init__(self, message: str, *, target: str | None = None, obj: str | None = None,
                 revision: str | None = None, temporary: bool | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.obj = obj
        self.revision = revision
        if temporary is not None:
            self.temporary = temporary
        if retry_after is not None:
            self.retry_after = retry_after

    def __str__(self) -> str:
        context = [f"{k}={v}" for k, v in
                   (("target", self.target), ("object", self.obj), ("revision", self.revision)) if v]
        return f"{self.message} [{', '.join(context)}]" if context else self.message


class ConfigError(GitOpsError):
    """The configuration is invalid; ``problems`` lists every located problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "invalid configuration"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)


class InputError(GitOpsError):
    """Malformed or hostile input (YAML bomb, oversized file, path escaping its root)."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, field: str | None = None) -> None:
        self.problem = Problem(message, file, line, column, field)
        super().__init__(str(self.problem))


class SourceError(GitOpsError):
    """A Git source could not be read."""


class SourceUnavailable(SourceError):
    """The remote could not be reached in time; the last good revision stays usable."""

    temporary = True


class AuthError(SourceError):
    """Credentials were rejected or could not be loaded."""


class UnsafeSource(SourceError):
    """A repository URL or its content is unsafe (``ext::`` transport, symlink out of the tree)."""


class RenderFailed(GitOpsError):
    """A renderer failed; the message names the file and field."""

    @classmethod
    def wrapping(cls, error: BaseException, message: str, *, target: str | None = None,
                 revision: str | None = None) -> RenderFailed:
        """The RenderFailed for ``error`` (raise it ``from error``): temporary, with the retry hint,
        when a SourceError behind it was (a remote base Git could not fetch in time)."""
        source = source_cause(error)
        return cls(message, target=target, revision=revision,
                   temporary=source.temporary if source is not None else None,
                   retry_after=source.retry_after if source is not None else None)


class VerificationFailed(GitOpsError):
    """An image did not satisfy the verification policy."""


class ClusterError(GitOpsError):
    """A Kubernetes API request failed."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None,
                 target: str | None = None, obj: str | None = None, revision: str | None = None,
                 temporary: bool | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, target=target, obj=obj, revision=revision, temporary=temporary,
                         retry_after=retry_after)
        self.status = status
        self.reason = reason


class ClusterUnavailable(ClusterError):
    """Timeout, connection refused, 429 or 5xx: retrying later can help."""

    temporary = True


class Conflict(ClusterError):
    """Server-side apply conflicts: ``causes`` lists (manager, field path) pairs."""

    def __init__(self, message: str, *, causes: Sequence[tuple[str, str]] = (), **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.causes = list(causes)


class ImmutableField(ClusterError):
    """The API rejected a change to an immutable field; ``fields`` names them."""

    def __init__(self, message: str, *, fields: Sequence[str] = (), **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.fields = list(fields)


class Invalid(ClusterError):
    """The API rejected the object as invalid (422) for a reason other than immutability."""


class NotFound(ClusterError):
    """The object or its kind does not exist on the cluster."""


class Forbidden(ClusterError):
    """The credentials may not perform the request (401/403)."""


class PruneRefused(GitOpsError):
    """The mass-delete guard refused a prune that would delete too much."""


class SyncFailed(GitOpsError):
    """A sync ran but did not complete; its per-object results say what was done."""


class LockHeld(GitOpsError):
    """Another reconcile of the same target holds the lock."""

    temporary = True


class StateError(GitOpsError):
    """State could not be read or written."""


class NotificationFailed(GitOpsError):
    """A notification could not be delivered (gitops.notify): temporary for timeouts, refused
    connections, 429 and 5xx (``retry_after`` from the receiver's ``Retry-After``), permanent for other
    4xx and a bad destination. ``status`` is the HTTP status when there was one; messages never hold a
    destination's secret (an Apprise URL, a token)."""

    def __init__(self, message: str, *, status: int | None = None, temporary: bool | None = None,
                 retry_after: float | None = None, target: str | None = None) -> None:
        super().__init__(message, target=target, temporary=temporary, retry_after=retry_after)
        self.status = status


def source_cause(error: BaseException) -> SourceError | None:
    """The SourceError in ``error``'s chain (``error`` itself, its ``__cause__``, or its context
    unless suppressed), whatever layers wrapped it; None when Git had no part in it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, SourceError):
            return current
        seen.add(id(current))
        current = current.__cause__ if current.__cause__ is not None else (
            None if current.__suppress_context__ else current.__context__)
    return None


@dataclass(frozen=True)
class Failure:
    """An error as a value: its ``kind`` (the class name in this tree), message, whether retrying can
    help and after how many seconds the other side asked us to retry (None: no hint).

    Carried by ``gitops.engine.ReconcileResult`` so callers (the workers' retry backoff, the CLI, state)
    read one typed value instead of parsing a string; it crosses processes as plain data.
    """

    kind: str
    message: str
    temporary: bool = False
    retry_after: float | None = None

    @staticmethod
    def of(error: GitOpsError) -> Failure:
        return Failure(type(error).__name__, str(error), error.temporary, error.retry_after)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "temporary": self.temporary,
                "retry_after": self.retry_after}


class RegistryError(GitOpsError):
    """An OCI registry request failed (image signature verification reads registries).

    ``temporary`` for timeouts, refused connections, 429 and 5xx (``retry_after`` from the registry's
    ``Retry-After``); permanent for 401/403, 404, malformed or oversized answers, a digest the bytes do
    not match and a refused URL. ``status`` is the HTTP status when there was one. Messages name the
    registry, repository and reference, never a credential.
    """

    def __init__(self, message: str, *, status: int | None = None, temporary: bool | None = None,
                 retry_after: float | None = None, target: str | None = None) -> None:
        super().__init__(message, target=target, temporary=temporary, retry_after=retry_after)
        self.status = status
