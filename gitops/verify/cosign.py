"""Cosign's classic signatures (the tag-based ``sha256-<hex>.sig`` scheme), verified over bytes.

In a registry, the signatures of image ``repo@sha256:<hex>`` are the layers of the manifest tagged
``sha256-<hex>.sig``. Each layer's blob is a *simple-signing payload*::

    {"critical": {"identity": {"docker-reference": "..."},
                  "image": {"docker-manifest-digest": "sha256:..."},
                  "type": "cosign container image signature"},
     "optional": {...}}

and its descriptor carries annotations: ``dev.cosignproject.cosign/signature`` (the base64 signature
over the blob), and optionally ``dev.sigstore.cosign/bundle`` (the Rekor entry with its Signed Entry
Timestamp: a *SET*), ``dev.sigstore.cosign/certificate`` and ``dev.sigstore.cosign/chain`` (keyless:
a Fulcio certificate and its chain, PEM).

This module does no I/O: the registry client (:mod:`gitops.verify.registry`) fetches the layers, these
functions judge them. Every outcome is a :class:`Verdict`; a failure is a value with a precise reason
(``code`` for programs, ``reason`` for people), never an exception. What is checked, in order:

1. sizes and encodings (a payload over :data:`MAX_PAYLOAD_BYTES`, base64 garbage);
2. the signature over the exact payload bytes, with the key (:mod:`gitops.verify.keys`) or with the
   Fulcio certificate's key (keyless) — before the payload is parsed, so untrusted JSON is only read
   once it is known to be signed;
3. the payload: ``critical.type`` is ``cosign container image signature`` and
   ``critical.image.docker-manifest-digest`` is the image's digest;
4. when the transparency log is required (always for keyless): the SET in the bundle annotation,
   signed by a Rekor key of the trusted root, and the Rekor entry body (``hashedrekord``: the
   payload's sha256, the signature, the key or certificate) matching this very signature;
5. keyless: the certificate chains to a Fulcio CA of the trusted root at the entry's integrated
   time, has the code-signing usage, and its identity (SAN e-mail or URI) and issuer (Fulcio
   extension 1.3.6.1.4.1.57264.1.8, or the older .1.1) match the policy exactly or by a regular
   expression (``re.fullmatch``: anchored, unlike cosign's unanchored ``--certificate-identity-regexp``).

Not checked (yet): the certificate's SCT (Certificate Transparency), Rekor inclusion proofs (the SET
is the offline proof cosign uses for classic signatures), the older ``rekord`` entry kind.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
)
from cryptography.x509.verification import VerificationError as X509VerificationError

from gitops.errors import InputError
from gitops.verify.inputs import b64decode_strict
from gitops.verify.keys import PublicKey, VerificationKey, accept_key

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
COSIGN_SIGNATURE_TYPE = "cosign container image signature"
# a simple-signing payload is a few hundred bytes; cosign's own limit on a layer is far larger, but a
# payload this size is an attack or a mistake either way
MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_ANNOTATION_BYTES = 256 * 1024
FILE_MAGIC = b"\x00sigstore-json\n"  # containers/image's file format for one signature layer

OID_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw string (deprecated by Fulcio)
OID_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")  # DER UTF8String
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one verification. ``ok`` or not, ``code`` (stable, for programs: ``verified``,
    ``bad-signature``, ``digest-mismatch``...), ``reason`` (for people), and when it is known: who
    signed (``signer``: a key fingerprint ``sha256:<hex>`` or a certificate identity), the OIDC
    ``issuer`` (keyless), and the transparency log's ``integrated_time``."""

    ok: bool
    code: str
    reason: str
    signer: str | None = None
    issuer: str | None = None
    integrated_time: datetime | None = None

    @classmethod
    def reject(cls, code: str, reason: str, *, signer: str | None = None) -> Verdict:
        return cls(False, code, reason, signer=signer)

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class SignatureLayer:
    """One layer of a ``.sig`` manifest: the payload blob and the annotations that matter."""

    payload: bytes
    signature: str
    bundle: str | None = None
    certificate: str | None = None
    chain: str | None = None
    media_type: str = SIMPLE_SIGNING_MEDIA_TYPE


