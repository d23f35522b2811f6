"""Notary Project (Notation) signatures, verified over bytes against a trust policy and trust store.

In a registry, a Notation signature of image ``repo@sha256:<hex>`` is an OCI manifest with
``artifactType`` (or config media type) ``application/vnd.cncf.notary.signature``, ``subject`` the
image, and one layer: the *signature envelope*, whose media type says its format —
``application/jose+json`` (JWS JSON serialization, flattened) or ``application/cose``
(COSE_Sign1_Tagged). The envelope signs a payload ``application/vnd.cncf.notary.payload.v1+json``::

    {"targetArtifact": {"mediaType": "...", "digest": "sha256:...", "size": 528}}

and carries signed attributes in its protected header (``cty``, ``io.cncf.notary.signingScheme``
``notary.x509`` or ``notary.x509.signingAuthority``, ``io.cncf.notary.signingTime`` or
``io.cncf.notary.authenticSigningTime``, the optional ``io.cncf.notary.expiry``, ``crit``) and the
certificate chain, leaf first, in the unprotected header (``x5c`` in JWS, ``x5chain`` in COSE).
:func:`parse_jws` and :func:`parse_cose` (over :mod:`gitops.verify.cose`) turn either format into the
same :class:`Envelope`; everything after parsing is one implementation for both.

This module does no network I/O: the registry client fetches the envelope, :func:`verify_notation`
judges it. :func:`load_trust_policy` and :func:`load_trust_store` read Notation's own files
(``trustpolicy.json``, the ``x509/<type>/<name>/`` directories) and raise
:class:`~gitops.errors.InputError` naming the file and field; every verification outcome is a
:class:`NotationVerdict` (a failure is a value with a precise reason, never an exception).

What is checked, per the trust policy's level (docs/verification-notation.md): *integrity* (the
envelope's shape, understood ``crit`` headers, the signature with the leaf's key, the chain's order
and certificate requirements), the payload's ``targetArtifact`` against the image (always),
*authenticity* (the chain ends in a certificate of one of the policy's trust stores, checked with
``cryptography.x509.verification`` at the signing time, and the leaf's subject matches a trusted
identity), *authenticTimestamp* (each certificate valid now — or at the authentic signing time of a
signing authority) and *expiry*. Not checked: revocation (OCSP/CRL) and RFC 3161 timestamp
countersignatures (reported as notes).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store
from cryptography.x509.verification import VerificationError as X509VerificationError
from pydantic import ValidationError

from gitops.config.verification import NotationTrustPolicy, NotationTrustPolicyDocument
from gitops.errors import InputError
from gitops.verify import cose
from gitops.verify.inputs import b64decode_strict, read_bounded
from gitops.verify.ocitypes import OCI_MANIFEST, Descriptor, ImageManifest

ENVELOPE_JWS = "application/jose+json"
ENVELOPE_COSE = "application/cose"
PAYLOAD_MEDIA_TYPE = "application/vnd.cncf.notary.payload.v1+json"
SIGNATURE_ARTIFACT_TYPE = "application/vnd.cncf.notary.signature"
THUMBPRINT_ANNOTATION = "io.cncf.notary.x509chain.thumbprint#S256"

H_SIGNING_SCHEME = "io.cncf.notary.signingScheme"
H_SIGNING_TIME = "io.cncf.notary.signingTime"
H_AUTHENTIC_SIGNING_TIME = "io.cncf.notary.authenticSigningTime"
H_EXPIRY = "io.cncf.notary.expiry"
H_VERIFICATION_PLUGIN = "io.cncf.notary.verificationPlugin"
H_VERIFICATION_PLUGIN_MIN = "io.cncf.notary.verificationPluginMinVersion"
H_TIMESTAMP_SIGNATURE = "io.cncf.notary.timestampSignature"
SCHEME_X509 = "notary.x509"
SCHEME_SIGNING_AUTHORITY = "notary.x509.signingAuthority"
UNDERSTOOD_CRITICAL = frozenset({H_SIGNING_SCHEME, H_AUTHENTIC_SIGNING_TIME, H_EXPIRY})

MAX_ENVELOPE_BYTES = cose.MAX_ENVELOPE_BYTES  # 1 MiB
MAX_POLICY_BYTES = 1024 * 1024
MAX_CERT_FILE_BYTES = 256 * 1024
MAX_STORE_FILES = 1000  # certificate files over the whole trust store directory
MAX_CHAIN = 10
MAX_HEADER_ENTRIES = 64

LEVELS: Mapping[str, Mapping[str, str]] = {
    "strict": {"integrity": "enforce", "authenticity": "enforce", "authenticTimestamp": "enforce",
               "expiry": "enforce", "revocation": "enforce"},
    "permissive": {"integrity": "enforce", "authenticity": "enforce", "authenticTimestamp": "log",
                   "expiry": "log", "revocation": "log"},
    "audit": {"integrity": "enforce", "authenticity": "log", "authenticTimestamp": "log",
              "expiry": "log", "revocation": "log"},
    "skip": {"integrity": "skip", "authenticity": "skip", "authenticTimestamp": "skip",
             "expiry": "skip", "revocation": "skip"},
}
STORE_TYPES = ("ca", "signingAuthority", "tsa")
_ACTIONS = ("enforce", "log", "skip")
_STORE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Notation's own checks of a registry scope (notation-go verifier/trustpolicy/oci.go)
_DOMAIN = re.compile(r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
                     r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?")
_REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_ALGORITHMS: Mapping[str, hashes.HashAlgorithm] = {
    "PS256": hashes.SHA256(), "PS384": hashes.SHA384(), "PS512": hashes.SHA512(),
    "ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512(),
}
_CURVE_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_RSA_ALG = {2048: "PS256", 3072: "PS384", 4096: "PS512"}
# the attribute names Go's pkix.Name.String() writes, which is what Notation parses a subject from
_DN_NAMES = {NameOID.COMMON_NAME: "CN", NameOID.LOCALITY_NAME: "L", NameOID.STATE_OR_PROVINCE_NAME: "ST",
             NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
             NameOID.COUNTRY_NAME: "C", NameOID.STREET_ADDRESS: "STREET", NameOID.POSTAL_CODE: "POSTALCODE",
             NameOID.SERIAL_NUMBER: "SERIALNUMBER"}
_FORBIDDEN_EKU = (ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, ExtendedKeyUsageOID.SERVER_AUTH,
                  ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION,
                  ExtendedKeyUsageOID.TIME_STAMPING)


@dataclass(frozen=True)
class NotationVerdict:
    """The outcome of one Notation verification: the fields of :class:`gitops.verify.cosign.Verdict`
    (``ok``, ``code``, ``reason``, ``signer`` — the leaf's subject DN —, ``issuer``,
    ``integrated_time``, always None here) and ``notes``: what was checked and only logged by the
    level, or not checked at all (revocation), ``trust_policy`` and ``level``."""

    ok: bool
    code: str
    reason: str
    signer: str | None = None
    issuer: str | None = None
    integrated_time: datetime | None = None
    notes: tuple[str, ...] = ()
    trust_policy: str | None = None
    level: str | None = None
    signing_time: datetime | None = None

    @classmethod
    def reject(cls, code: str, reason: str, *, signer: str | None = None, notes: Sequence[str] = (),
               trust_policy: str | None = None, level: str | None = None) -> NotationVerdict:
        return cls(False, code, reason, signer=signer, notes=tuple(notes), trust_policy=trust_policy,
                   level=level)

    def __bool__(self) -> bool:
        return self.ok


# ---- trust policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedIdentity:
    """``*`` (``attributes`` None) or an ``x509.subject:`` DN: the attributes all must match."""

    raw: str
    attributes: Mapping[str, str] | None

    def matches(self, subject: Mapping[str, str]) -> bool:
        return self.attributes is None or all(subject.get(k) == v for k, v in self.attributes.items())


@dataclass(frozen=True)
class TrustPolicy:
    """One checked ``trustPolicies[]`` entry: its scopes, the effective enforcement per check, the
    ``(type, name)`` trust stores and the trusted identities."""

    name: str
    registry_scopes: tuple[str, ...]
    level: str
    enforcement: Mapping[str, str]
    trust_stores: tuple[tuple[str, str], ...]
    trusted_identities: tuple[TrustedIdentity, ...]
    verify_timestamp: str = "always"


@dataclass(frozen=True)
class TrustPolicyDocument:
    """A checked trustpolicy.json: its policies, and where it came from (for messages)."""

    policies: tuple[TrustPolicy, ...]
    source: str = "<trust policy>"

    def applicable(self, repository: str) -> TrustPolicy | str:
        """The policy for ``registry/repository``: the one naming it exactly, else the ``*`` one;
        a message when none or more than one applies."""
        exact = [p for p in self.policies if repository in p.registry_scopes]
        wildcard = [p for p in self.policies if "*" in p.registry_scopes]
        for found in (exact, wildcard):
            if len(found) > 1:
                names = ", ".join(repr(p.name) for p in found)
                return f"trust policies {names} all apply to {repository!r}: a scope belongs to one policy"
            if found:
                return found[0]
        return f"no trust policy of {self.source} has {repository!r} or '*' in its registryScopes"


def load_trust_policy(path: str | os.PathLike[str]) -> TrustPolicyDocument:
    """Read and check a Notation trustpolicy.json (at most :data:`MAX_POLICY_BYTES`); InputError
    naming the file and the field for anything Notation itself would refuse."""
    raw = read_bounded(path, MAX_POLICY_BYTES, "trust policy")
    return parse_trust_policy(raw, source=str(path))


def parse_trust_policy(raw: bytes | str, *, source: str = "<trust policy>") -> TrustPolicyDocument:
    """A trustpolicy.json's text, checked (see :func:`load_trust_policy`)."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise InputError(f"trust policy is not JSON: {e}", file=source) from e
    try:
        model = NotationTrustPolicyDocument.model_validate(doc, by_alias=True, by_name=False)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = _loc(first["loc"])
        raise InputError(f"{where}: {first['msg']}" if where else first["msg"], file=source,
                         field=where or None) from None
    return from_model(model, source=source)


