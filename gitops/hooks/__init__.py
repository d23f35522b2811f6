"""Sync hooks: objects that run in a phase of a sync (PreSync, Sync, PostSync, SyncFail) or of an
application's deletion (PreDelete, PostDelete).

Skeleton, filled in with the feature (docs/hooks.md).
"""
