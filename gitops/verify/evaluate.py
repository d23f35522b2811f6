"""The policy evaluator: which rules apply to an image, and whether its signatures satisfy them.

:class:`ImageVerifier` takes the ``VerificationPolicy`` objects of the configuration
(:mod:`gitops.config.verification`), a registry (anything with the calls of :class:`Registry`: the
real :class:`~gitops.verify.registry.RegistryClient`, or a counting wrapper in tests) and a clock.
For one image (:meth:`ImageVerifier.verify_image`) it:

1. resolves the tag to a digest **once** (an image pinned by digest is not resolved): the digest is
   what is verified and what the verdict carries, so what would be deployed is what was verified
   (pin it with :func:`gitops.verify.images.pin_digests`), with no time-of-check/time-of-use gap;
2. selects the policies that apply to the application and cluster (their label selectors; a policy
   in ``mode: off`` is skipped), and in each the rules whose globs match the image;
3. evaluates every matching rule: ``keys`` (a classic signature, or cosign 3's key-signed Sigstore
   bundle found through the referrers API or its tag fallback, verified by any one key),
   ``keyless`` (a classic signature by any one identity), ``attestations`` (for each predicate type,
   an in-toto statement whose subject is the digest: a Sigstore bundle signed by one of the keyless
   identities or keys, or a DSSE layer of the classic ``sha256-<hex>.att`` tag signed by one of the
   keys; :mod:`gitops.verify.dsse`), ``notation`` (a Notation signature found
   through the referrers, judged by :func:`gitops.verify.notation.verify_notation` under the rule's
   trust policy and trust store); every requirement a rule names must hold, and every matching rule
   must pass. An image no rule of a policy matches gets that policy's ``defaultAction``;
4. says, per image, ``verified``/``warned``/``allowed``/``skipped``/``refused``/``temporary``, with the
   digest, the signers (key fingerprints, certificate identities), when, and one reason per failed
   requirement of each rule.

A registry error that is temporary (429, 5xx, a timeout) makes a ``temporary`` verdict: never verified,
never cached, the caller retries. A permanent one (404, a lying registry) refuses.

Caching: verdicts are kept per (repository, digest, fingerprint of the applying policies) for ``ttl``
seconds on the injected clock, and tag resolutions per (repository, tag) for ``resolve_ttl`` (at most
``ttl``), both in bounded LRU maps. A thousand targets sharing one image verify it once, and an
unchanged application makes no registry request within the TTL. The trade-off: a tag moved to another
digest is noticed only after ``resolve_ttl`` (until then the digest resolved first is the one
verified and deployed, never a mix of the two), and a key file changed after a verdict is taken
into account after ``ttl``. A refusal is kept for ``refused_ttl`` only (30 s, at most ``ttl``): a
signature pushed for a refused image is what a user waits for, and it is noticed within that time.

Threads may share one verifier: concurrent requests for one image wait for a single resolution and a
single evaluation. No I/O other than the registry calls and reading the key, trusted-root and Notation
files the rules name.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.config.verification import KeylessIdentity, KeyRef, Rule, VerificationPolicy
from gitops.errors import GitOpsError, InputError, RegistryError
from gitops.verify import bundles, cosign, dsse, notation
from gitops.verify.cosign import Identity, SignatureLayer, TrustRoot, Verdict
from gitops.verify.inputs import read_bounded
from gitops.verify.keys import MAX_PEM_BYTES, VerificationKey, load_public_key
from gitops.verify.ocitypes import (
    SIGSTORE_BUNDLE,
    Descriptor,
    ImageManifest,
    Manifest,
    cosign_signature_tag,
    referrers_tag,
)
from gitops.verify.reference import ImageRef

Status = Literal["verified", "warned", "allowed", "skipped", "refused", "temporary"]
DEFAULT_TTL = 300.0
DEFAULT_REFUSED_TTL = 30.0  # a refusal is what a user fixes by signing: noticed soon
DEFAULT_MAX_ENTRIES = 10_000
MAX_SIGNATURE_LAYERS = 64  # layers of one .sig manifest read (cosign adds one per signature)
MAX_BUNDLES = 32  # bundle referrers of one image read
MAX_BUNDLE_BYTES = 4 * 1024 * 1024  # one bundle blob (a DSSE envelope with its predicate)


class Registry(Protocol):
    """The registry calls the evaluator makes (:class:`~gitops.verify.registry.RegistryClient` has
    them): each may raise :class:`~gitops.errors.RegistryError`."""

    def resolve(self, registry: str, repository: str, reference: str) -> Descriptor: ...

    def get_manifest(self, registry: str, repository: str, reference: str) -> Manifest: ...

    def get_blob(self, registry: str, repository: str, digest: str,
                 max_bytes: int | None = None) -> bytes: ...

    def referrers(self, registry: str, repository: str, digest: str,
                  artifact_type: str | None = None) -> list[Descriptor]: ...


@dataclass(frozen=True)
class Requirement:
    """One requirement of a rule (``keys``, ``keyless``, ``attestation <type>``, ``notation``): whether
    it held, why (or why not), and who signed when it held."""

    name: str
    ok: bool
    reason: str
    signer: str | None = None
    integrated_time: datetime | None = None
    warnings: tuple[str, ...] = ()  # held, but a check failed and was only logged (Notation audit/permissive)

    def to_dict(self) -> dict[str, Any]:
        out = {"requirement": self.name, "ok": self.ok, "reason": self.reason, "signer": self.signer,
               "integratedTime": self.integrated_time.isoformat() if self.integrated_time else None}
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True)
class RuleVerdict:
    """A rule of a policy that matched the image (or the policy's ``defaultAction`` when none did:
    ``rule`` is then ``None``), its effective mode and its requirements."""

    policy: str
    rule: str | None
    mode: str
    ok: bool
    requirements: tuple[Requirement, ...] = ()
    reason: str = ""

    @property
    def label(self) -> str:
        return f"policy {self.policy}" + (f" rule {self.rule}" if self.rule is not None else "")

    def failures(self) -> list[str]:
        if self.reason:
            return [f"{self.label}: {self.reason}"]
        return [f"{self.label}: {r.name}: {r.reason}" for r in self.requirements if not r.ok]

    def logged(self) -> list[str]:
        """The checks that failed and were only logged in requirements that held."""
        return [f"{self.label}: {r.name}: {w}" for r in self.requirements if r.ok for w in r.warnings]

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "rule": self.rule, "mode": self.mode, "ok": self.ok,
                "reason": self.reason or None, "requirements": [r.to_dict() for r in self.requirements]}


@dataclass(frozen=True)
class ImageVerdict:
    """The outcome for one image: ``status`` (``verified``: every rule enforced passed; ``warned``:
    allowed with ``warnings``; ``allowed``: no policy applies, or ``defaultAction: allow``; ``skipped``:
    every policy or rule that applies is ``off``; ``refused``; ``temporary``: a registry failure to
    retry, never verified), the ``digest`` verified (None when it could not be resolved), ``mode`` (the
    strictest mode evaluated), ``signers``, ``reasons`` (refusals) and ``warnings``, one per failed
    requirement of a ``warn`` rule and one per check a Notation trust policy's level (``audit``,
    ``permissive``) logged instead of enforcing in a requirement that held (the image is then
    ``warned``, not ``verified``), and ``verified_at`` (the clock's time of the evaluation)."""

    image: str
    digest: str | None
    status: Status
    mode: str
    rules: tuple[RuleVerdict, ...] = ()
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()
    verified_at: float = 0.0
    retry_after: float | None = None

    @property
    def allowed(self) -> bool:
        """Whether the image may run (``temporary`` and ``refused`` may not)."""
        return self.status in ("verified", "warned", "allowed", "skipped")

    @property
    def temporary(self) -> bool:
        return self.status == "temporary"

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "digest": self.digest, "status": self.status, "allowed": self.allowed,
                "mode": self.mode, "signers": list(self.signers), "reasons": list(self.reasons),
                "warnings": list(self.warnings), "verifiedAt": self.verified_at,
                "retryAfter": self.retry_after, "rules": [r.to_dict() for r in self.rules]}