def from_model(model: NotationTrustPolicyDocument, *, source: str = "<trust policy>") -> TrustPolicyDocument:
    """The validated configuration model, checked as Notation checks a trust policy document."""
    policies = tuple(_policy(p, i, source) for i, p in enumerate(model.trust_policies))
    names: set[str] = set()
    owner: dict[str, str] = {}
    for i, policy in enumerate(policies):
        if policy.name in names:
            raise InputError(f"two trust policies are named {policy.name!r}", file=source,
                             field=f"trustPolicies[{i}].name")
        names.add(policy.name)
        for scope in policy.registry_scopes:
            if scope in owner:
                raise InputError(f"registry scope {scope!r} is in trust policies {owner[scope]!r} and "
                                 f"{policy.name!r}: a scope belongs to one policy", file=source,
                                 field=f"trustPolicies[{i}].registryScopes")
            owner[scope] = policy.name
    return TrustPolicyDocument(policies, source)


def _loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _policy(p: NotationTrustPolicy, i: int, source: str) -> TrustPolicy:
    at = f"trustPolicies[{i}]"

    def fail(where: str, message: str) -> InputError:
        return InputError(f"trust policy {p.name!r}: {message}", file=source, field=f"{at}.{where}")

    scopes = tuple(p.registry_scopes)
    if "*" in scopes and len(scopes) > 1:
        raise fail("registryScopes", "the wildcard scope '*' cannot be used with other scopes")
    for scope in scopes:
        if scope != "*" and not _valid_scope(scope):
            raise fail("registryScopes", f"scope {scope!r} is not '*' or a 'registry/repository' "
                                         "(no tag, digest or '*' within it)")
    sv = p.signature_verification
    unknown = set(sv) - {"level", "override", "verifyTimestamp"}
    if unknown:
        raise fail("signatureVerification", f"unknown fields {sorted(unknown)}")
    level = sv.get("level")
    if not isinstance(level, str) or level not in LEVELS:
        raise fail("signatureVerification.level", f"level {level!r} is not one of {list(LEVELS)}")
    enforcement = dict(LEVELS[level])
    override = sv.get("override", {})
    if not isinstance(override, dict):
        raise fail("signatureVerification.override", "must map a check to enforce, log or skip")
    if override and level == "skip":
        raise fail("signatureVerification.override", "the skip level cannot be customized")
    for check, action in override.items():
        if check not in enforcement:
            raise fail("signatureVerification.override", f"unknown check {check!r}")
        if action not in _ACTIONS:
            raise fail("signatureVerification.override", f"action {action!r} for {check} is not one of "
                                                         f"{list(_ACTIONS)}")
        if check == "integrity":
            raise fail("signatureVerification.override", "integrity cannot be overridden")
        if action == "skip" and check != "revocation":
            raise fail("signatureVerification.override", f"{check} cannot be skipped (only revocation)")
        enforcement[check] = action
    verify_timestamp = sv.get("verifyTimestamp", "always")
    if verify_timestamp not in ("always", "afterCertExpiry"):
        raise fail("signatureVerification.verifyTimestamp", "must be 'always' or 'afterCertExpiry'")
    stores = []
    for store in p.trust_stores:
        kind, colon, name = store.partition(":")
        if not colon or kind not in STORE_TYPES or not _STORE_NAME.fullmatch(name):
            raise fail("trustStores", f"{store!r} is not TYPE:NAME with TYPE one of {list(STORE_TYPES)} "
                                      "and NAME of letters, digits, '_', '.' and '-'")
        stores.append((kind, name))
    identities = []
    for raw in p.trusted_identities:
        if raw == "*":
            identities.append(TrustedIdentity(raw, None))
            continue
        prefix, colon, value = raw.partition(":")
        if prefix != "x509.subject" or not colon:
            raise fail("trustedIdentities", f"{raw!r} is not '*' or 'x509.subject:<DN>' (other identity "
                                            "kinds belong to plugins, which are not supported)")
        try:
            identities.append(TrustedIdentity(raw, parse_dn(value.strip())))
        except ValueError as e:
            raise fail("trustedIdentities", f"{raw!r}: {e}") from None
    if len(identities) > 1 and any(t.attributes is None for t in identities):
        raise fail("trustedIdentities", "the wildcard identity '*' cannot be used with other identities")
    for a in identities:
        for b in identities:
            if a is not b and a.attributes is not None and b.attributes is not None \
                    and all(b.attributes.get(k) == v for k, v in a.attributes.items()):
                raise fail("trustedIdentities", f"{a.raw!r} overlaps with {b.raw!r}")
    if level == "skip" and (stores or identities):
        raise fail("signatureVerification.level", "skip verifies nothing: remove trustStores and "
                                                  "trustedIdentities")
    if level != "skip" and (not stores or not identities):
        raise fail("trustStores", "a policy that verifies needs both trustStores and trustedIdentities")
    return TrustPolicy(p.name, scopes, level, enforcement, tuple(stores), tuple(identities), verify_timestamp)


