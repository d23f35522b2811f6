"""Sigstore bundles (what cosign 3 writes by default), verified offline with sigstore-python.

A bundle (``application/vnd.dev.sigstore.bundle.v0.3+json`` and the older ``...+json;version=0.1``
to ``0.3``) holds everything needed to verify a signature without the network: the Fulcio
certificate (or chain), the Rekor entry with its inclusion promise (SET) and/or inclusion proof, and
either a DSSE envelope (an in-toto statement: an attestation, or cosign 3's image signature) or a
message signature over an artifact's digest.

The cryptography and the Sigstore rules (chain to Fulcio at the log's time, SCT, SET and inclusion
proof, entry body consistency, DSSE pre-authentication encoding) are sigstore-python's
(:class:`sigstore.verify.Verifier`): the reference implementation, used by the conformance suite.
This module adds what is ours: a pinned trusted root (never fetched over TUF at run time), the
identity policy (exact, as sigstore's ``Identity``, or by ``re.fullmatch``), the in-toto subject
check against the image digest and the predicate type, size limits, and the translation of
sigstore's exceptions into :class:`~gitops.verify.cosign.Verdict` values with their reasons.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from cryptography.x509 import Certificate
from sigstore.errors import CertValidationError, Error, VerificationError
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity as SigstoreIdentity
from sigstore.verify.policy import VerificationPolicy

from gitops.errors import InputError
from gitops.verify import dsse
from gitops.verify.cosign import Identity, LogEntry, Verdict, certificate_issuer, certificate_sans
from gitops.verify.cosign import TrustRoot as CosignTrustRoot
from gitops.verify.inputs import b64decode_strict
from gitops.verify.keys import VerificationKey

BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
# bundles are a few kilobytes; an attestation's predicate (an SBOM) can be large, never this large
MAX_BUNDLE_BYTES = 32 * 1024 * 1024
MAX_TLOG_ENTRIES = 8  # transparency log entries of one bundle tried


def trusted_root(path: str | Path | None = None) -> TrustedRoot:
    """A Sigstore trusted root from ``path``, or the public-good one pinned in this package.

    InputError (naming the file) when the file is missing or not a trusted root.
    """
    if path is None:
        pinned = resources.files("gitops.verify.data").joinpath("trusted_root_public_good.json")
        with resources.as_file(pinned) as file:
            return _load_root(file)
    return _load_root(Path(path))


def _load_root(path: Path) -> TrustedRoot:
    try:
        return TrustedRoot.from_file(str(path))
    except OSError as e:
        raise InputError(f"cannot read the trusted root: {e.strerror}", file=str(path)) from e
    except (Error, ValueError) as e:
        raise InputError(f"not a Sigstore trusted root: {e}", file=str(path)) from e


class _Policy:
    """The identity policy, noting whether it was what failed (to give that reason precisely)."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.failed: str | None = None
        self.signer: str | None = None
        self.issuer: str | None = None
        self._exact: VerificationPolicy | None = None
        if identity.subject is not None and identity.issuer is not None:
            self._exact = SigstoreIdentity(identity=identity.subject, issuer=identity.issuer)

    def verify(self, cert: Certificate) -> None:
        issuer = certificate_issuer(cert)
        sans = certificate_sans(cert)
        try:
            if self._exact is not None:
                self._exact.verify(cert)
            if issuer is None or not self.identity.matches_issuer(issuer):
                raise VerificationError(f"certificate issuer {issuer!r} is not the one required")
            subject = self.identity.matches_subject(sans)
            if subject is None:
                raise VerificationError(f"certificate identities {sans} do not match the one required")
        except VerificationError as e:
            self.failed = str(e)
            raise
        self.signer, self.issuer = subject, issuer


