"""Verify: check the rendered manifests before anything is planned or applied.

The engine's third step (after source and render): ``ports.verifier.verify(manifests, target)``
raises :class:`gitops.errors.VerificationFailed` to stop the sync. Image signature verification is
not implemented yet: :class:`NoVerifier` (the default) verifies nothing, and the configuration
refuses a ``VerificationPolicy`` rather than pretend to enforce it. This package is where the
verifier will live; a production adapter is passed to ``gitops.adapters.production_ports``.
"""

from __future__ import annotations

from typing import Protocol

from gitops.vocabulary import Target
from renderers.manifest import Manifest


class Verifier(Protocol):
    """Image verification hook: raises VerificationFailed to stop the sync."""

    def verify(self, manifests: list[Manifest], target: Target) -> None: ...


class NoVerifier:
    """The default hook: verifies nothing."""

    def verify(self, manifests: list[Manifest], target: Target) -> None:
        return None
