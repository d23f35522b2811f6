"""DSSE envelopes and in-toto statements, verified with a key: cosign's key-signed attestations and
cosign 3's key-signed image signatures.

cosign wraps what it signs in a DSSE envelope (``application/vnd.dsse.envelope.v1+json``)::

    {"payloadType": "application/vnd.in-toto+json", "payload": "<base64 statement>",
     "signatures": [{"keyid": "", "sig": "<base64>"}]}

whose signature is over the *pre-authentication encoding* (PAE) ``DSSEv1 <len(type)> <type>
<len(payload)> <payload>``, never over the payload alone, so a signature cannot be replayed with
another payload type. The payload is an in-toto statement (``https://in-toto.io/Statement/v0.1`` or
``v1``) whose ``subject`` lists digests and whose ``predicateType`` says what it attests:
``https://slsa.dev/provenance/v1`` for an attestation (``cosign attest --type slsaprovenance1``),
``https://sigstore.dev/cosign/sign/v1`` (:data:`COSIGN_SIGN_PREDICATE`, an empty predicate) for
cosign 3's image signature in a Sigstore bundle.

Where the envelopes are: classic attestations are the layers (media type :data:`DSSE_MEDIA_TYPE`)
of the manifest tagged ``sha256-<hex>.att``; cosign 3 puts the envelope in a Sigstore bundle
(:func:`gitops.verify.bundles.verify_key_bundle`). Keyless envelopes are sigstore-python's
(:mod:`gitops.verify.bundles`); this module is the key-signed path and the one in-toto statement
check both use (:func:`check_statement`).

The transparency log: :func:`verify_log_entry` verifies a Rekor v1 entry of a key-signed envelope
(its SET with :func:`gitops.verify.cosign.verify_promise`, its body with :func:`match_entry`), from
a bundle's ``tlogEntries`` (:func:`gitops.verify.bundles.parse_tlog_entry`) or an ``.att`` layer's
``dev.sigstore.cosign/bundle`` annotation (:func:`verify_attestation_layer`).

Pure, no I/O: a failure is a :class:`~gitops.verify.cosign.Verdict`, never an exception. The
signature is verified before the statement is parsed, so untrusted JSON is read only once signed.
Keys and their algorithms are :mod:`gitops.verify.keys`' (ECDSA P-256/P-384, Ed25519, RSA).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gitops.verify.cosign import LogEntry, TrustRoot, Verdict, parse_rekor_annotation, verify_promise
from gitops.verify.inputs import b64decode_strict
from gitops.verify.keys import VerificationKey

DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_TYPES = frozenset({"https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1"})
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
# an attestation's predicate (an SBOM) can be large, never this large
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024
MAX_SIGNATURES = 16  # signatures of one envelope tried
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope: the payload type, the payload bytes and its signatures (raw bytes)."""

    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of ``payload`` with ``payload_type``: what is signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def parse_envelope(raw: bytes | str | Mapping[str, Any]) -> Envelope | Verdict:
    """An envelope from its JSON (or the already-decoded object of a bundle's ``dsseEnvelope``), or a
    rejecting Verdict (``too-large``, ``malformed``)."""
    if isinstance(raw, (bytes, str)):
        if len(raw) > MAX_ENVELOPE_BYTES:
            return Verdict.reject("too-large",
                                  f"DSSE envelope of {len(raw)} bytes exceeds {MAX_ENVELOPE_BYTES}")
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as e:
            return Verdict.reject("malformed", f"the DSSE envelope is not JSON: {_short(e)}")
    else:
        doc = raw
    if not isinstance(doc, Mapping):
        return Verdict.reject("malformed", "the DSSE envelope is not a JSON object")
    payload_type, payload_b64, signatures = doc.get("payloadType"), doc.get("payload"), doc.get("signatures")
    if not isinstance(payload_type, str) or not isinstance(payload_b64, str):
        return Verdict.reject("malformed", "the DSSE envelope lacks a payloadType or payload string")
    if len(payload_b64) > MAX_ENVELOPE_BYTES * 2:
        return Verdict.reject("too-large", "the DSSE payload is too large")
    payload = b64decode_strict(payload_b64)
    if payload is None:
        return Verdict.reject("malformed", "the DSSE payload is not base64")
    if not isinstance(signatures, list) or not signatures:
        return Verdict.reject("unsigned", "the DSSE envelope has no signatures")
    raw_signatures: list[bytes] = []
    for entry in signatures[:MAX_SIGNATURES]:
        sig = entry.get("sig") if isinstance(entry, Mapping) else None
        decoded = b64decode_strict(sig) if isinstance(sig, str) and len(sig) <= 64 * 1024 else None
        if not decoded:
            return Verdict.reject("malformed", "a DSSE signature is not a base64 'sig' string")
        raw_signatures.append(decoded)
    return Envelope(payload_type, payload, tuple(raw_signatures))