def _valid_scope(scope: str) -> bool:
    domain, slash, repository = scope.partition("/")
    return (bool(slash) and _DOMAIN.fullmatch(domain) is not None
            and _REPOSITORY.fullmatch(repository) is not None)


def parse_dn(text: str) -> dict[str, str]:
    """An RFC 4514 distinguished name as Notation reads a trusted identity: single-valued RDNs, no
    attribute twice (``S`` is ``ST``), ``C``, ``ST`` and ``O`` required, no ``=#`` hex values.
    ValueError says what is wrong."""
    if "=#" in text:
        raise ValueError("hex-encoded values ('=#') are not supported")
    attributes: dict[str, str] = {}
    for rdn in _split_dn(text):
        name, eq, value = rdn.partition("=")
        name = name.strip()
        if not eq or not name or not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+", name):
            raise ValueError(f"{rdn.strip()!r} is not ATTRIBUTE=VALUE")
        name = "ST" if name.upper() == "S" else name.upper() if name.isalpha() else name
        if name in attributes:
            raise ValueError(f"attribute {name} appears twice")
        attributes[name] = _unescape(value.strip())
    missing = [k for k in ("C", "ST", "O") if not attributes.get(k)]
    if missing:
        raise ValueError(f"a trusted identity needs C, ST (or S) and O attributes; missing {missing}")
    return attributes


