"""Public keys for cosign's classic signatures: loaded from PEM, checked once, named by fingerprint.

Accepted, as cosign signs with them: ECDSA on P-256 (SHA-256) and P-384 (SHA-384, and SHA-256 as
cosign 2 used for every ECDSA key), Ed25519 (pure, over the payload), RSA of 2048 bits or more
(PKCS#1 v1.5 with SHA-256). Anything else (a short RSA key, P-521, secp256k1, DSA, a private key) is
refused when the key is loaded, with an :class:`~gitops.errors.InputError` naming the key's source:
a key is configuration, so a bad one stops the configuration from loading, not a sync at run time.

Verifying is pure: :meth:`VerificationKey.verifies` answers True or False, never raises for a bad
signature. The fingerprint is ``sha256:<hex>`` of the key's DER SubjectPublicKeyInfo (what
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
                self.key.verify(signature, data)
                return True
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