def verify_signature(envelope: Envelope, key: VerificationKey) -> Verdict | None:
    """None when one of the envelope's signatures is ``key``'s over the PAE, else why not."""
    signed = pae(envelope.payload_type, envelope.payload)
    if any(key.verifies(signature, signed) for signature in envelope.signatures):
        return None
    return Verdict.reject("bad-signature", f"the DSSE signature does not verify with key {key.fingerprint}")


def check_statement(payload_type: str, payload: bytes, image_digest: str,
                    predicate_type: str | None) -> Verdict | None:
    """None when the payload is an in-toto statement naming ``image_digest`` (``sha256:<hex>``) among
    its subjects and, when given, of ``predicate_type``; else the reason (``bad-payload``,
    ``predicate-mismatch``, ``digest-mismatch``)."""
    if not _DIGEST.fullmatch(image_digest):
        raise ValueError(f"image digest {image_digest!r} is not sha256:<64 lowercase hex>")
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        return Verdict.reject("bad-payload", f"DSSE payload type {payload_type[:100]!r} is not "
                                             f"{IN_TOTO_PAYLOAD_TYPE}")
    try:
        statement = json.loads(payload)
    except (ValueError, RecursionError) as e:
        return Verdict.reject("bad-payload", f"the in-toto statement is not JSON: {_short(e)}")
    if not isinstance(statement, dict) or statement.get("_type") not in IN_TOTO_STATEMENT_TYPES:
        return Verdict.reject("bad-payload", "the payload is not an in-toto statement")
    claimed = statement.get("predicateType")
    if predicate_type is not None and claimed != predicate_type:
        shown = claimed[:200] if isinstance(claimed, str) else claimed
        return Verdict.reject("predicate-mismatch", f"predicate type {shown!r} is not {predicate_type!r}")
    subjects = statement.get("subject")
    digests = [s["digest"].get("sha256") for s in subjects if isinstance(s, dict)
               and isinstance(s.get("digest"), dict)] if isinstance(subjects, list) else []
    if image_digest.removeprefix("sha256:") not in digests:
        shown_digests = [d[:80] if isinstance(d, str) else d for d in digests[:8]]
        return Verdict.reject("digest-mismatch", f"the statement's subjects {shown_digests} do not include "
                                                 f"the image {image_digest}")
    return None


def verify_envelope(raw: bytes | str | Mapping[str, Any], image_digest: str, key: VerificationKey, *,
                    predicate_type: str | None) -> Verdict:
    """A DSSE envelope signed by ``key`` whose in-toto statement names ``image_digest`` and, when given,
    has ``predicate_type``. Says nothing about a transparency log (the caller's)."""
    if not _DIGEST.fullmatch(image_digest):
        raise ValueError(f"image digest {image_digest!r} is not sha256:<64 lowercase hex>")
    envelope = parse_envelope(raw)
    if isinstance(envelope, Verdict):
        return envelope
    bad = verify_signature(envelope, key)
    if bad is not None:
        return bad
    wrong = check_statement(envelope.payload_type, envelope.payload, image_digest, predicate_type)
    if wrong is not None:
        return wrong
    return Verdict(True, "verified", f"signed by key {key.fingerprint}", signer=key.fingerprint)