def _split_dn(text: str) -> list[str]:
    parts, current, escaped = [], "", False
    for ch in text:
        if escaped:
            current += "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "+":
            raise ValueError("multi-valued RDNs ('+') are not supported")
        elif ch == ",":
            parts.append(current)
            current = ""
        else:
            current += ch
    if escaped:
        raise ValueError("ends with a lone '\\'")
    parts.append(current)
    return parts


def _unescape(value: str) -> str:
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            pair = value[i + 1:i + 3]
            if re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out += value[i + 1].encode()
            i += 2
            continue
        out += ch.encode()
        i += 1
    try:
        return out.decode()
    except UnicodeDecodeError:
        raise ValueError("an escaped value is not UTF-8") from None


def subject_attributes(cert: x509.Certificate) -> dict[str, str] | str:
    """The leaf's subject as Notation compares it (Go's attribute names), or why it cannot be."""
    attributes: dict[str, str] = {}
    for rdn in cert.subject.rdns:
        if len(rdn) > 1:
            return "the certificate subject has a multi-valued RDN"
        for attribute in rdn:
            name = _DN_NAMES.get(attribute.oid, attribute.oid.dotted_string)
            if name in attributes:
                return f"the certificate subject has attribute {name} twice"
            attributes[name] = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
    return attributes


# ---- trust store --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustStores:
    """Named stores of trusted certificates: ``(type, name)`` → certificates."""

    stores: Mapping[tuple[str, str], tuple[x509.Certificate, ...]] = field(default_factory=dict)
    source: str = "<trust store>"

    def get(self, kind: str, name: str) -> tuple[x509.Certificate, ...] | None:
        return self.stores.get((kind, name))


def load_trust_store(directory: str | os.PathLike[str]) -> TrustStores:
    """The named stores under ``directory/x509/<ca|signingAuthority|tsa>/<name>/``: each holding
    certificate files (PEM, one or more certificates, or DER), as ``notation cert add`` lays them out.
    A symlink inside it (the directory itself may be one), a nested directory, an unreadable or empty
    file or store, a ``ca`` or ``signingAuthority`` certificate that is neither a CA nor self-signed,
    more than :data:`MAX_STORE_FILES` files or a file over :data:`MAX_CERT_FILE_BYTES` is an
    InputError naming the path. A type directory that is absent holds no stores."""
    root = Path(directory)
    source = str(root)
    x509_dir = root / "x509"
    if not root.is_dir() or not _is_real_dir(x509_dir):  # the configured path itself may be a link
        raise InputError("a Notation trust store is a directory with an x509/ directory in it (no symlinks)",
                         file=source)
    stores: dict[tuple[str, str], tuple[x509.Certificate, ...]] = {}
    count = 0
    for kind in STORE_TYPES:
        kind_dir = x509_dir / kind
        if not os.path.lexists(kind_dir):
            continue
        if not _is_real_dir(kind_dir):
            raise InputError("not a directory (symlinks are not followed)", file=str(kind_dir))
        for store_dir in sorted(kind_dir.iterdir()):
            if not _is_real_dir(store_dir) or not _STORE_NAME.fullmatch(store_dir.name):
                raise InputError("a named store is a directory named with letters, digits, '_', '.' "
                                 "and '-' (symlinks are not followed)", file=str(store_dir))
            certs: list[x509.Certificate] = []
            for entry in sorted(store_dir.iterdir()):
                count += 1
                if count > MAX_STORE_FILES:
                    raise InputError(f"more than {MAX_STORE_FILES} certificate files", file=source)
                certs.extend(_read_certificates(entry, ca_only=kind != "tsa"))
            if not certs:
                raise InputError("the trust store holds no certificate", file=str(store_dir))
            stores[(kind, store_dir.name)] = tuple(certs)
    return TrustStores(stores, source)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _read_certificates(path: Path, *, ca_only: bool) -> list[x509.Certificate]:
    where = str(path)  # a trust store holds certificate files only
    data = read_bounded(path, MAX_CERT_FILE_BYTES, "certificate file", regular_only=True)
    try:
        certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                 else [x509.load_der_x509_certificate(data)])
    except ValueError as e:
        raise InputError(f"not a PEM or DER X.509 certificate: {e}", file=where) from e
    for cert in certs:
        if ca_only and not (_is_ca(cert) or _self_signed(cert)):
            raise InputError(f"{cert.subject.rfc4514_string()!r} is neither a CA nor self-signed: a ca or "
                             "signingAuthority store holds roots", file=where)
    return certs


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return False


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


# ---- envelope -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope: what was signed (``signed``), the signature, the headers and the chain."""

    signed: bytes
    signature: bytes
    algorithm: str
    protected: Mapping[str, Any]
    payload: bytes
    chain: tuple[x509.Certificate, ...]
    scheme: str
    signing_time: datetime
    expiry: datetime | None
    has_timestamp: bool


