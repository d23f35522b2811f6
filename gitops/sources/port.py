"""The Git port: what the engine needs from a source, as a Protocol (GitSource implements it).

Used by the engine and its tests (a fake can implement these four methods over a plain directory).
Key design choice: only commit ids and read-only snapshots cross the port; fetching, caching and
credentials stay inside :class:`gitops.sources.GitSource`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gitops.sources.git_source import Snapshot
    from gitops.sources.spec import RepoSpec


class SourcePort(Protocol):
    """Resolve heads and provide snapshots of Git repositories."""

    def head(self, spec: RepoSpec) -> str: ...

    def snapshot(self, spec: RepoSpec, revision: str) -> Snapshot: ...

    def changed_paths(self, spec: RepoSpec, old: str, new: str) -> frozenset[str]: ...

    def last_good(self, spec: RepoSpec) -> str | None: ...