@dataclass
class _Evidence:
    """What the registry holds for one digest, fetched once per evaluation and only when a rule needs
    it: the classic signature layers (each parsed, or the reason it was rejected) and the bundles."""

    layers: list[SignatureLayer | Verdict] | None = None
    layers_note: str = ""
    bundles: list[bytes | Verdict] | None = None
    attestations: list[tuple[bytes, str | None] | Verdict] | None = None  # .att envelopes, log annotation
    attestations_note: str = ""
    notation: list[tuple[bytes, str] | str] | None = None  # (envelope, media type) or why not one
    media_type: str | None = None  # the image manifest's media type, when it was resolved


@dataclass
class _Entry:
    value: Any
    expires: float


@dataclass
class _Cache:
    """A bounded LRU map with expiry on the injected clock (thread-safe)."""

    max_entries: int
    entries: OrderedDict[Any, _Entry] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Any, now: float) -> Any | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            if entry.expires <= now:
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return entry.value

    def put(self, key: Any, value: Any, expires: float) -> None:
        with self.lock:
            self.entries[key] = _Entry(value, expires)
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self.entries)


def policy_fingerprint(policies: Sequence[VerificationPolicy]) -> str:
    """sha256 of the policies' validated content (names included): a changed policy is a new key."""
    documents = sorted((p.model_dump(mode="json", by_alias=True) for p in policies),
                       key=lambda d: json.dumps(d, sort_keys=True))
    return hashlib.sha256(json.dumps(documents, sort_keys=True).encode()).hexdigest()