def parse_jws(envelope: bytes) -> Envelope | NotationVerdict:
    """A JWS JSON (flattened) envelope in Notation's shape, or a rejecting verdict."""
    if len(envelope) > MAX_ENVELOPE_BYTES:
        return NotationVerdict.reject("too-large", f"envelope of {len(envelope)} bytes exceeds "
                                                   f"{MAX_ENVELOPE_BYTES}")
    try:
        doc = json.loads(envelope)
    except (ValueError, RecursionError) as e:
        return NotationVerdict.reject("malformed", f"JWS envelope is not JSON: {e}")
    if not isinstance(doc, dict):
        return NotationVerdict.reject("malformed", "JWS envelope is not a JSON object")
    if "signatures" in doc:
        return NotationVerdict.reject("malformed", "general JWS JSON serialization (several signatures) "
                                                   "is not Notation's: one flattened signature")
    protected_b64, payload_b64, signature_b64 = doc.get("protected"), doc.get("payload"), doc.get("signature")
    header = doc.get("header")
    if not (isinstance(protected_b64, str) and isinstance(payload_b64, str)
            and isinstance(signature_b64, str) and isinstance(header, dict)):
        return NotationVerdict.reject("malformed", "JWS envelope needs string protected, payload and "
                                                   "signature and an object header")
    protected_raw, payload, signature = (_b64url(protected_b64), _b64url(payload_b64),
                                         _b64url(signature_b64))
    if protected_raw is None or payload is None or not signature:
        return NotationVerdict.reject("malformed", "protected, payload or signature is not unpadded "
                                                   "base64url")
    try:
        protected = json.loads(protected_raw)
    except (ValueError, RecursionError) as e:
        return NotationVerdict.reject("malformed", f"protected header is not JSON: {e}")
    if not isinstance(protected, dict) or len(protected) > MAX_HEADER_ENTRIES:
        return NotationVerdict.reject("malformed", "protected header is not a JSON object of at most "
                                                   f"{MAX_HEADER_ENTRIES} entries")
    signed = (protected_b64 + "." + payload_b64).encode()
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not 1 <= len(x5c) <= MAX_CHAIN \
            or not all(isinstance(c, str) for c in x5c):
        return NotationVerdict.reject("malformed", f"unprotected header x5c must list 1 to {MAX_CHAIN} "
                                                   "base64 certificates")
    ders = []
    for i, text in enumerate(x5c):
        der = b64decode_strict(text)
        if der is None:
            return NotationVerdict.reject("malformed", f"x5c[{i}] is not base64")
        ders.append(der)
    chain = _certificates(ders)
    if isinstance(chain, NotationVerdict):
        return chain
    return _headers(protected, signed, signature, payload, chain,
                    has_timestamp=header.get(H_TIMESTAMP_SIGNATURE) is not None,
                    time_of=_rfc3339, time_format="an RFC 3339 time with a zone")


def parse_cose(envelope: bytes) -> Envelope | NotationVerdict:
    """A COSE_Sign1_Tagged envelope in Notation's shape (decoded by :func:`gitops.verify.cose.parse_cose`,
    its protected header then checked by the same rules as JWS's), or a rejecting verdict."""
    try:
        sign1 = cose.parse_cose(envelope)
    except cose.CoseError as e:
        return NotationVerdict.reject(e.code, e.reason)
    chain = _certificates(sign1.chain)
    if isinstance(chain, NotationVerdict):
        return chain
    return _headers(sign1.protected, sign1.signed, sign1.signature, sign1.payload, chain,
                    has_timestamp=sign1.has_timestamp, time_of=cose.epoch_time,
                    time_format="a CBOR epoch datetime (tag 1)")


def _certificates(ders: Sequence[bytes]) -> tuple[x509.Certificate, ...] | NotationVerdict:
    chain = []
    for i, der in enumerate(ders):
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except (ValueError, x509.InvalidVersion) as e:  # InvalidVersion is not a ValueError
            return NotationVerdict.reject("bad-certificate", f"x5c[{i}] is not a DER certificate: {e}")
    return tuple(chain)


