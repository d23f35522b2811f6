"""Whether a target may sync now: its dependencies (:mod:`gitops.permit.dependencies`) and the sync
windows that select it (:mod:`gitops.permit.windows`), as pure functions of typed values and an
injected instant. Called by workers/gates.py; the suspension check (a rollback) lives there too, as it
is a lookup, not a decision. User pages: docs/dependencies.md, docs/sync-windows.md.
"""