def parse_layer(payload: bytes, annotations: Mapping[str, str],
                media_type: str = SIMPLE_SIGNING_MEDIA_TYPE) -> SignatureLayer | Verdict:
    """A signature layer from its blob and its descriptor's annotations, or a rejecting Verdict."""
    if media_type != SIMPLE_SIGNING_MEDIA_TYPE:
        return Verdict.reject("not-a-signature",
                              f"layer media type {media_type!r} is not {SIMPLE_SIGNING_MEDIA_TYPE}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Verdict.reject("too-large", f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    for name in (SIGNATURE_ANNOTATION, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION):
        value = annotations.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_ANNOTATION_BYTES):
            return Verdict.reject("malformed", f"annotation {name} is not a string of at most "
                                               f"{MAX_ANNOTATION_BYTES} characters")
    signature = annotations.get(SIGNATURE_ANNOTATION)
    if not signature:
        return Verdict.reject("unsigned", f"layer has no {SIGNATURE_ANNOTATION} annotation")
    return SignatureLayer(payload, signature, bundle=annotations.get(BUNDLE_ANNOTATION) or None,
                          certificate=annotations.get(CERTIFICATE_ANNOTATION) or None,
                          chain=annotations.get(CHAIN_ANNOTATION) or None, media_type=media_type)


def parse_signature_file(data: bytes) -> SignatureLayer | Verdict:
    """A layer in containers/image's file format (``\\x00sigstore-json\\n`` then JSON with
    ``mimeType``, base64 ``payload`` and ``annotations``), as the cosign test fixtures store them."""
    if not data.startswith(FILE_MAGIC):
        return Verdict.reject("malformed", "not a sigstore-json signature file")
    if len(data) > 2 * MAX_PAYLOAD_BYTES:
        return Verdict.reject("too-large", f"signature file of {len(data)} bytes")
    try:
        doc = json.loads(data[len(FILE_MAGIC):])
    except (ValueError, RecursionError) as e:
        return Verdict.reject("malformed", f"signature file is not JSON: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), str) \
            or not isinstance(doc.get("annotations", {}), dict):
        return Verdict.reject("malformed", "signature file lacks a payload string or annotations object")
    payload = b64decode_strict(doc["payload"])
    if payload is None:
        return Verdict.reject("malformed", "signature file payload is not base64")
    return parse_layer(payload, doc.get("annotations", {}), doc.get("mimeType", SIMPLE_SIGNING_MEDIA_TYPE))


# ---- trusted root -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Validity:
    start: datetime | None
    end: datetime | None

    def covers(self, when: datetime) -> bool:
        return (self.start is None or self.start <= when) and (self.end is None or when <= self.end)


@dataclass(frozen=True)
class RekorKey:
    log_id: str  # hex sha256 of the key's DER, as the SET's logID says it
    key: ec.EllipticCurvePublicKey
    validity: _Validity


@dataclass(frozen=True)
class FulcioCA:
    certificates: tuple[x509.Certificate, ...]  # leaf-most first, the root last
    validity: _Validity


@dataclass(frozen=True)
class TrustRoot:
    """The Rekor keys and Fulcio CAs of a Sigstore trusted root (``trusted_root.json``)."""

    rekor_keys: tuple[RekorKey, ...]
    fulcio: tuple[FulcioCA, ...]

    @classmethod
    def from_json(cls, raw: bytes | str, *, source: str = "<trusted root>") -> TrustRoot:
        """Parse a trusted root; InputError naming ``source`` when it is not one."""
        try:
            doc = json.loads(raw)
            keys = []
            for tlog in doc.get("tlogs", []):
                pk = tlog["publicKey"]
                key = serialization.load_der_public_key(base64.b64decode(pk["rawBytes"]))
                if not isinstance(key, ec.EllipticCurvePublicKey):
                    continue  # Rekor v1 keys are ECDSA; anything else is not for classic SETs
                keys.append(RekorKey(hashlib.sha256(base64.b64decode(pk["rawBytes"])).hexdigest(), key,
                                     _validity(pk.get("validFor"))))
            cas = []
            for ca in doc.get("certificateAuthorities", []):
                certs = tuple(x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
                              for c in ca["certChain"]["certificates"])
                cas.append(FulcioCA(certs, _validity(ca.get("validFor"))))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError(f"not a Sigstore trusted root: {e}", file=source) from e
        if not keys and not cas:
            raise InputError("trusted root has neither transparency logs nor certificate authorities",
                             file=source)
        return cls(tuple(keys), tuple(cas))

    @classmethod
    def public_good(cls) -> TrustRoot:
        """The public-good Sigstore trusted root pinned in this package (data/README.md)."""
        return cls.from_json(public_good_trusted_root_json(),
                             source="gitops/verify/data/trusted_root_public_good.json")


def public_good_trusted_root_json() -> bytes:
    """The bytes of the pinned public-good trusted root."""
    return resources.files("gitops.verify.data").joinpath("trusted_root_public_good.json").read_bytes()


def _validity(valid_for: Any) -> _Validity:
    if not isinstance(valid_for, dict):
        return _Validity(None, None)
    return _Validity(_time(valid_for.get("start")), _time(valid_for.get("end")))


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# ---- identities ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who may sign keylessly: the certificate's SAN (e-mail or URI) and the OIDC issuer, each matched
    exactly or by a regular expression (``re.fullmatch``). One of subject/subject_regex and one of
    issuer/issuer_regex must be given. Patterns are meant to come from the validated configuration
    (``gitops.config.verification.KeylessIdentity``), which holds them to a linear-time subset: the
    values they are matched against come from certificates, that is from the signer."""

    subject: str | None = None
    issuer: str | None = None
    subject_regex: str | None = None
    issuer_regex: str | None = None

    def __post_init__(self) -> None:
        if (self.subject is None) == (self.subject_regex is None):
            raise ValueError("Identity needs exactly one of subject and subject_regex")
        if (self.issuer is None) == (self.issuer_regex is None):
            raise ValueError("Identity needs exactly one of issuer and issuer_regex")
        for pattern in (self.subject_regex, self.issuer_regex):
            if pattern is not None:
                re.compile(pattern)

    def matches_subject(self, sans: Sequence[str]) -> str | None:
        for san in sans:
            if san == self.subject or (self.subject_regex is not None
                                       and re.fullmatch(self.subject_regex, san)):
                return san
        return None

    def matches_issuer(self, issuer: str) -> bool:
        if self.issuer is not None:
            return issuer == self.issuer
        return self.issuer_regex is not None and re.fullmatch(self.issuer_regex, issuer) is not None


def certificate_sans(cert: x509.Certificate) -> list[str]:
    """The e-mail and URI subject alternative names of a Fulcio certificate."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.RFC822Name),
            *san.get_values_for_type(x509.UniformResourceIdentifier)]