def _load_bundle(raw: bytes | str) -> Bundle | Verdict:
    if len(raw) > MAX_BUNDLE_BYTES:
        return Verdict.reject("too-large", f"bundle of {len(raw)} bytes exceeds {MAX_BUNDLE_BYTES}")
    try:
        return Bundle.from_json(raw)
    except (Error, ValueError) as e:
        return Verdict.reject("invalid-bundle", f"not a valid Sigstore bundle: {_first_line(e)}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _failed(e: Error, policy: _Policy) -> Verdict:
    if policy.failed is not None:
        return Verdict.reject("identity-mismatch", policy.failed)
    if isinstance(e, CertValidationError):
        return Verdict.reject("bad-certificate", _first_line(e))
    return Verdict.reject("verification-failed", _first_line(e))


def verify_attestation(bundle: bytes | str, image_digest: str, identity: Identity, *,
                       root: TrustedRoot, predicate_type: str | None = None) -> Verdict:
    """A DSSE bundle whose in-toto statement names ``image_digest`` (``sha256:<hex>``) as a subject,
    signed by ``identity``; with ``predicate_type``, the statement must have that predicate type."""
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", image_digest):
        raise ValueError(f"image digest {image_digest!r} is not sha256:<64 lowercase hex>")
    loaded = _load_bundle(bundle)
    if isinstance(loaded, Verdict):
        return loaded
    policy = _Policy(identity)
    try:
        payload_type, payload = Verifier(trusted_root=root).verify_dsse(loaded, policy)
    except Error as e:
        return _failed(e, policy)
    except (ValueError, TypeError) as e:  # a malformed part only parsed on use (a certificate, a body)
        return Verdict.reject("invalid-bundle", _first_line(e))
    wrong = dsse.check_statement(payload_type, payload, image_digest, predicate_type)
    if wrong is not None:
        return wrong
    return _accepted(bundle, policy)


def verify_message(bundle: bytes | str, artifact: bytes, identity: Identity, *,
                   root: TrustedRoot) -> Verdict:
    """A message-signature bundle over ``artifact`` (its bytes), signed by ``identity``."""
    loaded = _load_bundle(bundle)
    if isinstance(loaded, Verdict):
        return loaded
    policy = _Policy(identity)
    try:
        Verifier(trusted_root=root).verify_artifact(artifact, loaded, policy)
    except Error as e:
        return _failed(e, policy)
    except (ValueError, TypeError) as e:
        return Verdict.reject("invalid-bundle", _first_line(e))
    return _accepted(bundle, policy)


def verify_key_bundle(bundle: bytes | str, image_digest: str, key: VerificationKey, *,
                      predicate_type: str, require_tlog: bool,
                      trust: CosignTrustRoot | None = None) -> Verdict:
    """A bundle signed with ``key`` (``verificationMaterial.publicKey``, as ``cosign sign --key`` and
    ``cosign attest --key`` write them in cosign 3): its DSSE envelope verifies with the key, and its
    in-toto statement names ``image_digest`` with ``predicate_type``
    (:data:`~gitops.verify.dsse.COSIGN_SIGN_PREDICATE` for an image signature).

    sigstore-python 4.5 verifies certificate-signed bundles only, so this reads the bundle's JSON itself
    and verifies the envelope with :mod:`gitops.verify.dsse`. The public-key hint is not trusted (the
    key is the policy's). With ``require_tlog``, one of the bundle's transparency log entries must be a
    Rekor v1 entry of this envelope and key whose SET verifies with a log of ``trust``
    (:func:`parse_tlog_entry`, :func:`gitops.verify.dsse.verify_log_entry`); its integrated time is
    the verdict's. The envelope hash of a ``dsse`` entry is not compared (the bundle's envelope is
    re-serialized JSON, not the bytes uploaded; sigstore-python and sigstore-go do not either): the
    payload hash and the signatures with their key are.
    """
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", image_digest):
        raise ValueError(f"image digest {image_digest!r} is not sha256:<64 lowercase hex>")
    if require_tlog and trust is None:
        raise ValueError("require_tlog needs a trusted root")
    if len(bundle) > MAX_BUNDLE_BYTES:
        return Verdict.reject("too-large", f"bundle of {len(bundle)} bytes exceeds {MAX_BUNDLE_BYTES}")
    try:
        doc = json.loads(bundle)
    except (ValueError, RecursionError) as e:
        return Verdict.reject("invalid-bundle", f"not a valid Sigstore bundle: {_first_line(e)[:200]}")
    media_type = doc.get("mediaType") if isinstance(doc, dict) else None
    if not isinstance(media_type, str) or not media_type.startswith(BUNDLE_MEDIA_TYPE_PREFIX):
        return Verdict.reject("invalid-bundle", "not a valid Sigstore bundle: no Sigstore bundle mediaType")
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict):
        return Verdict.reject("invalid-bundle", "not a valid Sigstore bundle: no verificationMaterial")
    if not isinstance(material.get("publicKey"), dict):
        if "certificate" in material or "x509CertificateChain" in material:
            return Verdict.reject("not-key-signed", "the bundle is signed with a certificate (keyless), "
                                                    "not with a key")
        return Verdict.reject("invalid-bundle", "not a valid Sigstore bundle: no public key or certificate")
    envelope = doc.get("dsseEnvelope")
    if envelope is None:
        if "messageSignature" in doc:
            return Verdict.reject("bad-payload", "a message-signature bundle signs a blob's digest and names "
                                                 "no image (cosign signs images in a DSSE envelope)")
        return Verdict.reject("invalid-bundle", "not a valid Sigstore bundle: no dsseEnvelope")
    verdict = dsse.verify_envelope(envelope, image_digest, key, predicate_type=predicate_type)
    if not verdict.ok or not require_tlog:
        return verdict
    assert trust is not None
    entries = material.get("tlogEntries")
    if not isinstance(entries, list) or not entries:
        return dsse.missing_log("bundle")
    parsed = dsse.parse_envelope(envelope)
    assert isinstance(parsed, dsse.Envelope)  # it verified just above
    refused: list[Verdict] = []
    for raw_entry in entries[:MAX_TLOG_ENTRIES]:
        entry = parse_tlog_entry(raw_entry)
        when = entry if isinstance(entry, Verdict) else dsse.verify_log_entry(entry, parsed, key, trust,
                                                                              raw=None)
        if not isinstance(when, Verdict):
            return Verdict(True, "verified", verdict.reason, signer=verdict.signer, integrated_time=when)
        refused.append(when)
    if len(refused) == 1:
        return refused[0]
    return Verdict.reject(refused[0].code, "no transparency log entry verifies: "
                          + "; ".join(f"entry {n}: {v.code}: {v.reason}" for n, v in enumerate(refused)))


