"""Verify: check the images the rendered manifests would run, before anything is planned or applied.

The engine's third step (after source and render): ``ports.verifier.verify(manifests, target)``
raises :class:`gitops.errors.VerificationFailed` to stop the sync of that target (temporary when the
registry failed, so the workers retry), or returns a :class:`Verification` (how many images, the
warnings of ``mode: warn`` policies, who signed what), which the engine records on the operation's
``verify`` span. :class:`NoVerifier` (no policy configured) verifies nothing;
:class:`gitops.verify.policy.PolicyVerifier` enforces the configured ``VerificationPolicy`` objects
(docs/verification.md). The modules: reference.py (image references), images.py (the images of
manifests), registry.py (OCI client), cosign.py/bundles.py/notation.py (signatures), evaluate.py (a
policy's verdict per image, cached), policy.py (the port's production adapter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gitops.vocabulary import Target
from renderers.manifest import Manifest


@dataclass(frozen=True)
class Verification:
    """What a verification that let the sync go on found: the images checked, the warnings (a
    ``mode: warn`` policy the image failed), and the verified images with their signers."""

    images: int
    warnings: tuple[str, ...] = ()
    verified: tuple[str, ...] = ()
    manifests: list[Manifest] | None = None  # the manifests to apply instead (images pinned to digests)


class Verifier(Protocol):
    """Image verification: raises VerificationFailed to stop the sync; None when nothing was checked."""

    def verify(self, manifests: list[Manifest], target: Target) -> Verification | None: ...


class NoVerifier:
    """The default: verifies nothing (no VerificationPolicy is configured)."""

    def verify(self, manifests: list[Manifest], target: Target) -> Verification | None:
        return None
