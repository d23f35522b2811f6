"""``spec.dependsOn`` of an ``Application``: the applications it waits for.

Validated here; the loader checks that each names a configured application and that the graph has no
cycle. Skeleton, filled in with the feature (docs/dependencies.md).
"""

from __future__ import annotations

from gitops.config.fields import Model, Name


class DependencyRef(Model):
    """One entry of ``dependsOn``: an application, on this application's cluster unless ``cluster``."""

    name: Name
    cluster: Name | None = None