def _headers(protected: Mapping[str, Any], signed: bytes, signature: bytes, payload: bytes,
             chain: tuple[x509.Certificate, ...], *, has_timestamp: bool,
             time_of: Callable[[Any], datetime | None], time_format: str) -> Envelope | NotationVerdict:
    """The protected header's rules, one implementation for both formats: ``protected`` uses JWS's
    names (COSE's labels are normalized by :mod:`gitops.verify.cose`), ``time_of`` reads a time
    header in the format's encoding."""
    def bad(message: str) -> NotationVerdict:
        return NotationVerdict.reject("malformed", message)

    alg = protected.get("alg")
    if not isinstance(alg, str) or alg not in _ALGORITHMS:
        return NotationVerdict.reject("unsupported-algorithm", f"alg {str(alg)[:40]!r} is not one of "
                                                                f"{sorted(_ALGORITHMS)}")
    if protected.get("cty") != PAYLOAD_MEDIA_TYPE:
        return bad(f"cty {str(protected.get('cty'))[:80]!r} is not {PAYLOAD_MEDIA_TYPE}")
    crit = protected.get("crit")
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit) \
            or len(set(crit)) != len(crit):
        return bad("crit must be a non-empty list of distinct header names")
    for name in crit:
        if name not in protected:
            return bad(f"crit names {name[:80]!r}, which the protected header does not have")
        if name in (H_VERIFICATION_PLUGIN, H_VERIFICATION_PLUGIN_MIN):
            return NotationVerdict.reject("unknown-critical-header", f"the signature requires verification "
                                          f"plugin {str(protected.get(H_VERIFICATION_PLUGIN))[:80]!r}: "
                                          "plugins are not supported")
        if name not in UNDERSTOOD_CRITICAL:
            return NotationVerdict.reject("unknown-critical-header",
                                          f"critical header {name[:80]!r} is not understood")
    scheme = protected.get(H_SIGNING_SCHEME)
    if scheme not in (SCHEME_X509, SCHEME_SIGNING_AUTHORITY):
        return bad(f"signing scheme {str(scheme)[:80]!r} is not {SCHEME_X509} or {SCHEME_SIGNING_AUTHORITY}")
    present = [h for h in (H_EXPIRY, H_AUTHENTIC_SIGNING_TIME) if h in protected]
    for name in [H_SIGNING_SCHEME, *present]:
        if name not in crit:
            return bad(f"header {name} is present but not listed in crit")
    time_header, other = ((H_SIGNING_TIME, H_AUTHENTIC_SIGNING_TIME) if scheme == SCHEME_X509
                          else (H_AUTHENTIC_SIGNING_TIME, H_SIGNING_TIME))
    if other in protected:
        return bad(f"{other} does not belong to the {scheme} scheme")
    signing_time = time_of(protected.get(time_header))
    if signing_time is None:
        return bad(f"{time_header} is missing or not {time_format}")
    expiry = None
    if H_EXPIRY in protected:
        expiry = time_of(protected[H_EXPIRY])
        if expiry is None:
            return bad(f"{H_EXPIRY} is not {time_format}")
    return Envelope(signed, signature, alg, protected, payload, chain, scheme, signing_time, expiry,
                    has_timestamp)


def _rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64 or "T" not in value.upper():
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _b64url(text: str) -> bytes | None:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def signature_layer(manifest: ImageManifest, image_digest: str) -> Descriptor | NotationVerdict:
    """The envelope's descriptor in a Notation signature manifest (found through the referrers of
    ``image_digest``), or why the manifest is not a Notation signature of that image: an OCI manifest
    whose ``artifactType`` (or, without one, ``config.mediaType``) is
    :data:`SIGNATURE_ARTIFACT_TYPE`, whose ``subject`` is the image and with exactly one layer of an
    envelope media type. The caller fetches that blob (its digest checked) for :func:`verify_notation`."""
    kind = manifest.artifact_type or manifest.config.media_type
    if manifest.media_type != OCI_MANIFEST or kind != SIGNATURE_ARTIFACT_TYPE:
        return NotationVerdict.reject("not-a-signature", f"manifest of type {str(kind)[:100]!r} is not a "
                                                         "Notation signature")
    if manifest.subject is None or manifest.subject.digest != image_digest:
        found = manifest.subject.digest if manifest.subject is not None else "nothing"
        return NotationVerdict.reject("digest-mismatch", f"the signature manifest's subject is {found}, "
                                                         f"not the image {image_digest}")
    if len(manifest.layers) != 1:
        return NotationVerdict.reject("malformed", f"a Notation signature manifest has one layer, not "
                                                   f"{len(manifest.layers)}")
    layer = manifest.layers[0]
    if layer.media_type not in (ENVELOPE_JWS, ENVELOPE_COSE):
        return NotationVerdict.reject("unsupported-envelope",
                                      f"envelope media type {layer.media_type[:100]!r} is not "
                                      f"{ENVELOPE_JWS} or {ENVELOPE_COSE}")
    if layer.size > MAX_ENVELOPE_BYTES:
        return NotationVerdict.reject("too-large",
                                      f"envelope of {layer.size} bytes exceeds {MAX_ENVELOPE_BYTES}")
    return layer


# ---- verification -------------------------------------------------------------------------------


class _Checks:
    """Collects the outcome of each check under the level's action: a failure of an enforced check
    is the verdict; of a logged one, a note."""

    def __init__(self, policy: TrustPolicy) -> None:
        self.policy = policy
        self.notes: list[str] = []

    def fail(self, check: str, code: str, reason: str, *,
             signer: str | None = None) -> NotationVerdict | None:
        action = self.policy.enforcement[check]
        if action == "enforce":
            return NotationVerdict.reject(code, reason, signer=signer, notes=self.notes,
                                          trust_policy=self.policy.name, level=self.policy.level)
        if action == "log":
            self.notes.append(f"{check} not enforced ({self.policy.level}): {reason}")
        return None


def verify_notation(envelope: bytes, media_type: str, image_ref: str, image_digest: str,
                    trust_policy_doc: TrustPolicyDocument | NotationTrustPolicyDocument,
                    trust_stores: TrustStores, *, now: datetime,
                    image_media_type: str | None = None) -> NotationVerdict:
    """One Notation signature envelope (the signature manifest's layer, of ``media_type``) for the
    image ``image_ref`` (``registry/repository``; a tag or digest on it is ignored) at
    ``image_digest``, judged by the trust policy whose ``registryScopes`` name the repository, at
    ``now`` (timezone-aware). Never raises for hostile input."""
    if not _DIGEST.fullmatch(image_digest):
        raise ValueError(f"image digest {image_digest!r} is not sha256:<hex> or sha512:<hex>")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if isinstance(trust_policy_doc, NotationTrustPolicyDocument):
        try:
            trust_policy_doc = from_model(trust_policy_doc)
        except InputError as e:
            return NotationVerdict.reject("policy-error", f"the trust policy is not valid: {e}")
    repository = _repository(image_ref)
    policy = trust_policy_doc.applicable(repository)
    if isinstance(policy, str):
        return NotationVerdict.reject("no-policy" if policy.startswith("no ") else "policy-error", policy)
    if policy.level == "skip":
        return NotationVerdict(True, "skipped", f"trust policy {policy.name!r} skips verification for "
                               f"{repository}", notes=("signature verification skipped by the trust policy",),
                               trust_policy=policy.name, level="skip")
    try:
        return _verify(envelope, media_type, image_digest, image_media_type, policy, trust_stores, now)
    except (ValueError, TypeError, UnsupportedAlgorithm, RecursionError, OverflowError) as e:
        # a hostile certificate or header that slipped past the checks: refuse, never crash
        return NotationVerdict.reject("malformed", f"the signature could not be processed: {e!r}"[:500],
                                      trust_policy=policy.name, level=policy.level)


