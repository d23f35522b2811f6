"""Git sources: poll remote heads cheaply, share read-only snapshots, diff revisions.

The public face of the package; the engine and workers import from here::

    from gitops.sources import GitSource, RepoSpec, Snapshot

``RepoSpec.from_config(repository)`` turns a configured repository into a spec (URL policy checked);
``GitSource(cache_dir)`` offers ``head``, ``heads``, ``snapshot``, ``changed_paths``, ``last_good``,
``lease`` and ``collect``. The engine does not import this package (it loads pygit2): it depends on
its own small ``Source`` port (gitops.engine), which gitops.adapters implements over ``GitSource``
and tests fake. See docs/sources.md for caching, auth, timeouts and limits.
"""

from __future__ import annotations

from gitops.domain import Credentials
from gitops.sources.git_source import GitSource, Snapshot
from gitops.sources.materialise import Limits
from gitops.sources.spec import RepoSpec

__all__ = ["Credentials", "GitSource", "Limits", "RepoSpec", "Snapshot"]