def certificate_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer Fulcio recorded: extension .1.8 (DER UTF8String), else the older .1.1 (raw)."""
    for oid, der in ((OID_ISSUER_V2, True), (OID_ISSUER_V1, False)):
        try:
            ext = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        if not isinstance(ext, x509.UnrecognizedExtension):
            continue
        raw = ext.value
        if der:
            decoded = _der_utf8(raw)
            if decoded is None:
                return None
            return decoded
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None
    return None


def _der_utf8(raw: bytes) -> str | None:
    if len(raw) < 2 or raw[0] != 0x0C:
        return None
    length, offset = raw[1], 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 2 or len(raw) < 2 + n:
            return None
        length, offset = int.from_bytes(raw[2:2 + n], "big"), 2 + n
    if len(raw) != offset + length:
        return None
    try:
        return raw[offset:].decode()
    except UnicodeDecodeError:
        return None


# ---- verification -------------------------------------------------------------------------------


def verify_classic(payload: bytes, signature_b64: str, image_digest: str, key: VerificationKey, *,
                   bundle: str | None = None, trust: TrustRoot | None = None,
                   require_tlog: bool = False) -> Verdict:
    """A key-based classic signature over ``payload`` for the image ``image_digest``.

    With ``require_tlog``, ``bundle`` (the ``dev.sigstore.cosign/bundle`` annotation) must hold a Rekor
    entry for this signature and key, with a SET signed by a Rekor key of ``trust``.
    """
    early = _precheck(payload, signature_b64, image_digest)
    if isinstance(early, Verdict):
        return early
    signature = early
    if not key.verifies(signature, payload):
        return Verdict.reject("bad-signature", f"signature does not verify with key {key.fingerprint}")
    claims = check_payload(payload, image_digest)
    if claims is not None:
        return claims
    integrated: datetime | None = None
    if require_tlog:
        if trust is None:
            raise ValueError("require_tlog needs a trusted root")
        entry = _check_tlog(bundle, trust, payload, signature, signer_key=key.key)
        if isinstance(entry, Verdict):
            return entry
        integrated = entry
    return Verdict(True, "verified", f"signed by key {key.fingerprint}", signer=key.fingerprint,
                   integrated_time=integrated)


def verify_keyless(payload: bytes, signature_b64: str, image_digest: str, *, certificate: str | None,
                   chain: str | None, bundle: str | None, identity: Identity,
                   trust: TrustRoot) -> Verdict:
    """A keyless classic signature: Fulcio certificate, Rekor entry (required), identity policy."""
    del chain  # the trust anchors come from the trusted root, never from the signature's own chain
    early = _precheck(payload, signature_b64, image_digest)
    if isinstance(early, Verdict):
        return early
    signature = early
    if not certificate:
        return Verdict.reject("no-certificate",
                              f"keyless signature has no {CERTIFICATE_ANNOTATION} annotation")
    try:
        cert = x509.load_pem_x509_certificate(certificate.encode())
        cert_key = accept_key(cert.public_key(), source="signing certificate")
    except (ValueError, UnsupportedAlgorithm, InputError) as e:
        return Verdict.reject("bad-certificate", f"signing certificate is unusable: {e}")
    if not cert_key.verifies(signature, payload):
        return Verdict.reject("bad-signature", "signature does not verify with the signing certificate's key")
    claims = check_payload(payload, image_digest)
    if claims is not None:
        return claims
    entry = _check_tlog(bundle, trust, payload, signature, cert=cert)
    if isinstance(entry, Verdict):
        return entry
    chained = _check_chain(cert, entry, trust)
    if chained is not None:
        return chained
    issuer = certificate_issuer(cert)
    if issuer is None:
        return Verdict.reject("identity-mismatch", "signing certificate names no OIDC issuer")
    if not identity.matches_issuer(issuer):
        return Verdict.reject("identity-mismatch", f"certificate issuer {issuer!r} is not the one required")
    sans = certificate_sans(cert)
    subject = identity.matches_subject(sans)
    if subject is None:
        return Verdict.reject("identity-mismatch",
                              f"certificate identities {sans} do not match the one required")
    return Verdict(True, "verified", f"signed by {subject} ({issuer})", signer=subject, issuer=issuer,
                   integrated_time=entry)


def verify_layer(layer: SignatureLayer, image_digest: str, *, key: VerificationKey | None = None,
                 identity: Identity | None = None, trust: TrustRoot | None = None,
                 require_tlog: bool = False) -> Verdict:
    """One parsed layer against a key or a keyless identity (exactly one of them)."""
    if (key is None) == (identity is None):
        raise ValueError("verify_layer needs exactly one of key and identity")
    if key is not None:
        return verify_classic(layer.payload, layer.signature, image_digest, key, bundle=layer.bundle,
                              trust=trust, require_tlog=require_tlog)
    assert identity is not None
    if trust is None:
        raise ValueError("keyless verification needs a trusted root")
    return verify_keyless(layer.payload, layer.signature, image_digest, certificate=layer.certificate,
                          chain=layer.chain, bundle=layer.bundle, identity=identity, trust=trust)


def _precheck(payload: bytes, signature_b64: str, image_digest: str) -> bytes | Verdict:
    if not _DIGEST.fullmatch(image_digest):
        raise ValueError(f"image digest {image_digest!r} is not sha256:<64 lowercase hex>")
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Verdict.reject("too-large", f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if len(signature_b64) > MAX_ANNOTATION_BYTES:
        return Verdict.reject("malformed", "signature annotation is too long")
    signature = b64decode_strict(signature_b64)
    if not signature:
        return Verdict.reject("malformed", "signature annotation is not base64")
    return signature


def check_payload(payload: bytes, image_digest: str) -> Verdict | None:
    """None when the simple-signing payload claims ``image_digest`` with cosign's type, else why not."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as e:
        return Verdict.reject("bad-payload", f"payload is not JSON: {e}")
    critical = doc.get("critical") if isinstance(doc, dict) else None
    if not isinstance(critical, dict):
        return Verdict.reject("bad-payload", "payload has no 'critical' object")
    kind = critical.get("type")
    if kind != COSIGN_SIGNATURE_TYPE:
        return Verdict.reject("bad-payload", f"payload type {kind!r} is not {COSIGN_SIGNATURE_TYPE!r}")
    image = critical.get("image")
    claimed = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if not isinstance(claimed, str):
        return Verdict.reject("bad-payload", "payload has no critical.image.docker-manifest-digest")
    if claimed != image_digest:
        return Verdict.reject("digest-mismatch", f"payload signs {claimed}, not the image {image_digest}")
    return None


