"""The error the shared Kubernetes helpers raise for data that does not fit its format or schema.

Raised by :mod:`renderers.k8s.fieldsv1` (a malformed FieldsV1 set) and by the sandbox's server-side
apply (``kubesandbox.ssa``: an object off its schema); each caller turns it into its own error (the
sandbox into a 400/422 response, the engine skips a malformed ``managedFields`` entry). A plain
``ValueError``: it describes input data, not a failure of the engine or of a renderer.
"""

from __future__ import annotations


class InvalidObject(ValueError):
    """The object does not fit its schema; ``path`` is the field path (``.spec.replicas``)."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)
