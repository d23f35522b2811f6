"""Whether a target may sync now: its dependencies, the sync windows that select it, a suspension.

Skeleton, filled in with the feature (docs/dependencies.md, docs/sync-windows.md).
"""
