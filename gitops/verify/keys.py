"""Public keys for cosign's signatures: loaded from PEM, checked once, named by fingerprint.

Accepted, as cosign signs with them: ECDSA on P-256 (SHA-256) and P-384 (SHA-384, and SHA-256 as
cosign 2 used for every ECDSA key), Ed25519 (pure, over the payload, as cosign 2 signed; or Ed25519ph,
RFC 8032's prehashed variant over SHA-512 of the payload, as cosign 3 signs with an Ed25519 key, in
both storage forms), RSA of 2048 bits or more (PKCS#1 v1.5 with SHA-256). Anything else (a short RSA
key, P-521, secp256k1, DSA, a private key) is refused when the key is loaded, with an
:class:`~gitops.errors.InputError` naming the key's source: a key is configuration, so a bad one
stops the configuration from loading, not a sync at run time.

Verifying is pure: :meth:`VerificationKey.verifies` answers True or False, never raises for a bad
signature. ``cryptography`` has no Ed25519ph, so :func:`ed25519ph_verifies` is RFC 8032's
verification (section 5.1.7, with its ``dom2`` prefix for ph) on Python integers: verification only,
over public data, so constant time does not matter; it checks ``[S]B - [k]A`` against ``R`` by its
encoding (cofactorless) and refuses ``S >= L``, as Go's crypto/ed25519 (cosign's verifier) does, and
a public key of small order (which verifies signatures nobody made); it is tested with RFC 8032's
Ed25519ph vector and with signatures by the real cosign. The domain separation of ``dom2`` means an
Ed25519ph signature is never a pure Ed25519 signature of another message, so accepting either is no
weaker than accepting one.

The fingerprint is ``sha256:<hex>`` of the key's DER SubjectPublicKeyInfo (what
``cosign public-key | openssl pkey -pubin -outform DER | sha256sum`` prints).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from gitops.errors import InputError

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

MIN_RSA_BITS = 2048
MAX_PEM_BYTES = 64 * 1024
_CURVE_HASHES: dict[str, tuple[hashes.HashAlgorithm, ...]] = {
    "secp256r1": (hashes.SHA256(),),
    "secp384r1": (hashes.SHA384(), hashes.SHA256()),
}


@dataclass(frozen=True)
class VerificationKey:
    """A public key we accept, with its fingerprint and a short description (``ecdsa-p256``)."""

    key: PublicKey
    fingerprint: str
    algorithm: str

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's signature over ``data`` (cosign's hash for the key)."""
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                try:
                    self.key.verify(signature, data)
                    return True
                except InvalidSignature:
                    raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                    return ed25519ph_verifies(raw, signature, data)
            if isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
                return True
            for algorithm in _CURVE_HASHES[self.key.curve.name]:
                try:
                    self.key.verify(signature, data, ec.ECDSA(algorithm))
                    return True
                except InvalidSignature:
                    continue
            return False
        except InvalidSignature:
            return False

    def same_key(self, other: PublicKey) -> bool:
        """Whether ``other`` is this very key (compared as DER SubjectPublicKeyInfo)."""
        return _der(other) == _der(self.key)


# ---- Ed25519ph (RFC 8032, section 5.1), verification only -------------------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_DOM2_PH = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])  # phflag 1, empty context
_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z


def _add(p: _Point, q: _Point) -> _Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _mul(scalar: int, point: _Point) -> _Point:
    result: _Point = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    return _P - x if (x & 1) != sign else x


def _decompress(data: bytes) -> _Point | None:
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _compress(point: _Point) -> bytes:
    z = pow(point[2], _P - 2, _P)
    x, y = point[0] * z % _P, point[1] * z % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_BASE_Y = 4 * pow(5, _P - 2, _P) % _P
_BASE_X = _recover_x(_BASE_Y, 0)
assert _BASE_X is not None
_BASE: _Point = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % _P)
_IDENTITY = (1).to_bytes(32, "little")


def ed25519ph_verifies(public: bytes, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` is an Ed25519ph signature (empty context) of ``data`` by the raw 32-byte
    Ed25519 key ``public``."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    s = int.from_bytes(signature[32:], "little")
    if a is None or s >= _L or _compress(_mul(8, a)) == _IDENTITY:  # no key of small order: anyone's key
        return False
    k = int.from_bytes(hashlib.sha512(_DOM2_PH + signature[:32] + public
                                      + hashlib.sha512(data).digest()).digest(), "little") % _L
    minus_a: _Point = (-a[0] % _P, a[1], a[2], -a[3] % _P)
    return _compress(_add(_mul(s, _BASE), _mul(k, minus_a))) == signature[:32]


def _der(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: PublicKey) -> str:
    """``sha256:<hex>`` of the key's DER SubjectPublicKeyInfo."""
    return "sha256:" + hashlib.sha256(_der(key)).hexdigest()


def accept_key(key: object, *, source: str = "<key>") -> VerificationKey:
    """Check that ``key`` is one we verify with; InputError (naming ``source``) when it is not."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return VerificationKey(key, fingerprint(key), "ed25519")
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = key.curve.name
        if curve not in _CURVE_HASHES:
            raise InputError(f"unsupported elliptic curve {curve}: cosign keys are P-256 or P-384",
                             file=source)
        return VerificationKey(key, fingerprint(key), "ecdsa-p" + curve[4:7])
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InputError(f"RSA key of {key.key_size} bits is too short: at least {MIN_RSA_BITS} bits",
                             file=source)
        return VerificationKey(key, fingerprint(key), f"rsa-{key.key_size}")
    raise InputError(f"unsupported public key type {type(key).__name__}: "
                     "ECDSA P-256/P-384, Ed25519 or RSA >= 2048 bits", file=source)


def load_public_key(pem: bytes | str, *, source: str = "<key>") -> VerificationKey:
    """A public key from PEM (``-----BEGIN PUBLIC KEY-----``, as ``cosign generate-key-pair`` writes).

    Raises InputError (with ``source`` as the file) for anything but one accepted public key.
    """
    data = pem.encode() if isinstance(pem, str) else pem
    if len(data) > MAX_PEM_BYTES:
        raise InputError(f"public key file is {len(data)} bytes, more than {MAX_PEM_BYTES}", file=source)
    if b"PRIVATE KEY" in data:
        raise InputError("this is a private key: give the public key (cosign.pub)", file=source)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise InputError(f"not a PEM public key: {e}", file=source) from e
    return accept_key(key, source=source)
