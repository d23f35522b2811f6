"""Errors of the server-side apply library.

Raised by :mod:`kubesandbox.ssa`; the sandbox API server turns ``InvalidObject`` (shared with the
FieldsV1 codec: :class:`renderers.k8s.errors.InvalidObject`) into a 422 (or 400) response and
:class:`ApplyConflict` into a 409 with ``details.causes``. Both are plain exceptions because they
describe a request made to the (simulated) API server.
"""

from __future__ import annotations

from collections.abc import Sequence


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
