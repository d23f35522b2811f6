"""COSE_Sign1 envelopes of Notary Project signatures (``application/cose``), decoded with bounds.

Notary Project's COSE envelope (signature-envelope-cose.md) is a ``COSE_Sign1_Tagged`` object
(RFC 9052, CBOR tag 18)::

    18([protected: bstr .cbor header_map, unprotected: header_map, payload: bstr, signature: bstr])

- the *protected* header (a CBOR map inside a byte string, signed as those exact bytes): ``alg`` (1)
  one of PS256/384/512 (-37/-38/-39) and ES256/384/512 (-7/-35/-36), ``crit`` (2), content type (3)
  ``application/vnd.cncf.notary.payload.v1+json``, ``io.cncf.notary.signingScheme``,
  ``io.cncf.notary.signingTime`` or ``io.cncf.notary.authenticSigningTime`` and the optional
  ``io.cncf.notary.expiry`` as CBOR epoch datetimes (tag 1);
- the *unprotected* header: ``x5chain`` (33), the DER certificates leaf first, and optionally
  ``io.cncf.notary.timestampSignature`` (an RFC 3161 token) and ``io.cncf.notary.signingAgent``;
- the signature is over ``Sig_structure = ["Signature1", protected, external_aad = h'', payload]``;
  an ECDSA signature is ``r || s``, as in JWS.

:func:`parse_cose` checks this shape and returns the parts with the protected header *normalized* to
JWS's names (``alg`` as ``"PS256"``…, ``crit``, ``cty``, string labels as they are), so
:mod:`gitops.verify.notation` applies one implementation of the header rules, the signature and chain
checks and the trust policy to both envelope formats. It does no cryptography itself.

Hostile input is bounded before and while decoding (``cbor2``, a maintained CBOR library written in
Rust): at most :data:`MAX_ENVELOPE_BYTES`, nesting at most :data:`MAX_DEPTH`, no indefinite-length
items, no duplicate map keys, nothing after the object, and none of the CBOR tags cbor2 would turn into
Python objects (bignums, decimal fractions and bigfloats — whose exponents can cost unbounded time —,
shared references, which make cycles, regular expressions, MIME messages…): the only tags accepted are
18 around the envelope and 1 for times, and only where the spec puts them. Every failure is a
:class:`CoseError` with a verdict code, never another exception.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cbor2

COSE_SIGN1_TAG = 18
EPOCH_TIME_TAG = 1
MAX_ENVELOPE_BYTES = 1024 * 1024
MAX_DEPTH = 16
MAX_HEADER_ENTRIES = 64
MAX_CHAIN = 10
LABEL_ALG, LABEL_CRIT, LABEL_CTY, LABEL_X5CHAIN = 1, 2, 3, 33
H_TIMESTAMP_SIGNATURE = "io.cncf.notary.timestampSignature"
# RFC 9053 / IANA COSE algorithms Notation signs with
ALGORITHMS: Mapping[int, str] = {-37: "PS256", -38: "PS384", -39: "PS512",
                                 -7: "ES256", -35: "ES384", -36: "ES512"}
_LABEL_NAMES: Mapping[int, str] = {LABEL_ALG: "alg", LABEL_CRIT: "crit", LABEL_CTY: "cty"}
# Every tag cbor2 decodes into a Python object (its "semantic decoders"). Overriding them makes cbor2
# hand us the tag for the two we read and refuse the rest, whatever the version's list.
_SEMANTIC_TAGS = (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 262,
                  263, 266, 1004, 1040, 55799)


class CoseError(ValueError):
    """Why an envelope is refused: ``code`` is a :class:`~gitops.verify.notation.NotationVerdict`
    code (``too-large``, ``malformed``), ``reason`` says what is wrong."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class CoseSign1:
    """A decoded COSE_Sign1 envelope: the bytes signed (the Sig_structure), the signature, the
    protected header normalized to JWS names, the payload, the chain (DER, leaf first) and whether an
    RFC 3161 countersignature is attached."""

    signed: bytes
    signature: bytes
    protected: Mapping[str, Any]
    payload: bytes
    chain: tuple[bytes, ...]
    has_timestamp: bool


class _RefusedTag(Exception):
    pass


def _refuse(tag: int) -> Callable[[Any, bool], Any]:
    def decode(value: Any, immutable: bool) -> Any:
        raise _RefusedTag(f"CBOR tag {tag} is not allowed in a Notation envelope")
    return decode


def _keep(tag: int) -> Callable[[Any, bool], Any]:
    def decode(value: Any, immutable: bool) -> Any:
        return cbor2.CBORTag(tag, value)
    return decode


_DECODERS: Mapping[int, Callable[[Any, bool], Any]] = {
    tag: _keep(tag) if tag == EPOCH_TIME_TAG else _refuse(tag) for tag in _SEMANTIC_TAGS}