def _repository(image_ref: str) -> str:
    name = image_ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _verify(envelope: bytes, media_type: str, image_digest: str, image_media_type: str | None,
            policy: TrustPolicy, trust_stores: TrustStores, now: datetime) -> NotationVerdict:
    checks = _Checks(policy)

    def reject(code: str, reason: str, signer: str | None = None) -> NotationVerdict:
        return NotationVerdict.reject(code, reason, signer=signer, notes=checks.notes,
                                      trust_policy=policy.name, level=policy.level)

    # integrity (never relaxed below skip)
    if media_type == ENVELOPE_JWS:
        parsed = parse_jws(envelope)
    elif media_type == ENVELOPE_COSE:
        parsed = parse_cose(envelope)
    else:
        return reject("unsupported-envelope", f"envelope media type {media_type[:100]!r} is not "
                                              f"{ENVELOPE_JWS} or {ENVELOPE_COSE}")
    if isinstance(parsed, NotationVerdict):
        return reject(parsed.code, parsed.reason)
    leaf = parsed.chain[0]
    signer = leaf.subject.rfc4514_string()
    problem = _check_key_and_signature(parsed, leaf)
    if problem is not None:
        return reject(problem[0], problem[1], signer)
    shape = _check_chain_shape(parsed.chain)
    if shape is not None:
        return reject("bad-certificate", shape, signer)
    claimed = _target(parsed.payload)
    if isinstance(claimed, str):
        return reject("bad-payload", claimed, signer)
    digest, target_type = claimed
    if digest != image_digest:
        return reject("digest-mismatch", f"the signature is for {digest}, not the image {image_digest}",
                      signer)
    if image_media_type is not None and target_type != image_media_type:
        return reject("media-type-mismatch", f"the signature is for a {target_type[:100]!r}, the image is "
                                             f"a {image_media_type!r}", signer)
    # authenticity: the chain ends in a trusted certificate at the signing time; a trusted identity
    store_kind = "ca" if parsed.scheme == SCHEME_X509 else "signingAuthority"
    problem = _check_trust(parsed, policy, trust_stores, store_kind)
    if problem is not None:
        failed = checks.fail("authenticity", problem[0], problem[1], signer=signer)
        if failed is not None:
            return failed
    if problem is None:
        subject = subject_attributes(leaf)
        mismatch: str | None
        if isinstance(subject, str):
            mismatch = subject
        elif any(identity.matches(subject) for identity in policy.trusted_identities):
            mismatch = None
        else:
            mismatch = (f"signer {signer!r} is none of the trusted identities "
                        f"{[i.raw for i in policy.trusted_identities]}")
        if mismatch is not None:
            failed = checks.fail("authenticity", "identity-mismatch", mismatch, signer=signer)
            if failed is not None:
                return failed
    # authenticTimestamp: without a verified timestamp, every certificate must be valid now; a signing
    # authority's signing time is authentic, so its chain must have been valid then
    when, what = ((now, "now") if parsed.scheme == SCHEME_X509 else
                  (parsed.signing_time, f"at the authentic signing time {parsed.signing_time.isoformat()}"))
    for cert in parsed.chain:
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            reason = (f"certificate {cert.subject.rfc4514_string()!r} (valid "
                      f"{cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()}) "
                      f"is not valid {what}")
            failed = checks.fail("authenticTimestamp", "certificate-expired", reason, signer=signer)
            if failed is not None:
                return failed
            break
    if parsed.has_timestamp:
        checks.notes.append("the RFC 3161 timestamp countersignature is not verified: certificate "
                            "validity is judged at the verification time")
    # expiry
    if parsed.expiry is not None and now >= parsed.expiry:
        reason = f"the signature expired at {parsed.expiry.isoformat()}"
        failed = checks.fail("expiry", "expired", reason, signer=signer)
        if failed is not None:
            return failed
    logged = "".join(f"; {note}" for note in checks.notes if " not enforced (" in note)
    if policy.enforcement["revocation"] != "skip":
        checks.notes.append("revocation (OCSP/CRL) is not checked")
    return NotationVerdict(True, "verified", f"signed by {signer} (trust policy {policy.name!r}, "
                                             f"level {policy.level}){logged}", signer=signer,
                           notes=tuple(checks.notes), trust_policy=policy.name, level=policy.level,
                           signing_time=parsed.signing_time)