def missing_log(what: str) -> Verdict:
    """The refusal when a policy requires the transparency log and the ``what`` (a ``bundle``, an
    ``attestation``) has no entry."""
    return Verdict.reject("no-tlog", f"transparency log required but the {what} has no transparency "
                                     "log entry (signed with --tlog-upload=false?)")


def verify_log_entry(entry: LogEntry, envelope: Envelope, key: VerificationKey, trust: TrustRoot, *,
                     raw: bytes | None) -> datetime | Verdict:
    """The integrated time of ``entry`` when it is a Rekor v1 entry of this very envelope signed by
    ``key``: its SET verifies with a log of ``trust`` (:func:`~gitops.verify.cosign.verify_promise`,
    the one SET check of classic signatures too), and its body matches (:func:`match_entry`). ``raw``:
    the envelope's exact bytes when known (an ``.att`` layer), to check the envelope hash as well;
    None for a bundle, whose envelope is re-serialized JSON."""
    when = verify_promise(entry, trust)
    if isinstance(when, Verdict):
        return when
    body = entry.body()
    mismatch = body if isinstance(body, str) else match_entry(body, envelope, key, raw=raw)
    if mismatch is not None:
        return Verdict.reject("tlog-mismatch", f"the transparency log entry is not this envelope: {mismatch}")
    return when


def match_entry(body: Mapping[str, Any], envelope: Envelope, key: VerificationKey, *,
                raw: bytes | None) -> str | None:
    """None when the Rekor entry ``body`` records ``envelope`` signed by ``key``, else what differs.

    The kinds are Rekor's (sigstore/rekor pkg/types, v1.5):

    - ``dsse`` 0.0.1 (what cosign 3 uploads): ``payloadHash`` is the sha256 of the payload,
      ``signatures`` the envelope's (``signature``: base64; ``verifier``: the base64 of the PEM key),
      ``envelopeHash`` the sha256 of the envelope JSON as uploaded, checked when ``raw`` is given;
    - ``intoto`` 0.0.2 (older cosign's ``--rekor-entry-type intoto``): ``content.payloadHash`` (the
      payload), ``content.hash`` (the envelope as uploaded, checked when ``raw`` is given),
      ``content.envelope.payloadType`` and its ``signatures`` (``sig``: the base64 of the base64
      signature, ``publicKey``: base64 PEM);
    - ``intoto`` 0.0.1 (older cosign): ``content.hash`` and ``publicKey`` only: it names no
      signature, so only with ``raw`` (the hash of the whole envelope binds its signatures).

    The signatures the entry lists must be the envelope's, and the one ``key`` verifies must be
    listed with ``key`` as its verifier.
    """
    kind, version, spec = body.get("kind"), body.get("apiVersion"), body.get("spec")
    assert isinstance(spec, Mapping)
    payload_hash = hashlib.sha256(envelope.payload).hexdigest()
    envelope_hash = hashlib.sha256(raw).hexdigest() if raw is not None else None
    if (kind, version) == ("dsse", "0.0.1"):
        if not _hash_is(spec.get("payloadHash"), payload_hash):
            return "the entry's payload hash is not the sha256 of the envelope's payload"
        if envelope_hash is not None and not _hash_is(spec.get("envelopeHash"), envelope_hash):
            return "the entry's envelope hash is not the sha256 of the envelope"
        listed = spec.get("signatures")
        if not isinstance(listed, list) or not listed or len(listed) > MAX_SIGNATURES:
            return "the entry lists no signatures"
        pairs = [(b64decode_strict(s.get("signature")), b64decode_strict(s.get("verifier")))
                 if isinstance(s, Mapping) else (None, None) for s in listed]
        return _match_signatures(pairs, envelope, key)
    if (kind, version) == ("intoto", "0.0.2"):
        content = spec.get("content")
        if not isinstance(content, Mapping) or not isinstance(content.get("envelope"), Mapping):
            return "the entry has no content.envelope"
        if not _hash_is(content.get("payloadHash"), payload_hash):
            return "the entry's payload hash is not the sha256 of the envelope's payload"
        if envelope_hash is not None and not _hash_is(content.get("hash"), envelope_hash):
            return "the entry's envelope hash is not the sha256 of the envelope"
        logged = content["envelope"]
        if logged.get("payloadType") != envelope.payload_type:
            return "the entry's payload type is not the envelope's"
        listed = logged.get("signatures")
        if not isinstance(listed, list) or not listed or len(listed) > MAX_SIGNATURES:
            return "the entry lists no signatures"
        pairs = []
        for s in listed:
            twice = b64decode_strict(s.get("sig")) if isinstance(s, Mapping) else None
            sig = b64decode_strict(twice.decode("ascii", "replace")) if twice else None
            pairs.append((sig, b64decode_strict(s.get("publicKey")) if isinstance(s, Mapping) else None))
        return _match_signatures(pairs, envelope, key)
    if (kind, version) == ("intoto", "0.0.1"):
        content = spec.get("content")
        if envelope_hash is None:
            return "an intoto 0.0.1 entry names no signature: accepted for an .att layer only"
        if not isinstance(content, Mapping) or not _hash_is(content.get("hash"), envelope_hash):
            return "the entry's envelope hash is not the sha256 of the envelope"
        if "payloadHash" in content and not _hash_is(content.get("payloadHash"), payload_hash):
            return "the entry's payload hash is not the sha256 of the envelope's payload"
        if not _is_key(b64decode_strict(spec.get("publicKey")), key):
            return "the entry's public key is not the verifying key"
        return None
    return f"entry kind {str(kind)[:40]!r} version {str(version)[:20]!r} is not one of a DSSE envelope " \
           "(dsse 0.0.1, intoto 0.0.2 or 0.0.1)"