def decode(data: bytes, what: str) -> Any:
    """One CBOR data item taking all of ``data``, decoded with the bounds above; CoseError otherwise."""
    stream = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(stream, semantic_decoders=_DECODERS, max_depth=MAX_DEPTH,
                                    allow_indefinite=False, allow_duplicate_keys=False)
        value = decoder.decode()
    except (cbor2.CBORError, _RefusedTag, ValueError, TypeError, OverflowError, RecursionError,
            MemoryError) as e:
        refused = e.__cause__ if isinstance(e.__cause__, _RefusedTag) else e
        raise CoseError("malformed", f"{what} is not valid CBOR: {str(refused)[:200]}") from None
    if stream.tell() != len(data):
        raise CoseError("malformed", f"{what} has {len(data) - stream.tell()} bytes after its CBOR item")
    return value


def parse_cose(envelope: bytes) -> CoseSign1:
    """A COSE_Sign1_Tagged envelope in Notation's shape, decoded (CoseError otherwise). The protected
    header's labels 1, 2 and 3 become ``alg`` (its name, e.g. ``"PS256"``, or ``"COSE algorithm N"``
    when Notation does not sign with it), ``crit`` and ``cty``; ``crit`` entries likewise; time headers
    stay tag-1 values for :func:`epoch_time`."""
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise CoseError("too-large", f"envelope of {len(envelope)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    item = decode(envelope, "the COSE envelope")
    if not isinstance(item, cbor2.CBORTag) or item.tag != COSE_SIGN1_TAG:
        found = f"tag {item.tag}" if isinstance(item, cbor2.CBORTag) else type(item).__name__
        raise CoseError("malformed", f"the envelope is not a COSE_Sign1_Tagged object (CBOR tag 18): {found}")
    parts = item.value
    if not isinstance(parts, Sequence) or isinstance(parts, (bytes, str)) or len(parts) != 4:
        raise CoseError("malformed", "COSE_Sign1 is an array of protected, unprotected, payload, signature")
    protected_raw, unprotected, payload, signature = parts
    if not isinstance(protected_raw, bytes) or not protected_raw:
        raise CoseError("malformed", "the protected header is not a non-empty byte string")
    if not isinstance(unprotected, Mapping) or len(unprotected) > MAX_HEADER_ENTRIES:
        raise CoseError("malformed", f"the unprotected header is not a map of at most {MAX_HEADER_ENTRIES} "
                                     "entries")
    if payload is None:
        raise CoseError("malformed", "a detached payload is not Notation's: the payload is in the envelope")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes) or not signature:
        raise CoseError("malformed", "the payload and the signature are byte strings")
    header = decode(protected_raw, "the protected header")
    if not isinstance(header, Mapping) or len(header) > MAX_HEADER_ENTRIES:
        raise CoseError("malformed", f"the protected header is not a map of at most {MAX_HEADER_ENTRIES} "
                                     "entries")
    protected = _normalize(header)
    for label in unprotected:
        if _label(label) in protected:
            raise CoseError("malformed", f"header {_label(label)!r} is in both the protected and the "
                                         "unprotected header")
    chain = _x5chain(unprotected.get(LABEL_X5CHAIN))
    signed = cbor2.dumps(["Signature1", protected_raw, b"", payload])
    return CoseSign1(signed, signature, protected, payload, chain,
                     has_timestamp=unprotected.get(H_TIMESTAMP_SIGNATURE) is not None)


def _label(label: Any) -> str:
    """A header label as notation.py names it: JWS's names for alg/crit/cty, other ints as
    ``COSE label N``, strings as they are."""
    if type(label) is int:
        return _LABEL_NAMES.get(label, f"COSE label {label}")
    if isinstance(label, str):
        return label
    raise CoseError("malformed", f"a header label is an integer or a text string, not {type(label).__name__}")


def _normalize(header: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, value in header.items():
        name = _label(label)
        if name in out:
            raise CoseError("malformed", f"header {name!r} appears twice (as a label and a name)")
        if name == "alg":
            value = ALGORITHMS.get(value, f"COSE algorithm {str(value)[:40]}") if type(value) is int \
                else f"COSE algorithm {str(value)[:40]!r}"
        elif name == "crit":
            if not isinstance(value, Sequence) or isinstance(value, (bytes, str)):
                raise CoseError("malformed", "crit must be an array of header labels")
            value = [_label(c) for c in value]
        out[name] = value
    return out


def _x5chain(value: Any) -> tuple[bytes, ...]:
    certs = [value] if isinstance(value, bytes) else value  # one certificate may stand alone (RFC 9360)
    if not isinstance(certs, Sequence) or isinstance(certs, str) or not 1 <= len(certs) <= MAX_CHAIN \
            or not all(isinstance(c, bytes) for c in certs):
        raise CoseError("malformed", f"the unprotected header's x5chain (33) must hold 1 to {MAX_CHAIN} DER "
                                     "certificates")
    return tuple(certs)


def epoch_time(value: Any) -> datetime | None:
    """A CBOR epoch datetime (tag 1 over an integer or a finite float of seconds) as an aware
    datetime, or None for anything else (an untagged number, a string, out of range)."""
    if not isinstance(value, cbor2.CBORTag) or value.tag != EPOCH_TIME_TAG:
        return None
    seconds = value.value
    if type(seconds) is not int and (type(seconds) is not float or not math.isfinite(seconds)):
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):
        return None
