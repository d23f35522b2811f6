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

Pure, no I/O: a failure is a :class:`~gitops.verify.cosign.Verdict`, never an exception. The
signature is verified before the statement is parsed, so untrusted JSON is read only once signed.
Keys and their algorithms are :mod:`gitops.verify.keys`' (ECDSA P-256/P-384, Ed25519, RSA).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops.verify.cosign import Verdict
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
    payload = _b64(payload_b64)
    if payload is None:
        return Verdict.reject("malformed", "the DSSE payload is not base64")
    if not isinstance(signatures, list) or not signatures:
        return Verdict.reject("unsigned", "the DSSE envelope has no signatures")
    raw_signatures: list[bytes] = []
    for entry in signatures[:MAX_SIGNATURES]:
        sig = entry.get("sig") if isinstance(entry, Mapping) else None
        decoded = _b64(sig) if isinstance(sig, str) and len(sig) <= 64 * 1024 else None
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


def unverified_log(has_entry: bool, what: str) -> Verdict:
    """The refusal when a policy requires the transparency log for a key-signed envelope (``what``: a
    ``bundle``, an ``attestation``): ``no-tlog`` without an entry; ``bad-tlog`` with one, because
    the log entries of key-signed DSSE envelopes (Rekor's ``dsse`` and ``intoto`` kinds) are not
    verified yet, and an entry that is not verified proves nothing (fail closed)."""
    if not has_entry:
        return Verdict.reject("no-tlog", f"transparency log required but the {what} has no transparency "
                                         "log entry (signed with --tlog-upload=false?)")
    return Verdict.reject("bad-tlog", f"transparency log required but the log entry of a key-signed {what} "
                                      "is not verified yet (only classic signatures' entries are): fails "
                                      "closed; set transparencyLog: false to accept it without the log")


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _short(e: BaseException) -> str:
    return str(e)[:200]
