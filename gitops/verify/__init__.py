"""Verify: check the images the rendered manifests would run, before anything is planned or applied.

The engine's third step (after source and render): ``ports.verifier.verify(manifests, target)`` returns
a :class:`Verification` (how many images, the warnings of ``mode: warn`` policies, who signed what, the
verdicts per image, and, when an image was refused, the :class:`gitops.errors.VerificationFailed` that
stops the sync of that target: temporary when the registry failed, so the workers retry). The engine
records the warnings on the operation's ``verify`` span and the verdicts on the result, which the
target's status keeps (``gitops status``, the API, the dashboard). :class:`NoVerifier` (no policy
configured) verifies nothing; :class:`gitops.verify.policy.PolicyVerifier` enforces the configured
``VerificationPolicy`` objects (docs/verification.md). The modules: reference.py (image references),
images.py (the images of manifests), registry.py (OCI client),
cosign.py/keys.py/dsse.py/bundles.py/notation.py/cose.py (signatures), inputs.py (bounded reads),
evaluate.py (a policy's verdict per image, cached), policy.py (the port's production adapter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gitops.errors import VerificationFailed
from gitops.results import ImageCheck
from gitops.vocabulary import Target
from renderers.manifest import Manifest


@dataclass(frozen=True)
class Verification:
    """What a verification found: the images checked, the warnings (a ``mode: warn`` policy the image
    failed), the verified images with their signers, the verdict of each image (``checks``, which the
    target's status keeps) and ``failure`` when the sync must stop (an image refused)."""

    images: int
    warnings: tuple[str, ...] = ()
    verified: tuple[str, ...] = ()
    manifests: list[Manifest] | None = None  # the manifests to apply instead (images pinned to digests)
    checks: tuple[ImageCheck, ...] = ()
    failure: VerificationFailed | None = None


class Verifier(Protocol):
    """Image verification: a Verification (whose ``failure`` stops the sync); None when nothing was
    checked. It may also raise VerificationFailed (then no verdicts are recorded)."""

    def verify(self, manifests: list[Manifest], target: Target) -> Verification | None: ...


class NoVerifier:
    """The default: verifies nothing (no VerificationPolicy is configured)."""

    def verify(self, manifests: list[Manifest], target: Target) -> Verification | None:
        return None
