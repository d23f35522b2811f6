"""``spec.healthCheckExprs`` of an ``Application``: health of custom kinds from CEL expressions.

Skeleton, filled in with the feature (docs/health.md).
"""

from __future__ import annotations

from gitops.config.fields import Model, Text


class HealthCheckExpr(Model):
    """Flux's ``healthCheckExprs`` entry: a kind and CEL expressions for current, inProgress, failed."""

    api_version: Text
    kind: Text
    current: Text | None = None
    in_progress: Text | None = None
    failed: Text | None = None