@dataclass(frozen=True)
class LogEntry:
    """A Rekor v1 entry as an offline proof carries it: the entry's canonicalized body (base64, as the
    SET signs it), its integrated time and log index, the log's id (hex sha256 of the log key's DER)
    and the Signed Entry Timestamp. From the ``dev.sigstore.cosign/bundle`` annotation
    (:func:`parse_rekor_annotation`) or a Sigstore bundle's ``tlogEntries``
    (:func:`gitops.verify.bundles.parse_tlog_entry`)."""

    body_b64: str
    integrated_time: int
    log_index: int
    log_id: str
    signed_entry_timestamp: bytes

    def body(self) -> dict[str, Any] | str:
        """The entry body as JSON (``kind``, ``apiVersion``, ``spec``), or why it is not one."""
        if len(self.body_b64) > MAX_ANNOTATION_BYTES * 2:
            return "entry body is too large"
        raw = b64decode_strict(self.body_b64)
        if raw is None:
            return "entry body is not base64"
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as e:
            return f"entry body is not JSON ({str(e)[:100]})"
        if not isinstance(body, dict) or not isinstance(body.get("kind"), str) \
                or not isinstance(body.get("apiVersion"), str) or not isinstance(body.get("spec"), dict):
            return "entry body has no kind, apiVersion and spec"
        return body


