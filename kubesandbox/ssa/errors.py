"""Errors of the server-side apply library.

Raised by :mod:`kubesandbox.ssa`; the sandbox API server turns :class:`InvalidObject` into a 422
(or 400) response and :class:`ApplyConflict` into a 409 with ``details.causes``. Both are plain
exceptions rather than :class:`gitops.errors.GitOpsError` subclasses because they describe a request
made to the (simulated) API server, not a failure of the engine itself.
"""

from __future__ import annotations

from collections.abc import Sequence


class InvalidObject(ValueError):
    """The object does not fit its schema; ``path`` is the field path (``.spec.replicas``)."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)


class ApplyConflict(Exception):
    """An apply would change fields owned by other managers; ``conflicts`` lists (manager, path)."""

    def __init__(self, conflicts: Sequence[tuple[str, str]], message: str | None = None) -> None:
        self.conflicts = list(conflicts)
        super().__init__(message or conflict_message(self.conflicts))


def conflict_message(conflicts: Sequence[tuple[str, str]]) -> str:
    """The message kube-apiserver writes for apply conflicts (``Apply failed with N conflicts...``)."""
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        return f'Apply failed with 1 conflict: conflict with "{manager}": {path}'
    by_manager: dict[str, list[str]] = {}
    for manager, path in conflicts:
        by_manager.setdefault(manager, []).append(path)
    lines: list[str] = []
    for manager in sorted(by_manager):
        lines.append(f'conflicts with "{manager}":')
        lines.extend(f"- {path}" for path in by_manager[manager])
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
