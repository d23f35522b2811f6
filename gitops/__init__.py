"""The GitOps engine core: config model, Git sources, rendering glue, verification, cluster access,
the reconcile pipeline and state. No Celery and no web framework here (an import-linter contract
in pyproject.toml enforces it); workers/ and web/ call into this package, never the reverse."""

import os

__version__ = "0.1.0"

# How the user starts the CLI, for the commands we print as hints: ``scripts/gitops`` exports it as it was
# typed (a fresh clone has no ``gitops`` on PATH); an installed package is simply ``gitops``.
ENV_PROGRAM = "GITOPS_PROGRAM"


def program() -> str:
    """The command to print in hints (``gitops`` unless ``$GITOPS_PROGRAM`` says otherwise)."""
    return os.environ.get(ENV_PROGRAM) or "gitops"