def parse_rekor_annotation(bundle: str | None) -> LogEntry | Verdict:
    """The Rekor entry of a ``dev.sigstore.cosign/bundle`` annotation (``{"SignedEntryTimestamp",
    "Payload": {"body", "integratedTime", "logIndex", "logID"}}``), or why not (``no-tlog`` without
    one, ``bad-tlog``)."""
    if not bundle:
        return Verdict.reject("no-tlog", f"no {BUNDLE_ANNOTATION} annotation: the transparency log entry "
                                         "is required")
    if len(bundle) > MAX_ANNOTATION_BYTES:
        return Verdict.reject("bad-tlog", f"bundle annotation is longer than {MAX_ANNOTATION_BYTES}")
    try:
        doc = json.loads(bundle)
        set_b64 = doc["SignedEntryTimestamp"]
        entry = doc["Payload"]
        body_b64, integrated, log_index, log_id = (entry["body"], entry["integratedTime"],
                                                   entry["logIndex"], entry["logID"])
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        return Verdict.reject("bad-tlog", f"bundle annotation is not a Rekor bundle: {e!r}")
    if not (isinstance(set_b64, str) and isinstance(body_b64, str) and isinstance(log_id, str)
            and type(integrated) is int and type(log_index) is int):
        return Verdict.reject("bad-tlog", "bundle annotation has fields of the wrong types")
    set_signature = b64decode_strict(set_b64)
    if not set_signature:
        return Verdict.reject("bad-tlog", "SignedEntryTimestamp is not base64")
    return LogEntry(body_b64, integrated, log_index, log_id, set_signature)


def verify_promise(entry: LogEntry, trust: TrustRoot) -> datetime | Verdict:
    """The entry's integrated time when its SET (the inclusion promise) is signed by the trusted root's
    log named by ``entry.log_id`` with a key valid at that time; else a ``bad-tlog`` refusal. Says
    nothing about what the entry is (the caller matches the body to its signature)."""
    try:
        when = datetime.fromtimestamp(entry.integrated_time, UTC)
    except (ValueError, OverflowError, OSError):
        return Verdict.reject("bad-tlog", f"integrated time {entry.integrated_time} is not a time")
    rekor = [k for k in trust.rekor_keys if k.log_id == entry.log_id]
    if not rekor:
        return Verdict.reject("bad-tlog",
                              f"log {entry.log_id[:64]} is not a transparency log of the trusted root")
    valid = [k for k in rekor if k.validity.covers(when)]  # a root may list a key twice, in two windows
    if not valid:
        return Verdict.reject("bad-tlog",
                              f"the log's key was not valid at the integrated time {when.isoformat()}")
    # the SET signs the canonical JSON (RFC 8785) of the entry: ASCII strings and integers only, so
    # sorted keys without whitespace is exactly that form
    canonical = json.dumps({"body": entry.body_b64, "integratedTime": entry.integrated_time,
                            "logID": entry.log_id, "logIndex": entry.log_index},
                           sort_keys=True, separators=(",", ":")).encode()
    for rekor_key in valid:
        try:
            rekor_key.key.verify(entry.signed_entry_timestamp, canonical, ec.ECDSA(hashes.SHA256()))
            return when
        except InvalidSignature:
            continue
    return Verdict.reject("bad-tlog", "the SignedEntryTimestamp does not verify with the log's key")


