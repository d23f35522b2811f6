"""The engine's one exception tree.

Every error the core raises derives from :class:`GitOpsError`. Each carries what it is about
(``target``: application/cluster, ``obj``: a ``kind/namespace/name`` reference, ``revision``: a commit)
and says whether retrying can help (``temporary``). Celery tasks retry only temporary errors.
Third-party errors (pygit2, kubernetes, redis, yaml) are translated once, at the edge that calls the
library, and chained with ``raise ... from``.

::

    GitOpsError                       (temporary=False unless said otherwise)
    ├── ConfigError                   invalid configuration; carries a list of located Problems
    ├── InputError                    hostile or malformed input: YAML bomb, huge file, bad path
    ├── SourceError                   Git: remote, fetch, snapshot
    │   ├── SourceUnavailable         (temporary) network, timeout, remote 5xx
    │   ├── AuthError                 credentials rejected or missing
    │   └── UnsafeSource              dangerous transport, symlink escaping the repository
    ├── RenderFailed                  a renderer failed (wraps renderers.errors.RenderError)
    ├── VerificationFailed            an image signature did not satisfy the policy
    ├── ClusterError                  talking to a Kubernetes API server
    │   ├── ClusterUnavailable        (temporary) timeout, connection refused, 429, 5xx
    │   ├── Conflict                  SSA field conflict without force (carries the causes)
    │   ├── ImmutableField            422 "field is immutable" (carries the fields)
    │   ├── Invalid                   422 other than immutability
    │   ├── NotFound                  404 on a resource or kind
    │   └── Forbidden                 401/403
    ├── PruneRefused                  the mass-delete guard stopped a prune
    ├── LockHeld                      (temporary) another reconcile of the same target runs
    └── StateError                    reading or writing state (temporary when Redis is away)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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

    def __init__(self, message: str, *, target: str | None = None, obj: str | None = None,
                 revision: str | None = None, temporary: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.obj = obj
        self.revision = revision
        if temporary is not None:
            self.temporary = temporary

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


class VerificationFailed(GitOpsError):
    """An image did not satisfy the verification policy."""


class ClusterError(GitOpsError):
    """A Kubernetes API request failed."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None,
                 target: str | None = None, obj: str | None = None, revision: str | None = None,
                 temporary: bool | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, target=target, obj=obj, revision=revision, temporary=temporary)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


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


class LockHeld(GitOpsError):
    """Another reconcile of the same target holds the lock."""

    temporary = True


class StateError(GitOpsError):
    """State could not be read or written."""
