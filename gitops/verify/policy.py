"""``PolicyVerifier``: the engine's Verifier port enforcing the configured ``VerificationPolicy`` objects.

Built by the workers' runtime and by ``gitops diff|sync`` (:func:`policy_verifier`) when the
configuration holds at least one policy; the engine calls ``verify(manifests, target)`` after rendering
and before anything is planned or applied. It collects every image the rendered manifests would run
(:func:`gitops.verify.images.collect_images`, plus the policies' ``imagePaths``), takes the policies
that apply to the target (the application's and the cluster's labels), and asks the
:class:`~gitops.verify.evaluate.ImageVerifier` for a verdict per distinct image.

Key design choice: fail closed, per target. Any image refused, any image field that is not a valid
reference, or any verdict the registry could not give (temporary) stops the reconcile of that target:
the returned :class:`~gitops.verify.Verification` carries a :class:`gitops.errors.VerificationFailed`,
naming each image and why, which the engine raises after keeping the verdicts, so nothing is applied
to that cluster and its status says why per image; a temporary registry failure is a temporary error
(the workers retry, after the registry's Retry-After). Warnings (``mode: warn``) never stop it: they
are returned to the engine, which records them on the operation's ``verify`` span.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.config.verification import VerificationPolicy
from gitops.domain import Fleet
from gitops.env import ENV_REGISTRY_AUTH, ENV_REGISTRY_PLAIN_HTTP, ENV_VERIFY_REFUSED_TTL, ENV_VERIFY_TTL
from gitops.errors import InputError, VerificationFailed
from gitops.results import ImageCheck
from gitops.verify import Verification
from gitops.verify.evaluate import DEFAULT_REFUSED_TTL, DEFAULT_TTL, ImageVerdict, ImageVerifier, Registry
from gitops.verify.images import collect_images, distinct, pin_digests
from gitops.vocabulary import Target
from renderers.manifest import Manifest

MAX_LISTED = 10  # images named in one VerificationFailed message


@dataclass
class PolicyVerifier:
    """The Verifier port over ``policies`` for the targets of ``fleet`` (see the module docstring)."""

    policies: Sequence[VerificationPolicy]
    fleet: Callable[[], Fleet]  # the fleet now (the workers': with the applications ApplicationSets released)
    images: ImageVerifier

    def verify(self, manifests: list[Manifest], target: Target) -> Verification | None:
        fleet = self.fleet()
        app = fleet.applications.get(target.application)
        cluster = fleet.clusters.get(target.cluster)
        app_labels: Mapping[str, str] = app.labels if app is not None else {}
        cluster_labels: Mapping[str, str] = cluster.labels if cluster is not None else {}
        applying = [p for p in self.policies if p.mode != "off" and p.applies_to(app_labels, cluster_labels)]
        if not applying:
            return None
        paths = [path for policy in applying for path in policy.image_paths]
        uses = collect_images(manifests, paths)
        problems = [f"{use.obj} {use.reference[:120]!r}: {use.error}" for use in uses if use.error]
        refs = distinct(uses)
        verdicts = self.images.verify_all(refs, application_labels=app_labels, cluster_labels=cluster_labels)
        refused = [v for v in verdicts if not v.allowed]
        now = self.images.clock.now()
        checks = tuple(ImageCheck(use.reference[:500], None, "refused", (), (f"{use.obj}: {use.error}",), now)
                       for use in uses if use.error) + tuple(image_check(v) for v in verdicts)
        if problems or refused:
            return Verification(len(verdicts), checks=checks,
                                failure=_failure(problems, refused, len(verdicts)))
        warnings = tuple(f"{v.image}: {w}" for v in verdicts for w in v.warnings)
        signed = tuple(f"{v.image}@{v.digest} by {', '.join(v.signers)}" for v in verdicts
                       if v.status == "verified" and v.digest)
        pinned = None
        if any(p.pin_digests for p in applying):  # what runs is exactly the digest that was verified
            resolved = {ref.canonical: v.digest for ref, v in zip(refs, verdicts, strict=True) if v.digest}
            try:
                pinned = pin_digests(manifests, resolved, paths)
            except VerificationFailed as exc:
                return Verification(len(verdicts), warnings, signed, checks=checks, failure=exc)
        return Verification(len(verdicts), warnings, signed, pinned, checks)

    def close(self) -> None:
        """Close the registry's connections (a command that verified once; workers keep them)."""
        close = getattr(self.images.registry, "close", None)
        if callable(close):
            close()


def image_check(verdict: ImageVerdict) -> ImageCheck:
    """The status's form of a verdict: who signed, or why it was refused or warned."""
    reasons = (verdict.reasons if not verdict.allowed
               else verdict.warnings if verdict.status == "warned" else ())
    return ImageCheck(verdict.image, verdict.digest, verdict.status, verdict.signers, reasons,
                      verdict.verified_at)


def _failure(problems: list[str], refused: list[ImageVerdict], total: int) -> VerificationFailed:
    temporary = bool(refused) and all(v.temporary for v in refused) and not problems
    lines = problems + [f"{v.image}: {'; '.join(v.reasons) or v.status}" for v in refused]
    more = len(lines) - MAX_LISTED
    shown = "; ".join(lines[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
    count = len(refused) + len(problems)
    waits = [v.retry_after for v in refused if v.retry_after is not None]
    what = "could not be verified now (the registry failed)" if temporary else "refused by the policy"
    return VerificationFailed(f"{count} of {total} image(s) {what}: {shown}", temporary=temporary,
                              retry_after=max(waits) if temporary and waits else None)


def policy_verifier(policies: Mapping[str, VerificationPolicy], fleet: Callable[[], Fleet],
                    registry: Registry | None = None, *,
                    clock: Clock = SYSTEM_CLOCK) -> PolicyVerifier | None:
    """The verifier of the configured ``policies`` (None when there is none), over ``registry`` (default:
    a :class:`gitops.verify.registry.RegistryClient` configured from the environment:
    ``GITOPS_REGISTRY_AUTH``, a Docker ``config.json`` holding registry credentials, and
    ``GITOPS_REGISTRY_PLAIN_HTTP``, registries, comma-separated, reached over plain http: only loopback
    ones, for tests and local registries). ``GITOPS_VERIFY_TTL`` and ``GITOPS_VERIFY_REFUSED_TTL`` set
    how long verdicts are reused (InputError naming the variable when one is not a number)."""
    if not policies:
        return None
    if registry is None:
        registry = _registry_from_env(clock)
    ordered = [policies[name] for name in sorted(policies)]
    ttl = _seconds(ENV_VERIFY_TTL, DEFAULT_TTL)
    refused_ttl = _seconds(ENV_VERIFY_REFUSED_TTL, DEFAULT_REFUSED_TTL)
    return PolicyVerifier(ordered, fleet, ImageVerifier(ordered, registry, clock=clock, ttl=ttl,
                                                        refused_ttl=refused_ttl))


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name}={text[:40]!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise InputError(f"{name}={text[:40]!r} is not a number of seconds (0 or more)")
    return value


def _registry_from_env(clock: Clock) -> Registry:
    from gitops.verify.registry import RegistryClient, RegistryOptions  # the HTTP client: only with policies

    plain = [r.strip() for r in os.environ.get(ENV_REGISTRY_PLAIN_HTTP, "").split(",") if r.strip()]
    return RegistryClient({r: RegistryOptions(plain_http=True) for r in plain},
                          docker_config=os.environ.get(ENV_REGISTRY_AUTH) or None, clock=clock)


__all__ = ["PolicyVerifier", "policy_verifier"]