def _check_tlog(bundle: str | None, trust: TrustRoot, payload: bytes, signature: bytes, *,
                signer_key: PublicKey | None = None,
                cert: x509.Certificate | None = None) -> datetime | Verdict:
    """Verify the bundle annotation's SET and match its entry to this signature; its integrated time."""
    entry = parse_rekor_annotation(bundle)
    if isinstance(entry, Verdict):
        return entry
    when = verify_promise(entry, trust)
    if isinstance(when, Verdict):
        return when
    mismatch = _match_entry(entry.body_b64, payload, signature, signer_key=signer_key, cert=cert)
    if mismatch is not None:
        return Verdict.reject("tlog-mismatch",
                              f"the transparency log entry is not this signature: {mismatch}")
    return when


def _match_entry(body_b64: str, payload: bytes, signature: bytes, *, signer_key: PublicKey | None,
                 cert: x509.Certificate | None) -> str | None:
    raw = b64decode_strict(body_b64)
    if raw is None:
        return "entry body is not base64"
    try:
        body = json.loads(raw)
        kind, spec = body["kind"], body["spec"]
        digest = spec["data"]["hash"]
        content = spec["signature"]["content"]
        verifier = spec["signature"]["publicKey"]["content"]
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        return f"entry body is not a hashedrekord entry ({e!r})"
    if kind != "hashedrekord":
        return f"entry kind {kind!r} is not supported (hashedrekord only)"
    if not isinstance(digest, dict) or digest.get("algorithm") != "sha256" \
            or digest.get("value") != hashlib.sha256(payload).hexdigest():
        return "the entry's hash is not the payload's sha256"
    if not isinstance(content, str) or b64decode_strict(content) != signature:
        return "the entry's signature is not this signature"
    pem = b64decode_strict(verifier) if isinstance(verifier, str) else None
    if pem is None:
        return "the entry's public key is not base64"
    if cert is not None:
        try:
            logged = x509.load_pem_x509_certificate(pem)
        except ValueError:
            return "the entry holds no certificate"
        return None if logged == cert else "the entry's certificate is not the signing certificate"
    try:
        logged_key = serialization.load_pem_public_key(pem)
    except ValueError:
        return "the entry's public key is not PEM"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if signer_key is None or logged_key.public_bytes(serialization.Encoding.DER, spki) \
            != signer_key.public_bytes(serialization.Encoding.DER, spki):
        return "the entry's public key is not the verifying key"
    return None


def _check_chain(cert: x509.Certificate, when: datetime, trust: TrustRoot) -> Verdict | None:
    cas = [ca for ca in trust.fulcio if ca.validity.covers(when)]
    if not cas:
        return Verdict.reject("bad-certificate",
                              f"no Fulcio CA of the trusted root was valid at {when.isoformat()}")
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return Verdict.reject("bad-certificate", "signing certificate has no extended key usage")
    if ExtendedKeyUsageOID.CODE_SIGNING not in usage:
        return Verdict.reject("bad-certificate", "signing certificate is not for code signing")
    # Fulcio leaves carry code signing, not the client-auth usage a client verifier wants by default
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    errors = []
    for ca in cas:
        verifier = (PolicyBuilder().store(Store([ca.certificates[-1]])).time(when)
                    .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy).build_client_verifier())
        try:
            verifier.verify(cert, list(ca.certificates[:-1]))
            return None
        except (X509VerificationError, x509.UnsupportedGeneralNameType) as e:
            errors.append(str(e))
    return Verdict.reject("bad-certificate", "signing certificate does not chain to a Fulcio CA of the "
                                             f"trusted root at {when.isoformat()}: {'; '.join(errors)}")