def parse_tlog_entry(raw: object) -> LogEntry | Verdict:
    """A Rekor v1 entry of a bundle's ``verificationMaterial.tlogEntries`` (protobuf JSON:
    ``logIndex``, ``logId.keyId`` base64, ``kindVersion``, ``integratedTime``,
    ``inclusionPromise.signedEntryTimestamp``, ``canonicalizedBody``), or why not one (``bad-tlog``).

    A Rekor v2 entry (an inclusion proof with a checkpoint, no inclusion promise) is refused: its
    checkpoint is not verified here."""
    if not isinstance(raw, dict):
        return Verdict.reject("bad-tlog", "a transparency log entry is not a JSON object")
    kind_version = raw.get("kindVersion")
    kind = kind_version.get("kind") if isinstance(kind_version, dict) else None
    version = kind_version.get("version") if isinstance(kind_version, dict) else None
    if not isinstance(kind, str) or not isinstance(version, str):
        return Verdict.reject("bad-tlog", "the transparency log entry has no kindVersion")
    promise = raw.get("inclusionPromise")
    signed = promise.get("signedEntryTimestamp") if isinstance(promise, dict) else None
    if not signed:
        return Verdict.reject("bad-tlog", f"the transparency log entry ({kind[:40]} {version[:20]}) has no "
                                          "inclusion promise (SET): a Rekor v2 entry, proved by an inclusion "
                                          "proof and checkpoint, is not verified for key-signed bundles yet")
    set_bytes = b64decode_strict(signed, limit=MAX_BUNDLE_BYTES)
    body = b64decode_strict(raw.get("canonicalizedBody"), limit=MAX_BUNDLE_BYTES)
    log_id = raw.get("logId")
    key_id = (b64decode_strict(log_id.get("keyId"), limit=MAX_BUNDLE_BYTES) if isinstance(log_id, dict)
              else None)
    integrated, index = _int64(raw.get("integratedTime")), _int64(raw.get("logIndex"))
    if not set_bytes or not body or not key_id or integrated is None or index is None:
        return Verdict.reject("bad-tlog", "the transparency log entry lacks a base64 SET, body or log id, or "
                                          "an integer integrated time or log index")
    entry = LogEntry(base64.b64encode(body).decode(), integrated, index, key_id.hex(), set_bytes)
    decoded = entry.body()
    if isinstance(decoded, str):
        return Verdict.reject("bad-tlog", decoded)
    if (decoded["kind"], decoded["apiVersion"]) != (kind, version):
        return Verdict.reject("bad-tlog", "the entry's kindVersion is not its body's kind and apiVersion")
    return entry


def _int64(value: object) -> int | None:
    """An int64 of protobuf JSON: a number, or a decimal string."""
    if type(value) is int:
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value):
        return int(value)
    return None


def _accepted(raw: bytes | str, policy: _Policy) -> Verdict:
    return Verdict(True, "verified", f"signed by {policy.signer} ({policy.issuer})", signer=policy.signer,
                   issuer=policy.issuer, integrated_time=_integrated_time(raw))


def _integrated_time(raw: bytes | str) -> datetime | None:
    """The (verified) log entry's integrated time, read back from the bundle's JSON: sigstore-python
    has no public accessor for it. None for an entry without one (a Rekor v2 entry, proof only)."""
    try:
        entries = json.loads(raw)["verificationMaterial"]["tlogEntries"]
        seconds = int(entries[0].get("integratedTime") or 0)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None