def _hash_is(field: object, expected: str) -> bool:
    return isinstance(field, Mapping) and field.get("algorithm") == "sha256" \
        and isinstance(field.get("value"), str) and field["value"].lower() == expected


def _match_signatures(pairs: list[tuple[bytes | None, bytes | None]], envelope: Envelope,
                      key: VerificationKey) -> str | None:
    if any(sig is None or pem is None for sig, pem in pairs):
        return "an entry signature or its verifier is not base64"
    if sorted(sig for sig, _ in pairs if sig is not None) != sorted(envelope.signatures):
        return "the entry's signatures are not the envelope's"
    signed = pae(envelope.payload_type, envelope.payload)
    if not any(sig is not None and _is_key(pem, key) and key.verifies(sig, signed) for sig, pem in pairs):
        return "the entry does not list the signature with the verifying key"
    return None


def _is_key(pem: bytes | None, key: VerificationKey) -> bool:
    if not pem:
        return False
    try:
        logged = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        return False
    return isinstance(logged, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)) \
        and key.same_key(logged)


def verify_attestation_layer(raw: bytes, annotation: str | None, image_digest: str, key: VerificationKey, *,
                             predicate_type: str, require_tlog: bool,
                             trust: TrustRoot | None = None) -> Verdict:
    """A classic ``.att`` layer: the DSSE envelope ``raw`` (the blob's bytes) signed by ``key`` with an
    in-toto statement naming ``image_digest`` with ``predicate_type``; with ``require_tlog``, the
    layer's ``dev.sigstore.cosign/bundle`` ``annotation`` must hold a Rekor entry of this envelope and
    key with a SET from a log of ``trust``."""
    if require_tlog and trust is None:
        raise ValueError("require_tlog needs a trusted root")
    verdict = verify_envelope(raw, image_digest, key, predicate_type=predicate_type)
    if not verdict.ok or not require_tlog:
        return verdict
    assert trust is not None
    if not annotation:
        return missing_log("attestation")
    entry = parse_rekor_annotation(annotation)
    if isinstance(entry, Verdict):
        return entry
    envelope = parse_envelope(raw)
    assert isinstance(envelope, Envelope)  # it verified just above
    when = verify_log_entry(entry, envelope, key, trust, raw=raw)
    if isinstance(when, Verdict):
        return when
    return Verdict(True, "verified", verdict.reason, signer=verdict.signer, integrated_time=when)


def _short(e: BaseException) -> str:
    return str(e)[:200]