def _check_key_and_signature(env: Envelope, leaf: x509.Certificate) -> tuple[str, str] | None:
    try:
        key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        return "bad-certificate", f"the signing certificate's key is unusable: {e}"
    if isinstance(key, rsa.RSAPublicKey):
        expected = _RSA_ALG.get(key.key_size)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        expected = _CURVE_ALG.get(key.curve.name)
    else:
        expected = None
    if expected is None:
        return "unsupported-algorithm", ("the signing key is not RSA 2048/3072/4096 or ECDSA P-256/384/521: "
                                         f"{type(key).__name__}")
    if env.algorithm != expected:
        return "unsupported-algorithm", f"alg {env.algorithm} does not match the signing key ({expected})"
    digest = _ALGORITHMS[env.algorithm]
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(padding.MGF1(digest), digest.digest_size)
            key.verify(env.signature, env.signed, pss, digest)
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey)
            size = (key.curve.key_size + 7) // 8
            if len(env.signature) != 2 * size:
                return "bad-signature", f"an {env.algorithm} signature is {2 * size} bytes (r || s)"
            r = int.from_bytes(env.signature[:size], "big")
            s = int.from_bytes(env.signature[size:], "big")
            key.verify(utils.encode_dss_signature(r, s), env.signed, ec.ECDSA(digest))
    except InvalidSignature:
        return "bad-signature", "the signature does not verify with the signing certificate's key"
    return None


def _check_chain_shape(chain: Sequence[x509.Certificate]) -> str | None:
    """Notation's certificate requirements: ordered leaf to root, each issued by the next, the last
    self-signed; CAs with critical basicConstraints cA and keyCertSign; the leaf with a critical
    digitalSignature key usage and no usage beyond code signing."""
    for i, cert in enumerate(chain):
        issuer = chain[i + 1] if i + 1 < len(chain) else cert
        if cert.issuer != issuer.subject:
            return f"x5c[{i}] is not issued by x5c[{i + 1}]: the chain must be ordered leaf to root" \
                if i + 1 < len(chain) else "the chain does not end in a self-signed root"
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as e:
            by = f"x5c[{i + 1}]" if i + 1 < len(chain) else "itself"
            return f"x5c[{i}] is not signed by {by}: {e}"
    for i, cert in enumerate(chain):
        try:
            ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        except x509.ExtensionNotFound:
            return f"x5c[{i}] has no keyUsage extension"
        if not ku.critical:
            return f"x5c[{i}]'s keyUsage is not critical"
        if i == 0:
            if not ku.value.digital_signature:
                return "the signing certificate's keyUsage lacks digitalSignature"
            if ku.value.key_encipherment or ku.value.data_encipherment or ku.value.key_agreement \
                    or ku.value.key_cert_sign or ku.value.crl_sign:
                return "the signing certificate's keyUsage allows more than signing"
            try:
                if _is_ca(cert) and len(chain) > 1:
                    return "the signing certificate is a CA"
                eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
                bad = [o.dotted_string for o in _FORBIDDEN_EKU if o in eku]
                if bad:
                    return f"the signing certificate's extended key usage includes {bad}"
            except x509.ExtensionNotFound:
                pass
        else:
            try:
                bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
            except x509.ExtensionNotFound:
                return f"x5c[{i}] is a CA without basicConstraints"
            if not bc.critical or not bc.value.ca:
                return f"x5c[{i}]'s basicConstraints is not critical with cA true"
            if not ku.value.key_cert_sign:
                return f"x5c[{i}]'s keyUsage lacks keyCertSign"
    return None


def _check_trust(env: Envelope, policy: TrustPolicy, trust_stores: TrustStores,
                 kind: str) -> tuple[str, str] | None:
    anchors: list[x509.Certificate] = []
    named = [name for k, name in policy.trust_stores if k == kind]
    if not named:
        return "untrusted", (f"trust policy {policy.name!r} names no {kind} trust store, which a "
                             f"{env.scheme} signature needs")
    for name in named:
        certs = trust_stores.get(kind, name)
        if certs is None:
            return "no-trust-store", f"trust store {kind}:{name} is not in {trust_stores.source}"
        anchors.extend(certs)
    ca_policy = (ExtensionPolicy.permit_all()
                 .require_present(x509.BasicConstraints, Criticality.CRITICAL, None)
                 .require_present(x509.KeyUsage, Criticality.CRITICAL, None))
    ee_policy = ExtensionPolicy.permit_all().require_present(x509.KeyUsage, Criticality.CRITICAL, None)
    verifier = (PolicyBuilder().store(Store(anchors)).time(env.signing_time)
                .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy).build_client_verifier())
    try:
        verifier.verify(env.chain[0], list(env.chain[1:]))
    except X509VerificationError as e:
        stores = ", ".join(f"{kind}:{n}" for n in named)
        return "untrusted", (f"the certificate chain does not lead to a certificate of trust store(s) "
                             f"{stores} at the signing time {env.signing_time.isoformat()}: {e}")
    return None


def _target(payload: bytes) -> tuple[str, str] | str:
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as e:
        return f"payload is not JSON: {e}"
    target = doc.get("targetArtifact") if isinstance(doc, dict) else None
    if not isinstance(target, dict):
        return "payload has no targetArtifact object"
    digest, media, size = target.get("digest"), target.get("mediaType"), target.get("size")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        return "targetArtifact.digest is not a sha256 or sha512 digest"
    if not isinstance(media, str) or not media:
        return "targetArtifact.mediaType is not a string"
    if type(size) is not int or size < 0:
        return "targetArtifact.size is not a non-negative integer"
    return digest, media
