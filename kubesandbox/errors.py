"""The sandbox's own error tree (it imports nothing of the engine).

::

    SandboxError                  every error the sandbox raises
    ├── UsageError                a bad argument to ``Sandbox.start`` or ``gitops sandbox`` (a
    │                             non-loopback host without ``allow_remote``, a port out of range)
    └── ApiError                  one failed API request, rendered as a ``meta/v1`` Status
                                  (:mod:`kubesandbox.apierrors`)

The server-side apply library raises plain ``ValueError``-based errors of its own
(:mod:`kubesandbox.ssa.errors`), which the REST layer turns into ``ApiError`` responses. Code that
drives the sandbox in-process (tests, the demo) catches :class:`SandboxError`; ``gitops sandbox``
prints it and exits 2, as the engine's commands do with their own errors.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every sandbox error; ``message`` is the text without context."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(SandboxError):
    """A bad argument; ``field`` names it (``host``, ``port``)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message
