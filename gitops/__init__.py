"""The GitOps engine core: config model, Git sources, rendering glue, verification, cluster access,
the reconcile pipeline and state. No Celery and no web framework here (an import-linter contract
in pyproject.toml enforces it); workers/ and web/ call into this package, never the reverse."""

import os

from gitops.env import ENV_PROGRAM

__version__ = "0.1.0"

def program() -> str:
    """The command to print in hints: ``gitops`` unless ``$GITOPS_PROGRAM`` says otherwise
    (``scripts/gitops`` exports it as it was typed: a fresh clone has no ``gitops`` on PATH)."""
    return os.environ.get(ENV_PROGRAM) or "gitops"
