"""The GitOps engine core: config model, Git sources, rendering glue, verification, cluster access,
the reconcile pipeline and state. No Celery and no web framework here (an import-linter contract
in pyproject.toml enforces it); workers/ and web/ call into this package, never the reverse."""

__version__ = "0.1.0"