class ImageVerifier:
    """Evaluates ``policies`` for images (see the module docstring). Threads may share one."""

    def __init__(self, policies: Sequence[VerificationPolicy], registry: Registry, *,
                 clock: Clock = SYSTEM_CLOCK, ttl: float = DEFAULT_TTL, resolve_ttl: float | None = None,
                 refused_ttl: float = DEFAULT_REFUSED_TTL, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if ttl < 0 or refused_ttl < 0 or (resolve_ttl is not None and resolve_ttl < 0):
            raise ValueError("a TTL is not negative")
        self.policies = list(policies)
        self.registry = registry
        self.clock = clock
        self.ttl = ttl
        self.resolve_ttl = ttl if resolve_ttl is None else min(resolve_ttl, ttl)
        self.refused_ttl = min(refused_ttl, ttl)
        self._verdicts = _Cache(max_entries)
        self._digests = _Cache(max_entries)
        self._roots: dict[str | None, TrustRoot] = {}
        self._bundle_roots: dict[str | None, Any] = {}
        self._fingerprints: dict[tuple[int, ...], str] = {}
        self._flights: dict[Any, list[Any]] = {}  # key -> [lock, holders]: one computation per key
        self._lock = threading.Lock()
        self.evaluations = 0  # verdicts computed (not served from the cache): for tests and benchmarks

    # ---- public -------------------------------------------------------------------------------------

    def verify_all(self, images: Iterable[ImageRef], *, application_labels: Mapping[str, str] | None = None,
                   cluster_labels: Mapping[str, str] | None = None) -> list[ImageVerdict]:
        """One verdict per image, in order (an image listed twice is evaluated once)."""
        return [self.verify_image(image, application_labels=application_labels,
                                  cluster_labels=cluster_labels) for image in images]

    def verify_image(self, ref: ImageRef, *, application_labels: Mapping[str, str] | None = None,
                     cluster_labels: Mapping[str, str] | None = None) -> ImageVerdict:
        """The verdict for ``ref`` when deployed by an application (its labels) to a cluster (its
        labels); never raises for what the registry or the signatures say."""
        applying = [p for p in self.policies
                    if p.applies_to(application_labels or {}, cluster_labels or {})]
        now = self.clock.now()
        if not applying:
            return ImageVerdict(ref.canonical, ref.digest, "allowed", "off",
                                warnings=("no verification policy applies to this application and cluster",),
                                verified_at=now)
        active = [p for p in applying if p.mode != "off"]
        if not active:
            return ImageVerdict(ref.canonical, ref.digest, "skipped", "off", verified_at=now)
        try:
            digest, media_type = self._digest(ref)
        except RegistryError as exc:
            return self._registry_failure(ref, None, exc)
        fingerprint = self._fingerprint(active)
        key = (ref.name, digest, ref.pull_tag if _has_tag_glob(active) else None, fingerprint)
        with self._flight(("verdict", key)):  # threads asking for one image wait for one evaluation
            cached = self._verdicts.get(key, self.clock.monotonic())
            if cached is not None:
                assert isinstance(cached, ImageVerdict)
                return replace(cached, image=ref.canonical)
            with self._lock:
                self.evaluations += 1
            try:
                verdict = self._evaluate(ref, digest, media_type, active, now)
            except RegistryError as exc:
                return self._registry_failure(ref, digest, exc)
            kept = self.ttl if verdict.allowed else self.refused_ttl
            self._verdicts.put(key, verdict, self.clock.monotonic() + kept)
            return verdict

    @contextmanager
    def _flight(self, key: Any) -> Iterator[None]:
        """Hold the lock of ``key`` (made on first use, dropped when its last holder leaves), so
        concurrent callers compute one value once and the others find it cached."""
        with self._lock:
            entry = self._flights.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._flights[key]

    def _fingerprint(self, active: Sequence[VerificationPolicy]) -> str:
        """The fingerprint of a subset of ``self.policies`` (computed once per subset: the policies are
        frozen models this verifier holds, so their identities are stable)."""
        key = tuple(id(p) for p in active)
        with self._lock:
            known = self._fingerprints.get(key)
        if known is None:
            known = policy_fingerprint(active)
            with self._lock:
                if len(self._fingerprints) >= DEFAULT_MAX_ENTRIES:
                    self._fingerprints.clear()  # bounded: subsets beyond this are recomputed
                self._fingerprints[key] = known
        return known

    # ---- resolution ---------------------------------------------------------------------------------

    def _digest(self, ref: ImageRef) -> tuple[str, str | None]:
        """The digest to verify and, when the tag was resolved, the manifest's media type."""
        if ref.digest is not None:
            return ref.digest, None
        tag = ref.pull_tag or "latest"
        key = (ref.name, tag)
        with self._flight(("digest", key)):
            cached = self._digests.get(key, self.clock.monotonic())
            if cached is not None:
                assert isinstance(cached, tuple)
                return cached
            descriptor = self.registry.resolve(ref.registry, ref.repository, tag)
            if not descriptor.digest.startswith("sha256:"):
                raise RegistryError(f"{ref.canonical}: resolved to {descriptor.digest[:80]}: only sha256 "
                                    "digests are verified (cosign signs sha256)", temporary=False)
            resolved = (descriptor.digest, descriptor.media_type)
            self._digests.put(key, resolved, self.clock.monotonic() + self.resolve_ttl)
            return resolved

    def _registry_failure(self, ref: ImageRef, digest: str | None, exc: RegistryError) -> ImageVerdict:
        now = self.clock.now()
        if exc.temporary:
            return ImageVerdict(ref.canonical, digest, "temporary", "enforce",
                                reasons=(f"registry temporarily unavailable (retry): {exc}",),
                                verified_at=now, retry_after=exc.retry_after)
        return ImageVerdict(ref.canonical, digest, "refused", "enforce",
                            reasons=(f"registry: {exc}",), verified_at=now)

    # ---- evaluation ---------------------------------------------------------------------------------

    def _evaluate(self, ref: ImageRef, digest: str, media_type: str | None,
                  policies: Sequence[VerificationPolicy], now: float) -> ImageVerdict:
        pinned = ref.with_digest(digest)
        evidence = _Evidence(media_type=media_type)
        results: list[RuleVerdict] = []
        for policy in policies:
            # globs see the reference as written: no tag and no digest is tag latest (pinned has no tag)
            matching = [(i, rule) for i, rule in enumerate(policy.rules)
                        if any(ref.matches(glob) for glob in rule.images)]
            if not matching:
                action = policy.default_action
                mode = {"enforce": policy.mode, "warn": "warn", "allow": "off"}[action]
                if action == "allow":
                    results.append(RuleVerdict(policy.name, None, "off", True,
                                               reason="no rule matches (defaultAction: allow)"))
                else:
                    results.append(RuleVerdict(policy.name, None, mode, False,
                                               reason=f"no rule matches the image (defaultAction: {action})"))
                continue
            for index, rule in matching:
                name = rule.name or f"#{index}"
                mode = rule.mode or policy.mode
                if mode == "off":
                    results.append(RuleVerdict(policy.name, name, "off", True, reason="mode: off"))
                    continue
                requirements = self._rule(pinned, digest, rule, evidence)
                results.append(RuleVerdict(policy.name, name, mode, all(r.ok for r in requirements),
                                           tuple(requirements)))
        return _summarise(ref, digest, results, now)

    def _rule(self, ref: ImageRef, digest: str, rule: Rule, evidence: _Evidence) -> list[Requirement]:
        out: list[Requirement] = []
        if rule.keys:
            out.append(self._keys(ref, digest, rule, evidence))
        if rule.keyless:
            out.append(self._keyless(ref, digest, rule, evidence))
        for predicate in rule.attestations:
            out.append(self._attestation(ref, digest, rule, predicate, evidence))
        if rule.notation is not None:
            out.append(self._notation(ref, digest, rule, evidence))
        return out

    def _notation(self, ref: ImageRef, digest: str, rule: Rule, evidence: _Evidence) -> Requirement:
        """A Notation signature (a referrer of artifact type ``application/vnd.cncf.notary.signature``)
        that :func:`gitops.verify.notation.verify_notation` accepts under the rule's trust policy and
        trust store, at the clock's time."""
        assert rule.notation is not None
        try:
            trust_policy = notation.load_trust_policy(rule.notation.trust_policy)
            stores = notation.load_trust_store(rule.notation.trust_store)
        except InputError as exc:
            return Requirement("notation", False, str(exc))
        found = self._notation_signatures(ref, digest, evidence)
        if not found:
            kind = notation.SIGNATURE_ARTIFACT_TYPE
            return Requirement("notation", False, f"no Notation signature ({kind}) refers to the image")
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        rejected: list[str] = []
        for n, item in enumerate(found):
            if isinstance(item, str):
                rejected.append(f"signature {n}: {item}")
                continue
            envelope, media_type = item
            verdict = notation.verify_notation(envelope, media_type, ref.name, digest, trust_policy, stores,
                                               now=now, image_media_type=evidence.media_type)
            if verdict.ok:
                # a check the trust policy's level (audit, permissive) logged instead of enforcing: a
                # warning for the image; the routine notes (revocation not checked...) are not
                logged = tuple(note for note in verdict.notes if " not enforced (" in note)
                return Requirement("notation", True, verdict.reason, verdict.signer, warnings=logged)
            rejected.append(f"signature {n}: {verdict.code}: {verdict.reason}")
        return Requirement("notation", False, "no Notation signature is trusted: " + "; ".join(rejected))

    def _keys(self, ref: ImageRef, digest: str, rule: Rule, evidence: _Evidence) -> Requirement:
        keys: list[VerificationKey] = []
        problems: list[str] = []
        for key_ref in rule.keys:
            try:
                keys.append(_load_key(key_ref))
            except InputError as exc:
                problems.append(str(exc))
        if not keys:
            return Requirement("keys", False, "no key could be read: " + "; ".join(problems))
        try:
            trust = self._trust(rule.trusted_root) if rule.transparency_log else None
        except InputError as exc:
            return Requirement("keys", False, str(exc))
        layers = self._layers(ref, digest, evidence)
        rejected: list[str] = []
        for n, layer in enumerate(layers):
            if isinstance(layer, Verdict):
                rejected.append(f"signature {n}: {layer.code}: {layer.reason}")
                continue
            for key in keys:
                verdict = cosign.verify_layer(layer, digest, key=key, trust=trust,
                                              require_tlog=rule.transparency_log)
                if verdict.ok:
                    return Requirement("keys", True, verdict.reason, verdict.signer or key.fingerprint,
                                       verdict.integrated_time)
                rejected.append(f"signature {n}: {verdict.code}: {verdict.reason}")
        # cosign 3 (its default, --new-bundle-format): a Sigstore bundle whose DSSE statement signs the image
        found = self._bundles(ref, digest, evidence)
        for n, bundle in enumerate(found):
            if isinstance(bundle, Verdict):
                rejected.append(f"bundle {n}: {bundle.code}: {bundle.reason}")
                continue
            for key in keys:
                verdict = bundles.verify_key_bundle(bundle, digest, key,
                                                    predicate_type=dsse.COSIGN_SIGN_PREDICATE,
                                                    require_tlog=rule.transparency_log, trust=trust)
                if verdict.ok:
                    return Requirement("keys", True, f"{verdict.reason} (Sigstore bundle)",
                                       verdict.signer or key.fingerprint, verdict.integrated_time)
                rejected.append(f"bundle {n}: {verdict.code}: {verdict.reason}")
        if not layers and not found:
            return Requirement("keys", False, f"{evidence.layers_note}, and no Sigstore bundle "
                                              f"({SIGSTORE_BUNDLE}) refers to the image")
        shown = ", ".join(k.fingerprint for k in keys)
        if not layers:
            rejected.insert(0, evidence.layers_note)
        return Requirement("keys", False, f"no signature verifies with the keys {shown}: "
                                          + "; ".join(rejected + problems))

    def _keyless(self, ref: ImageRef, digest: str, rule: Rule, evidence: _Evidence) -> Requirement:
        try:
            trust = self._trust(rule.trusted_root)
        except InputError as exc:
            return Requirement("keyless", False, str(exc))
        layers = self._layers(ref, digest, evidence)
        if not layers:
            return Requirement("keyless", False, evidence.layers_note)
        rejected: list[str] = []
        for n, layer in enumerate(layers):
            if isinstance(layer, Verdict):
                rejected.append(f"signature {n}: {layer.code}: {layer.reason}")
                continue
            for identity in rule.keyless:
                verdict = cosign.verify_layer(layer, digest, identity=_identity(identity), trust=trust)
                if verdict.ok:
                    return Requirement("keyless", True, verdict.reason, verdict.signer,
                                       verdict.integrated_time)
                rejected.append(f"signature {n}: {verdict.code}: {verdict.reason}")
        return Requirement("keyless", False,
                           "no signature by the identities required: " + "; ".join(rejected))

    def _attestation(self, ref: ImageRef, digest: str, rule: Rule, predicate: str,
                     evidence: _Evidence) -> Requirement:
        """An attestation of ``predicate`` for the image, signed by one of the rule's keyless identities
        (a Sigstore bundle) or by one of its keys (a classic ``.att`` DSSE layer, or a key-signed
        bundle)."""
        name = f"attestation {predicate}"
        rejected: list[str] = []
        if rule.keyless:
            try:
                root = self._bundle_root(rule.trusted_root)
            except InputError as exc:
                return Requirement(name, False, str(exc))
            for n, bundle in enumerate(self._bundles(ref, digest, evidence)):
                if isinstance(bundle, Verdict):
                    rejected.append(f"bundle {n}: {bundle.code}: {bundle.reason}")
                    continue
                for identity in rule.keyless:
                    verdict = bundles.verify_attestation(bundle, digest, _identity(identity), root=root,
                                                         predicate_type=predicate)
                    if verdict.ok:
                        return Requirement(name, True, verdict.reason, verdict.signer,
                                           verdict.integrated_time)
                    rejected.append(f"bundle {n}: {verdict.code}: {verdict.reason}")
        if rule.keys:
            keys: list[VerificationKey] = []
            for key_ref in rule.keys:
                try:
                    keys.append(_load_key(key_ref))
                except InputError as exc:
                    rejected.append(str(exc))
            held = self._key_attestation(ref, digest, rule, predicate, keys, evidence, rejected)
            if held is not None:
                return held
        if not rejected:
            return Requirement(name, False, f"no Sigstore bundle ({SIGSTORE_BUNDLE}) refers to the image"
                               + (f" and {evidence.attestations_note}" if rule.keys else ""))
        signers = "the keys and identities" if rule.keys and rule.keyless else \
            "the keys" if rule.keys else "the identities"
        return Requirement(name, False, f"no attestation of it is signed by {signers} required: "
                                        + "; ".join(rejected))

    def _key_attestation(self, ref: ImageRef, digest: str, rule: Rule, predicate: str,
                         keys: list[VerificationKey], evidence: _Evidence,
                         rejected: list[str]) -> Requirement | None:
        """A key-signed attestation: a DSSE layer of the ``.att`` tag (cosign 2, or cosign 3 with
        ``--new-bundle-format=false``) or a key-signed bundle (cosign 3's default); None when none holds
        (their reasons appended to ``rejected``)."""
        name = f"attestation {predicate}"
        if not keys:
            return None
        try:
            trust = self._trust(rule.trusted_root) if rule.transparency_log else None
        except InputError as exc:
            rejected.append(str(exc))
            return None
        for n, layer in enumerate(self._attestation_layers(ref, digest, evidence)):
            if isinstance(layer, Verdict):
                rejected.append(f"attestation {n}: {layer.code}: {layer.reason}")
                continue
            envelope, logged = layer
            for key in keys:
                verdict = dsse.verify_attestation_layer(envelope, logged, digest, key,
                                                        predicate_type=predicate,
                                                        require_tlog=rule.transparency_log, trust=trust)
                if verdict.ok:
                    return Requirement(name, True, verdict.reason, verdict.signer or key.fingerprint,
                                       verdict.integrated_time)
                rejected.append(f"attestation {n}: {verdict.code}: {verdict.reason}")
        for n, bundle in enumerate(self._bundles(ref, digest, evidence)):
            if isinstance(bundle, Verdict):
                if not rule.keyless:  # already reported by the keyless pass
                    rejected.append(f"bundle {n}: {bundle.code}: {bundle.reason}")
                continue
            for key in keys:
                verdict = bundles.verify_key_bundle(bundle, digest, key, predicate_type=predicate,
                                                    require_tlog=rule.transparency_log, trust=trust)
                if verdict.ok:
                    return Requirement(name, True, f"{verdict.reason} (Sigstore bundle)",
                                       verdict.signer or key.fingerprint, verdict.integrated_time)
                rejected.append(f"bundle {n}: {verdict.code}: {verdict.reason}")
        return None

    # ---- evidence -----------------------------------------------------------------------------------

    def _layers(self, ref: ImageRef, digest: str, evidence: _Evidence) -> list[SignatureLayer | Verdict]:
        """The classic signatures: the simple-signing layers of the tag ``sha256-<hex>.sig``."""
        if evidence.layers is not None:
            return evidence.layers
        found, note = self._tag_blobs(ref, cosign_signature_tag(digest), cosign.SIMPLE_SIGNING_MEDIA_TYPE,
                                      cosign.MAX_PAYLOAD_BYTES, "a signature")
        evidence.layers = [item if isinstance(item, Verdict) else
                           cosign.parse_layer(item[0], item[1].annotations, item[1].media_type)
                           for item in found]
        evidence.layers_note = f"no cosign signature: {note}" if note else ""
        return evidence.layers

    def _attestation_layers(self, ref: ImageRef, digest: str,
                            evidence: _Evidence) -> list[tuple[bytes, str | None] | Verdict]:
        """The DSSE envelopes of the classic attestation tag ``sha256-<hex>.att`` (each with its layer's
        ``dev.sigstore.cosign/bundle`` annotation: the transparency log entry), or why a layer is not
        one."""
        if evidence.attestations is not None:
            return evidence.attestations
        found, note = self._tag_blobs(ref, referrers_tag(digest) + ".att", dsse.DSSE_MEDIA_TYPE,
                                      dsse.MAX_ENVELOPE_BYTES, "an attestation")
        evidence.attestations = []
        for item in found:
            if isinstance(item, Verdict):
                evidence.attestations.append(item)
                continue
            logged = item[1].annotations.get(cosign.BUNDLE_ANNOTATION)
            evidence.attestations.append((item[0], logged if isinstance(logged, str) and logged else None))
        evidence.attestations_note = note
        return evidence.attestations

    def _tag_blobs(self, ref: ImageRef, tag: str, media_type: str, max_bytes: int,
                   what: str) -> tuple[list[tuple[bytes, Descriptor] | Verdict], str]:  # what: "a signature"
        """The layers of the manifest ``tag`` (cosign's classic storage) of ``media_type``, each blob
        fetched within ``max_bytes`` with its descriptor, or why a layer is not usable; and a note
        when there is nothing at all (no such tag, an index, no layers). A temporary registry error is
        raised (the caller retries); a missing tag is not an error."""
        try:
            manifest = self.registry.get_manifest(ref.registry, ref.repository, tag)
        except RegistryError as exc:
            if exc.status != 404:
                raise
            return [], f"{ref.name}:{tag} does not exist"
        parsed = manifest.parse()
        if not isinstance(parsed, ImageManifest):
            return [], f"{ref.name}:{tag} is an index, not {what} manifest"
        found: list[tuple[bytes, Descriptor] | Verdict] = []
        for layer in parsed.layers[:MAX_SIGNATURE_LAYERS]:
            if layer.media_type != media_type:
                found.append(Verdict.reject("not-a-signature",
                                            f"layer media type {layer.media_type[:100]!r}"))
                continue
            if layer.size > max_bytes:
                found.append(Verdict.reject("too-large",
                                            f"a layer of {layer.size} bytes (at most {max_bytes})"))
                continue
            try:
                blob = self.registry.get_blob(ref.registry, ref.repository, layer.digest, max_bytes=max_bytes)
            except RegistryError as exc:
                if exc.temporary:
                    raise
                found.append(Verdict.reject("unreadable", str(exc)))
                continue
            found.append((blob, layer))
        return found, "" if found else f"{ref.name}:{tag} has no layers"

    def _bundles(self, ref: ImageRef, digest: str, evidence: _Evidence) -> list[bytes | Verdict]:
        if evidence.bundles is not None:
            return evidence.bundles
        evidence.bundles = []
        for descriptor in self.registry.referrers(ref.registry, ref.repository, digest,
                                                  SIGSTORE_BUNDLE)[:MAX_BUNDLES]:
            try:
                manifest = self.registry.get_manifest(ref.registry, ref.repository, descriptor.digest)
                parsed = manifest.parse()
                if not isinstance(parsed, ImageManifest):
                    evidence.bundles.append(Verdict.reject("malformed", "a bundle referrer is an index"))
                    continue
                # a referrers tag is only a hint: the manifest's own subject must be this image
                if parsed.subject is None or parsed.subject.digest != digest:
                    evidence.bundles.append(Verdict.reject(
                        "subject-mismatch", f"referrer {descriptor.digest} does not name {digest} as its "
                                            "subject"))
                    continue
                layers = [d for d in parsed.layers if d.media_type == SIGSTORE_BUNDLE]
                if not layers:
                    evidence.bundles.append(Verdict.reject("malformed", f"referrer {descriptor.digest} has "
                                                                        "no bundle layer"))
                    continue
                evidence.bundles.append(self.registry.get_blob(ref.registry, ref.repository,
                                                               layers[0].digest, max_bytes=MAX_BUNDLE_BYTES))
            except RegistryError as exc:
                if exc.temporary:
                    raise
                evidence.bundles.append(Verdict.reject("unreadable", str(exc)))
            except GitOpsError as exc:  # a manifest that does not parse
                evidence.bundles.append(Verdict.reject("malformed", str(exc)))
        return evidence.bundles

    def _notation_signatures(self, ref: ImageRef, digest: str,
                             evidence: _Evidence) -> list[tuple[bytes, str] | str]:
        if evidence.notation is not None:
            return evidence.notation
        evidence.notation = []
        for descriptor in self.registry.referrers(ref.registry, ref.repository, digest,
                                                  notation.SIGNATURE_ARTIFACT_TYPE)[:MAX_BUNDLES]:
            try:
                parsed = self.registry.get_manifest(ref.registry, ref.repository, descriptor.digest).parse()
                if not isinstance(parsed, ImageManifest):
                    evidence.notation.append(f"referrer {descriptor.digest} is an index")
                    continue
                layer = notation.signature_layer(parsed, digest)  # its subject must be this image
                if isinstance(layer, notation.NotationVerdict):
                    evidence.notation.append(f"{layer.code}: {layer.reason}")
                    continue
                envelope = self.registry.get_blob(ref.registry, ref.repository, layer.digest,
                                                  max_bytes=notation.MAX_ENVELOPE_BYTES)
                evidence.notation.append((envelope, layer.media_type))
            except RegistryError as exc:
                if exc.temporary:
                    raise
                evidence.notation.append(f"unreadable: {exc}")
            except GitOpsError as exc:
                evidence.notation.append(f"malformed: {exc}")
        return evidence.notation

    def _trust(self, path: str | None) -> TrustRoot:
        with self._lock:
            root = self._roots.get(path)
        if root is None:
            root = TrustRoot.public_good() if path is None else TrustRoot.from_json(
                read_bounded(path, 16 * 1024 * 1024, "trusted root"), source=path)
            with self._lock:
                self._roots[path] = root
        return root

    def _bundle_root(self, path: str | None) -> Any:
        with self._lock:
            root = self._bundle_roots.get(path)
        if root is None:
            root = bundles.trusted_root(path)
            with self._lock:
                self._bundle_roots[path] = root
        return root


def _has_tag_glob(policies: Sequence[VerificationPolicy]) -> bool:
    """Whether a glob looks at the tag (then two tags of one digest may get different verdicts)."""
    return any(":" in glob.rsplit("/", 1)[-1] for p in policies for r in p.rules for glob in r.images)


def _identity(identity: KeylessIdentity) -> Identity:
    return Identity(subject=identity.subject, issuer=identity.issuer,
                    subject_regex=identity.subject_reg_exp, issuer_regex=identity.issuer_reg_exp)


def _load_key(key: KeyRef) -> VerificationKey:
    if key.file is not None:
        return load_public_key(read_bounded(key.file, MAX_PEM_BYTES, "public key"), source=key.file)
    assert key.env is not None
    value = os.environ.get(key.env)
    if not value:
        raise InputError(f"environment variable {key.env} (a public key) is not set", file=f"${key.env}")
    return load_public_key(value, source=f"${key.env}")


def _summarise(ref: ImageRef, digest: str, results: list[RuleVerdict], now: float) -> ImageVerdict:
    reasons = [f for r in results if not r.ok and r.mode == "enforce" for f in r.failures()]
    warnings = [f for r in results if not r.ok and r.mode == "warn" for f in r.failures()]
    warnings += [f for r in results if r.mode != "off" for f in r.logged()]
    signers = sorted({q.signer for r in results if r.ok for q in r.requirements if q.ok and q.signer})
    modes = {r.mode for r in results}
    mode = "enforce" if "enforce" in modes else "warn" if "warn" in modes else "off"
    checked = any(r.rule is not None and r.mode != "off" for r in results)
    status: Status
    if reasons:
        status = "refused"
    elif warnings:
        status = "warned"
    elif checked:
        status = "verified"
    elif any(r.rule is None for r in results):
        status = "allowed"
    else:
        status = "skipped"
    return ImageVerdict(ref.canonical, digest, status, mode, tuple(results), tuple(reasons), tuple(warnings),
                        tuple(signers), now)
