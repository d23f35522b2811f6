"""Notation signatures: real envelopes from notation-go (data/notation/README.md) and chains made here.

JWS envelopes and COSE_Sign1 envelopes (encoded here with cbor2) go through the same checks; hostile
CBOR is a verdict, never an exception. Signatures made by notation-go itself, pushed to a registry, are
in test_notation_tool.py."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitops.config.verification import NotationTrustPolicyDocument
from gitops.errors import InputError
from gitops.verify import cose
from gitops.verify.notation import (
    ENVELOPE_COSE,
    ENVELOPE_JWS,
    MAX_ENVELOPE_BYTES,
    PAYLOAD_MEDIA_TYPE,
    NotationVerdict,
    TrustPolicyDocument,
    TrustStores,
    load_trust_policy,
    load_trust_store,
    parse_dn,
    parse_trust_policy,
    signature_layer,
    verify_notation,
)
from gitops.verify.ocitypes import ImageManifest, parse_manifest

DATA = Path(__file__).parent / "data" / "notation"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
MOCK_DIGEST = "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e"
ALPINE_DIGEST = "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda"
COSE_DIGEST = "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0"
DIGEST = "sha256:" + "ab" * 32
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def real(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture(scope="module")
def policy() -> TrustPolicyDocument:
    return load_trust_policy(DATA / "trustpolicy.json")


@pytest.fixture(scope="module")
def stores() -> TrustStores:
    return load_trust_store(DATA / "truststore")


def policy_doc(level: str = "strict", *, scopes: list[str] | None = None, stores: list[str] | None = None,
               identities: list[str] | None = None, override: dict[str, str] | None = None,
               extra: list[dict[str, Any]] | None = None) -> TrustPolicyDocument:
    verification: dict[str, Any] = {"level": level}
    if override:
        verification["override"] = override
    entry: dict[str, Any] = {"name": "p", "registryScopes": scopes or ["registry.example/app"],
                             "signatureVerification": verification}
    if level != "skip":
        entry["trustStores"] = stores or ["ca:acme"]
        entry["trustedIdentities"] = identities or ["x509.subject: C=US, ST=WA, O=Acme, CN=builder"]
    return parse_trust_policy(json.dumps({"version": "1.0", "trustPolicies": [entry, *(extra or [])]}))


# ---- real envelopes (notation-go test data) ---------------------------------------------------------


def test_real_envelope_verifies_under_strict(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    verdict = verify_notation(real("ca_valid_sig_env.json"), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              MOCK_DIGEST, policy, stores, now=NOW, image_media_type=DOCKER_V2)
    assert verdict.ok and verdict.code == "verified", verdict.reason
    assert verdict.signer == "CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US"
    assert verdict.trust_policy == "notation-test" and verdict.level == "strict"
    assert verdict.signing_time == datetime(2020, 11, 9, 7, 0, tzinfo=UTC)
    assert verdict.notes == ("revocation (OCSP/CRL) is not checked",)


def test_real_self_signed_signer_verifies(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    verdict = verify_notation(real("withoutTimestamp.sig"), ENVELOPE_JWS, "localhost:5000/alpine:3.20",
                              ALPINE_DIGEST, policy, stores, now=NOW)
    assert verdict.ok, verdict.reason
    assert verdict.signer == "CN=alpine,O=Notary,L=Seattle,ST=WA,C=US"


def test_real_timestamp_countersignature_is_a_note(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    verdict = verify_notation(real("jwsWithTimestamp.sig"), ENVELOPE_JWS, "localhost:5000/alpine",
                              ALPINE_DIGEST, policy, stores, now=NOW)
    assert verdict.ok, verdict.reason
    assert any("timestamp countersignature is not verified" in note for note in verdict.notes)


def test_real_certificates_judged_at_now(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    # the alpine certificate expires 2033-05-10; no verified timestamp, so after that the signature fails
    later = datetime(2034, 1, 1, tzinfo=UTC)
    verdict = verify_notation(real("withoutTimestamp.sig"), ENVELOPE_JWS, "localhost:5000/alpine",
                              ALPINE_DIGEST, policy, stores, now=later)
    assert not verdict.ok and verdict.code == "certificate-expired"
    assert "CN=alpine" in verdict.reason and "not valid now" in verdict.reason


def test_real_signing_authority(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    verdict = verify_notation(real("sa_valid_sig_env.json"), ENVELOPE_JWS, "localhost:5000/sa", MOCK_DIGEST,
                              policy, stores, now=NOW)
    assert verdict.ok, verdict.reason
    # a signing-authority signature is trusted through signingAuthority stores only
    verdict = verify_notation(real("sa_valid_sig_env.json"), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              MOCK_DIGEST, policy, stores, now=NOW)
    assert not verdict.ok and verdict.code == "untrusted"
    assert "names no signingAuthority trust store" in verdict.reason


def test_real_expired_signature_strict_fails_permissive_notes() -> None:
    stores = load_trust_store(DATA / "truststore")
    identity = ["x509.subject: C=US, ST=WA, O=Notary"]
    strict = policy_doc("strict", scopes=["localhost:5000/net-monitor"], stores=["ca:notation-test"],
                        identities=identity)
    verdict = verify_notation(real("ca_expired_sig_env.json"), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              MOCK_DIGEST, strict, stores, now=NOW)
    assert not verdict.ok and verdict.code == "expired"
    assert verdict.reason == "the signature expired at 2022-07-29T23:59:00+00:00"
    permissive = policy_doc("permissive", scopes=["localhost:5000/net-monitor"], stores=["ca:notation-test"],
                            identities=identity)
    verdict = verify_notation(real("ca_expired_sig_env.json"), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              MOCK_DIGEST, permissive, stores, now=NOW)
    assert verdict.ok and verdict.level == "permissive"
    note = "expiry not enforced (permissive): the signature expired at 2022-07-29T23:59:00+00:00"
    assert note in verdict.notes
    # an override makes expiry enforced again
    custom = policy_doc("permissive", scopes=["localhost:5000/net-monitor"], stores=["ca:notation-test"],
                        identities=identity, override={"expiry": "enforce"})
    assert verify_notation(real("ca_expired_sig_env.json"), ENVELOPE_JWS, "localhost:5000/net-monitor",
                           MOCK_DIGEST, custom, stores, now=NOW).code == "expired"


def test_real_wrong_digest(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    verdict = verify_notation(real("ca_valid_sig_env.json"), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              DIGEST, policy, stores, now=NOW)
    assert not verdict.ok and verdict.code == "digest-mismatch"
    assert verdict.reason == f"the signature is for {MOCK_DIGEST}, not the image {DIGEST}"


def test_real_media_type_mismatch(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    verdict = verify_notation(real("ca_valid_sig_env.json"), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              MOCK_DIGEST, policy, stores, now=NOW, image_media_type=OCI_MANIFEST)
    assert verdict.code == "media-type-mismatch"


def test_real_tampered_payload(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    envelope = json.loads(real("ca_valid_sig_env.json"))
    payload = {"targetArtifact": {"mediaType": DOCKER_V2, "digest": DIGEST, "size": 528}}
    envelope["payload"] = b64url(json.dumps(payload).encode())
    verdict = verify_notation(json.dumps(envelope).encode(), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              DIGEST, policy, stores, now=NOW)
    assert not verdict.ok and verdict.code == "bad-signature"


def test_real_tampered_protected_header(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    envelope = json.loads(real("ca_expired_sig_env.json"))
    header = json.loads(b64url_decode(envelope["protected"]))
    header["io.cncf.notary.expiry"] = "2220-07-29T23:59:00Z"  # extend the expiry: the signature breaks
    envelope["protected"] = b64url(json.dumps(header).encode())
    verdict = verify_notation(json.dumps(envelope).encode(), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              MOCK_DIGEST, policy, stores, now=NOW)
    assert verdict.code == "bad-signature"


def test_real_untrusted_root(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    # the alpine signature under the policy trusting only the Notation Test Root
    verdict = verify_notation(real("withoutTimestamp.sig"), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              ALPINE_DIGEST, policy, stores, now=NOW)
    assert not verdict.ok and verdict.code == "untrusted"
    assert "ca:notation-test" in verdict.reason


def test_real_identity_mismatch_strict_and_audit(stores: TrustStores) -> None:
    other = ["x509.subject: C=US, ST=WA, O=Notary, CN=someone else"]
    strict = policy_doc("strict", scopes=["localhost:5000/alpine"], stores=["ca:alpine"], identities=other)
    verdict = verify_notation(real("withoutTimestamp.sig"), ENVELOPE_JWS, "localhost:5000/alpine",
                              ALPINE_DIGEST, strict, stores, now=NOW)
    assert not verdict.ok and verdict.code == "identity-mismatch"
    assert "CN=alpine" in verdict.reason and "someone else" in verdict.reason
    audit = policy_doc("audit", scopes=["localhost:5000/alpine"], stores=["ca:alpine"], identities=other)
    verdict = verify_notation(real("withoutTimestamp.sig"), ENVELOPE_JWS, "localhost:5000/alpine",
                              ALPINE_DIGEST, audit, stores, now=NOW)
    assert verdict.ok and verdict.level == "audit"
    assert any(note.startswith("authenticity not enforced (audit)") for note in verdict.notes)
    # audit still enforces integrity
    verdict = verify_notation(real("withoutTimestamp.sig"), ENVELOPE_JWS, "localhost:5000/alpine",
                              DIGEST, audit, stores, now=NOW)
    assert verdict.code == "digest-mismatch"


def test_real_cose_envelope_verifies(tmp_path: Path) -> None:
    # notation-go's COSE test envelope: PS256, one self-signed certificate (CN=alpine, 2000-2123, not
    # the alpine certificate of the JWS envelopes), signed 2023-03-14 for an OCI manifest
    envelope = real("cose_signature.sig")
    leaf = cose.parse_cose(envelope).chain[0]
    (tmp_path / "x509" / "ca" / "alpine-cose").mkdir(parents=True)
    (tmp_path / "x509" / "ca" / "alpine-cose" / "leaf.der").write_bytes(leaf)
    doc = policy_doc(scopes=["localhost:5000/alpine"], stores=["ca:alpine-cose"],
                     identities=["x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=alpine"])
    verdict = verify_notation(envelope, ENVELOPE_COSE, "localhost:5000/alpine", COSE_DIGEST, doc,
                              load_trust_store(tmp_path), now=NOW, image_media_type=OCI_MANIFEST)
    assert verdict.ok and verdict.code == "verified", verdict.reason
    assert verdict.signer == "CN=alpine,O=Notary,L=Seattle,ST=WA,C=US"
    assert verdict.signing_time == datetime(2023, 3, 14, 4, 45, 22, tzinfo=UTC)


def test_real_cose_envelope_refusals(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    # trusted only through the other alpine certificate: untrusted; another image: digest-mismatch
    verdict = verify_notation(real("cose_signature.sig"), ENVELOPE_COSE, "localhost:5000/alpine",
                              COSE_DIGEST, policy, stores, now=NOW)
    assert not verdict.ok and verdict.code == "untrusted", verdict.reason
    verdict = verify_notation(real("cose_signature.sig"), ENVELOPE_COSE, "localhost:5000/alpine",
                              ALPINE_DIGEST, policy, stores, now=NOW)
    assert verdict.code == "digest-mismatch"
    # a JWS envelope announced as COSE is not CBOR; an unknown media type is not an envelope
    verdict = verify_notation(real("ca_valid_sig_env.json"), ENVELOPE_COSE, "localhost:5000/alpine",
                              ALPINE_DIGEST, policy, stores, now=NOW)
    assert verdict.code == "malformed" and "is not valid CBOR" in verdict.reason
    verdict = verify_notation(real("ca_valid_sig_env.json"), "application/json", "localhost:5000/alpine",
                              ALPINE_DIGEST, policy, stores, now=NOW)
    assert verdict.code == "unsupported-envelope"


# ---- chains made here ---------------------------------------------------------------------------------


def _name(cn: str, org: str = "Acme") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, start: datetime, end: datetime,
          eku: list[x509.ObjectIdentifier] | None = None) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(eku if eku is not None else [ExtendedKeyUsageOID.CODE_SIGNING]),
            critical=False)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                    critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Pki:
    """A root, an intermediate and a code-signing leaf (ECDSA P-256), valid 2025-2028."""

    def __init__(self, *, curve: ec.EllipticCurve | None = None, leaf_end: datetime | None = None,
                 eku: list[x509.ObjectIdentifier] | None = None) -> None:
        start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.inter_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf_key = ec.generate_private_key(curve or ec.SECP256R1())
        self.root = _cert(_name("Acme Root"), self.root_key, _name("Acme Root"), self.root_key, ca=True,
                          start=start, end=end)
        self.inter = _cert(_name("Acme Intermediate"), self.inter_key, _name("Acme Root"), self.root_key,
                           ca=True, start=start, end=end)
        self.leaf = _cert(_name("builder"), self.leaf_key, _name("Acme Intermediate"), self.inter_key,
                          ca=False, start=start, end=leaf_end or end, eku=eku)

    def store(self, tmp: Path, name: str = "acme", kind: str = "ca") -> TrustStores:
        directory = tmp / "x509" / kind / name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "root.pem").write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        return load_trust_store(tmp)

    def envelope(self, *, digest: str = DIGEST, header: dict[str, Any] | None = None,
                 drop: tuple[str, ...] = (), chain: list[x509.Certificate] | None = None,
                 alg: str | None = None, payload: bytes | None = None) -> bytes:
        curve_alg = {"secp256r1": ("ES256", hashes.SHA256()), "secp384r1": ("ES384", hashes.SHA384())}
        name, digest_alg = curve_alg[self.leaf_key.curve.name]
        protected: dict[str, Any] = {
            "alg": alg or name, "crit": ["io.cncf.notary.signingScheme"], "cty": PAYLOAD_MEDIA_TYPE,
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": "2026-06-01T10:00:00Z"}
        protected.update(header or {})
        for key in drop:
            protected.pop(key, None)
        if payload is None:
            payload = json.dumps({"targetArtifact": {"mediaType": OCI_MANIFEST, "digest": digest,
                                                     "size": 1234}}).encode()
        protected_b64, payload_b64 = b64url(json.dumps(protected).encode()), b64url(payload)
        der = self.leaf_key.sign(f"{protected_b64}.{payload_b64}".encode(), ec.ECDSA(digest_alg))
        r, s = utils.decode_dss_signature(der)
        size = (self.leaf_key.curve.key_size + 7) // 8
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        certs = chain if chain is not None else [self.leaf, self.inter, self.root]
        return json.dumps({
            "payload": payload_b64, "protected": protected_b64,
            "header": {"x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                               for c in certs], "io.cncf.notary.signingAgent": "notation-go/1.3.0"},
            "signature": b64url(raw)}).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def verify(envelope: bytes, stores: TrustStores, doc: TrustPolicyDocument | None = None,
           *, ref: str = "registry.example/app", now: datetime = NOW) -> NotationVerdict:
    return verify_notation(envelope, ENVELOPE_JWS, ref, DIGEST, doc or policy_doc(), stores, now=now)


def test_made_chain_verifies(pki: Pki, tmp_path: Path) -> None:
    verdict = verify(pki.envelope(), pki.store(tmp_path))
    assert verdict.ok, verdict.reason
    assert verdict.signer == "CN=builder,O=Acme,ST=WA,C=US"


def test_made_p384_leaf(tmp_path: Path) -> None:
    pki = Pki(curve=ec.SECP384R1())
    assert verify(pki.envelope(), pki.store(tmp_path)).ok


def test_made_untrusted_root(pki: Pki, tmp_path: Path) -> None:
    other = Pki()
    verdict = verify(pki.envelope(), other.store(tmp_path))
    assert not verdict.ok and verdict.code == "untrusted"
    # the chain in the envelope brings its own root: that is never a trust anchor
    assert "ca:acme" in verdict.reason


def test_made_missing_trust_store(pki: Pki, tmp_path: Path) -> None:
    verdict = verify(pki.envelope(), pki.store(tmp_path, name="other"))
    assert verdict.code == "no-trust-store" and "ca:acme" in verdict.reason


def test_made_wildcard_identity_and_subset_match(pki: Pki, tmp_path: Path) -> None:
    stores = pki.store(tmp_path)
    assert verify(pki.envelope(), stores, policy_doc(identities=["*"])).ok
    assert verify(pki.envelope(), stores, policy_doc(identities=["x509.subject: O=Acme, ST=WA, C=US"])).ok
    verdict = verify(pki.envelope(), stores, policy_doc(identities=["x509.subject: C=US, ST=WA, O=acme"]))
    assert verdict.code == "identity-mismatch"  # values compare exactly


def test_made_leaf_with_server_auth_is_refused(tmp_path: Path) -> None:
    pki = Pki(eku=[ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.SERVER_AUTH])
    verdict = verify(pki.envelope(), pki.store(tmp_path))
    assert verdict.code == "bad-certificate" and "extended key usage" in verdict.reason


def test_made_chain_out_of_order(pki: Pki, tmp_path: Path) -> None:
    verdict = verify(pki.envelope(chain=[pki.leaf, pki.root, pki.inter]), pki.store(tmp_path))
    assert verdict.code == "bad-certificate" and "ordered leaf to root" in verdict.reason
    verdict = verify(pki.envelope(chain=[pki.leaf, pki.inter]), pki.store(tmp_path))
    assert verdict.code == "bad-certificate" and "self-signed root" in verdict.reason


def test_made_certificate_expired_strict_vs_permissive(tmp_path: Path) -> None:
    pki = Pki(leaf_end=datetime(2026, 9, 1, tzinfo=UTC))  # signed in June, expired by December
    stores = pki.store(tmp_path)
    verdict = verify(pki.envelope(), stores)
    assert verdict.code == "certificate-expired" and "CN=builder" in verdict.reason
    verdict = verify(pki.envelope(), stores, policy_doc("permissive"))
    assert verdict.ok
    assert any(n.startswith("authenticTimestamp not enforced (permissive)") for n in verdict.notes)


def test_made_signing_time_outside_validity_is_untrusted(pki: Pki, tmp_path: Path) -> None:
    envelope = pki.envelope(header={"io.cncf.notary.signingTime": "2024-06-01T10:00:00Z"})
    verdict = verify(envelope, pki.store(tmp_path))
    assert verdict.code == "untrusted" and "2024-06-01" in verdict.reason


def test_made_expiry(pki: Pki, tmp_path: Path) -> None:
    stores = pki.store(tmp_path)
    expiring = {"io.cncf.notary.expiry": "2026-07-01T00:00:00Z",
                "crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"]}
    assert verify(pki.envelope(header=expiring), stores).code == "expired"
    assert verify(pki.envelope(header=expiring), stores, now=datetime(2026, 6, 2, tzinfo=UTC)).ok


@pytest.mark.parametrize(("header", "drop", "code", "words"), [
    ({"crit": ["io.cncf.notary.signingScheme", "com.example.mine"], "com.example.mine": 1}, (),
     "unknown-critical-header", "'com.example.mine' is not understood"),
    ({"crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.verificationPlugin"],
      "io.cncf.notary.verificationPlugin": "com.example.plugin"}, (), "unknown-critical-header", "plugin"),
    ({"io.cncf.notary.expiry": "2030-01-01T00:00:00Z"}, (), "malformed", "not listed in crit"),
    ({"crit": []}, (), "malformed", "crit must be"),
    ({}, ("crit",), "malformed", "crit must be"),
    ({"crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"]}, (), "malformed",
     "the protected header does not have"),
    ({"cty": "application/json"}, (), "malformed", "cty"),
    ({"io.cncf.notary.signingScheme": "notary.other"}, (), "malformed", "signing scheme"),
    ({}, ("io.cncf.notary.signingTime",), "malformed", "signingTime is missing"),
    ({"io.cncf.notary.signingTime": "2026-06-01 10:00"}, (), "malformed", "RFC 3339"),
    ({"alg": "none"}, (), "unsupported-algorithm", "alg"),
    ({"alg": "PS256"}, (), "unsupported-algorithm", "does not match the signing key"),
    ({"alg": "ES384"}, (), "unsupported-algorithm", "does not match the signing key"),
])
def test_made_protected_header_rules(pki: Pki, tmp_path: Path, header: dict[str, Any], drop: tuple[str, ...],
                                     code: str, words: str) -> None:
    verdict = verify(pki.envelope(header=header, drop=drop), pki.store(tmp_path))
    assert not verdict.ok and verdict.code == code, verdict.reason
    assert words in verdict.reason


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"targetArtifact": 1}',
                                     b'{"targetArtifact": {"digest": "sha256:12", "mediaType": "x", '
                                     b'"size": 1}}',
                                     b'{"targetArtifact": {"digest": "' + DIGEST.encode() + b'", "size": 1}}',
                                     b'{"targetArtifact": {"digest": "' + DIGEST.encode()
                                     + b'", "mediaType": "x", "size": true}}'])
def test_made_bad_payloads(pki: Pki, tmp_path: Path, payload: bytes) -> None:
    verdict = verify(pki.envelope(payload=payload), pki.store(tmp_path))
    assert verdict.code == "bad-payload"


# ---- hostile input never raises ------------------------------------------------------------------------


def _mutations(pki: Pki) -> list[bytes]:
    good = json.loads(pki.envelope())

    def with_(**changes: Any) -> bytes:
        return json.dumps({**good, **changes}).encode()

    return [
        b"", b"{", b"null", b"[]", b'"x"', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
        b" " * (MAX_ENVELOPE_BYTES + 1),
        with_(payload="!!!"), with_(protected="a"), with_(signature=""), with_(signature="===="),
        with_(protected=b64url(b"not json")), with_(protected=b64url(b"[1]")),
        with_(protected=b64url(json.dumps({"alg": "ES256", "crit": "x"}).encode())),
        with_(header={"x5c": []}), with_(header={"x5c": ["@@@"]}), with_(header={"x5c": ["AAAA"]}),
        with_(header={"x5c": "AAAA"}), with_(header=[]), with_(header={"x5c": ["AA"] * 50}),
        with_(signatures=[]), with_(payload=None),
        with_(protected=b64url(json.dumps({f"h{i}": i for i in range(100)}).encode())),
    ]


def test_hostile_envelopes_are_verdicts(pki: Pki, tmp_path: Path) -> None:
    stores = pki.store(tmp_path)
    for envelope in _mutations(pki):
        verdict = verify(envelope, stores)
        assert isinstance(verdict, NotationVerdict) and not verdict.ok, envelope[:80]
        assert verdict.code in {"malformed", "too-large", "bad-certificate", "bad-signature",
                                "unsupported-algorithm"}, (verdict.code, envelope[:80])


def test_huge_envelope(pki: Pki, tmp_path: Path) -> None:
    verdict = verify(b"{" + b" " * MAX_ENVELOPE_BYTES + b"}", pki.store(tmp_path))
    assert verdict.code == "too-large"


def test_truncated_signatures_are_bad(pki: Pki, tmp_path: Path) -> None:
    envelope = json.loads(pki.envelope())
    envelope["signature"] = envelope["signature"][:-8]
    assert verify(json.dumps(envelope).encode(), pki.store(tmp_path)).code == "bad-signature"


# ---- COSE envelopes made here ---------------------------------------------------------------------------

COSE_ALG = {"ES256": -7, "ES384": -35, "ES512": -36, "PS256": -37, "PS384": -38, "PS512": -39}
SCHEME, SIGNING_TIME, EXPIRY = ("io.cncf.notary.signingScheme", "io.cncf.notary.signingTime",
                                "io.cncf.notary.expiry")
SIGNED_AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
_DROP = object()


def epoch(when: datetime) -> cbor2.CBORTag:
    return cbor2.CBORTag(1, int(when.timestamp()))


def cose_envelope(pki: Pki, *, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
                  leaf: x509.Certificate | None = None, protected: dict[Any, Any] | None = None,
                  protected_raw: bytes | None = None, unprotected: dict[Any, Any] | None = None,
                  payload: bytes | None = None, signed_payload: bytes | None = None, digest: str = DIGEST,
                  tag: int = 18) -> bytes:
    """A COSE_Sign1 envelope as notation-core-go writes one (alg, crit, content type, signing scheme and
    a tag-1 signing time protected; x5chain unprotected), signed by ``key`` (the leaf's by default);
    a ``_DROP`` value removes a header."""
    key = key or pki.leaf_key
    if isinstance(key, rsa.RSAPrivateKey):
        alg = {2048: "PS256", 3072: "PS384", 4096: "PS512"}[key.key_size]
    else:
        alg = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[key.curve.name]
    header: dict[Any, Any] = {1: COSE_ALG[alg], 2: [SCHEME], 3: PAYLOAD_MEDIA_TYPE, SCHEME: "notary.x509",
                              SIGNING_TIME: epoch(SIGNED_AT)}
    header = {k: v for k, v in {**header, **(protected or {})}.items() if v is not _DROP}
    raw = protected_raw if protected_raw is not None else cbor2.dumps(header)
    if payload is None:
        payload = json.dumps({"targetArtifact": {"mediaType": OCI_MANIFEST, "digest": digest,
                                                 "size": 1234}}).encode()
    to_sign = cbor2.dumps(["Signature1", raw, b"", payload if signed_payload is None else signed_payload])
    digest_alg = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(to_sign, padding.PSS(padding.MGF1(digest_alg), digest_alg.digest_size),
                             digest_alg)
    else:
        r, s = utils.decode_dss_signature(key.sign(to_sign, ec.ECDSA(digest_alg)))
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    chain = [c.public_bytes(serialization.Encoding.DER) for c in (leaf or pki.leaf, pki.inter, pki.root)]
    outer = {33: chain, "io.cncf.notary.signingAgent": "notation-go/1.3.2", **(unprotected or {})}
    outer = {k: v for k, v in outer.items() if v is not _DROP}
    return cbor2.dumps(cbor2.CBORTag(tag, [raw, outer, payload, signature]))


def verify_cose(envelope: bytes, stores: TrustStores, doc: TrustPolicyDocument | None = None,
                *, now: datetime = NOW) -> NotationVerdict:
    return verify_notation(envelope, ENVELOPE_COSE, "registry.example/app", DIGEST, doc or policy_doc(),
                           stores, now=now)


def test_cose_ecdsa_verifies(pki: Pki, tmp_path: Path) -> None:
    verdict = verify_cose(cose_envelope(pki), pki.store(tmp_path))
    assert verdict.ok and verdict.code == "verified", verdict.reason
    assert verdict.signer == "CN=builder,O=Acme,ST=WA,C=US" and verdict.signing_time == SIGNED_AT
    p384 = Pki(curve=ec.SECP384R1())
    assert verify_cose(cose_envelope(p384), p384.store(tmp_path / "p384")).ok


@pytest.mark.parametrize("bits", [2048, 3072])
def test_cose_rsa_pss_verifies(pki: Pki, tmp_path: Path, bits: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    leaf = _cert(_name("builder"), key, _name("Acme Intermediate"), pki.inter_key, ca=False,
                 start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2028, 1, 1, tzinfo=UTC))
    envelope = cose_envelope(pki, key=key, leaf=leaf)
    verdict = verify_cose(envelope, pki.store(tmp_path))
    assert verdict.ok, verdict.reason
    # the same key declared as an ECDSA signature: the algorithm must be the key's
    forged = cose_envelope(pki, key=key, leaf=leaf, protected={1: COSE_ALG["ES256"]})
    assert verify_cose(forged, pki.store(tmp_path)).code == "unsupported-algorithm"


def test_cose_expiry_and_levels(pki: Pki, tmp_path: Path) -> None:
    expires = epoch(datetime(2026, 7, 1, tzinfo=UTC))
    expired = cose_envelope(pki, protected={2: [SCHEME, EXPIRY], EXPIRY: expires})
    stores = pki.store(tmp_path)
    verdict = verify_cose(expired, stores)
    assert not verdict.ok and verdict.code == "expired"
    assert verdict.reason == "the signature expired at 2026-07-01T00:00:00+00:00"
    verdict = verify_cose(expired, stores, policy_doc("permissive"))
    assert verdict.ok and "expiry not enforced (permissive): the signature expired" in verdict.reason
    assert verify_cose(expired, stores, now=datetime(2026, 6, 15, tzinfo=UTC)).ok


def test_cose_timestamp_countersignature_is_a_note(pki: Pki, tmp_path: Path) -> None:
    envelope = cose_envelope(pki, unprotected={"io.cncf.notary.timestampSignature": b"\x30\x00"})
    verdict = verify_cose(envelope, pki.store(tmp_path))
    assert verdict.ok and any("countersignature is not verified" in n for n in verdict.notes)


def test_cose_signature_over_another_payload(pki: Pki, tmp_path: Path) -> None:
    other = json.dumps({"targetArtifact": {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "cd" * 32,
                                           "size": 1234}}).encode()
    verdict = verify_cose(cose_envelope(pki, signed_payload=other), pki.store(tmp_path))
    assert not verdict.ok and verdict.code == "bad-signature"
    # the protected header re-encoded with a later expiry, the signature kept: broken
    good = cbor2.loads(cose_envelope(pki, protected={2: [SCHEME, EXPIRY],
                                                     EXPIRY: epoch(datetime(2026, 7, 1, tzinfo=UTC))}))
    header = cbor2.loads(good.value[0], semantic_decoders={1: lambda value, _: cbor2.CBORTag(1, value)})
    header[EXPIRY] = epoch(datetime(2030, 1, 1, tzinfo=UTC))
    tampered = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(header), *good.value[1:]]))
    assert verify_cose(tampered, pki.store(tmp_path)).code == "bad-signature"
    # an ECDSA signature of the wrong length
    short = cbor2.dumps(cbor2.CBORTag(18, [*good.value[:3], good.value[3][:-1]]))
    assert verify_cose(short, pki.store(tmp_path)).code == "bad-signature"


def test_cose_untrusted_and_identity(pki: Pki, tmp_path: Path) -> None:
    other = Pki()
    assert verify_cose(cose_envelope(pki), other.store(tmp_path)).code == "untrusted"
    doc = policy_doc(identities=["x509.subject: C=US, ST=WA, O=Acme, CN=someone else"])
    assert verify_cose(cose_envelope(pki), pki.store(tmp_path / "own"), doc).code == "identity-mismatch"


@pytest.mark.parametrize(("protected", "code", "words"), [
    ({2: _DROP}, "malformed", "crit must be"),
    ({2: []}, "malformed", "crit must be"),
    ({2: "io.cncf.notary.signingScheme"}, "malformed", "crit must be an array"),
    ({2: [SCHEME, "com.example.mine"], "com.example.mine": 1}, "unknown-critical-header",
     "'com.example.mine' is not understood"),
    ({2: [SCHEME, 1]}, "unknown-critical-header", "'alg' is not understood"),
    ({2: [SCHEME, "io.cncf.notary.verificationPlugin"], "io.cncf.notary.verificationPlugin": "x"},
     "unknown-critical-header", "plugin"),
    ({2: [SCHEME, EXPIRY]}, "malformed", "the protected header does not have"),
    ({EXPIRY: epoch(datetime(2030, 1, 1, tzinfo=UTC))}, "malformed",
     "expiry is present but not listed in crit"),
    ({3: "application/json"}, "malformed", "cty"),
    ({3: 50}, "malformed", "cty"),
    ({3: _DROP}, "malformed", "cty"),
    ({SCHEME: "notary.other"}, "malformed", "signing scheme"),
    ({SIGNING_TIME: _DROP}, "malformed", "signingTime is missing"),
    ({SIGNING_TIME: 1780308000}, "malformed", "not a CBOR epoch datetime (tag 1)"),
    ({SIGNING_TIME: "2026-06-01T10:00:00Z"}, "malformed", "tag 1"),
    ({SIGNING_TIME: cbor2.CBORTag(1, 2**62)}, "malformed", "tag 1"),
    ({SIGNING_TIME: cbor2.CBORTag(1, float("nan"))}, "malformed", "tag 1"),
    ({SIGNING_TIME: cbor2.CBORTag(1, "2026")}, "malformed", "tag 1"),
    ({SIGNING_TIME: datetime(2026, 6, 1, tzinfo=UTC)}, "malformed", "CBOR tag 0 is not allowed"),
    ({1: _DROP}, "unsupported-algorithm", "alg"),
    ({1: -8}, "unsupported-algorithm", "COSE algorithm -8"),
    ({1: "ES256"}, "unsupported-algorithm", "COSE algorithm 'ES256'"),
    ({1: -37}, "unsupported-algorithm", "does not match the signing key"),
    ({"cty": "x"}, "malformed", "'cty' appears twice"),
    ({b"label": 1}, "malformed", "a header label is an integer or a text string"),
    ({33: [b"\x00"]}, "malformed", "both the protected and the unprotected header"),
    ({"big": cbor2.CBORTag(2, b"\xff" * 64)}, "malformed", "CBOR tag 2 is not allowed"),
])
def test_cose_protected_header_rules(pki: Pki, tmp_path: Path, protected: dict[Any, Any], code: str,
                                     words: str) -> None:
    verdict = verify_cose(cose_envelope(pki, protected=protected), pki.store(tmp_path))
    assert not verdict.ok and verdict.code == code, verdict.reason
    assert words in verdict.reason, verdict.reason


def _cose_mutations(pki: Pki) -> list[tuple[bytes, str]]:
    good = cose_envelope(pki)
    raw, unprotected, payload, signature = cbor2.loads(good).value

    def sign1(*parts: Any, tag: int = 18) -> bytes:
        return cbor2.dumps(cbor2.CBORTag(tag, list(parts)))

    nested = b"\x81" * 10_000 + b"\x00"
    return [
        (b"", "not valid CBOR"), (b"\xff", "not valid CBOR"), (good[:-1], "not valid CBOR"),
        (good + b"\x00", "1 bytes after its CBOR item"),
        (cbor2.dumps([raw, unprotected, payload, signature]), "not a COSE_Sign1_Tagged object"),
        (sign1(raw, unprotected, payload, signature, tag=98), "(CBOR tag 18): tag 98"),
        (sign1(raw, unprotected, payload), "COSE_Sign1 is an array"),
        (cbor2.dumps(cbor2.CBORTag(18, b"x")), "COSE_Sign1 is an array"),
        (sign1(b"", unprotected, payload, signature), "protected header is not a non-empty byte string"),
        (sign1({1: -7}, unprotected, payload, signature), "protected header is not a non-empty byte string"),
        (sign1(cbor2.dumps([1]), unprotected, payload, signature), "protected header is not a map"),
        (sign1(raw + b"\x00", unprotected, payload, signature), "bytes after its CBOR item"),
        (sign1(b"\xa1\x01", unprotected, payload, signature), "protected header is not valid CBOR"),
        (sign1(raw, [], payload, signature), "unprotected header is not a map"),
        (sign1(raw, unprotected, None, signature), "detached payload"),
        (sign1(raw, unprotected, "text", signature), "byte strings"),
        (sign1(raw, unprotected, payload, b""), "byte strings"),
        (sign1(raw, {}, payload, signature), "x5chain (33) must hold 1 to 10"),
        (sign1(raw, {33: []}, payload, signature), "x5chain (33) must hold 1 to 10"),
        (sign1(raw, {33: ["text"]}, payload, signature), "x5chain (33) must hold 1 to 10"),
        (sign1(raw, {33: [b"\x30"] * 11}, payload, signature), "x5chain (33) must hold 1 to 10"),
        (sign1(raw, {33: b"\x30\x00"}, payload, signature), "x5c[0] is not a DER certificate"),
        (sign1(raw, {i: i for i in range(100)}, payload, signature), "unprotected header is not a map"),
        (sign1(raw, {1.5: 1, 33: unprotected[33]}, payload, signature), "a header label is an integer"),
        # indefinite lengths, nesting, duplicate keys, tags cbor2 would decode into objects
        (b"\xd2\x9f" + raw[:0] + b"\xff", "indefinite"),
        (b"\xd2" + nested, "nesting depth"),
        (sign1(b"\xa2\x01\x26\x01\x26", unprotected, payload, signature), "Duplicate map key"),
        (sign1(raw, {**unprotected, "shared": cbor2.CBORTag(28, [1])}, payload, signature), "CBOR tag 28"),
        (sign1(raw, {**unprotected, "big": cbor2.CBORTag(5, [2**62, 3])}, payload, signature), "CBOR tag 5"),
        (sign1(raw, {**unprotected, "re": cbor2.CBORTag(35, "(a+)+$")}, payload, signature), "CBOR tag 35"),
        (b"\xd9\xd9\xf7" + good, "CBOR tag 55799"),
        (b"\x5b\x7f\xff\xff\xff\xff\xff\xff\xff", "not valid CBOR"),  # a byte string of 2**63 bytes
        (b"\x9b\x00\x00\x00\x01\x00\x00\x00\x00", "not valid CBOR"),  # an array of 2**32 items
    ]


def test_hostile_cose_envelopes_are_verdicts(pki: Pki, tmp_path: Path) -> None:
    stores = pki.store(tmp_path)
    for envelope, words in _cose_mutations(pki):
        verdict = verify_cose(envelope, stores)
        assert isinstance(verdict, NotationVerdict) and not verdict.ok, envelope[:80]
        assert verdict.code in {"malformed", "bad-certificate"}, (verdict.code, verdict.reason)
        assert words in verdict.reason, (words, verdict.reason)


def test_cose_every_truncation_and_bit_flip_is_a_verdict(pki: Pki, tmp_path: Path) -> None:
    stores = pki.store(tmp_path)
    good = cose_envelope(pki, unprotected={"io.cncf.notary.signingAgent": _DROP})  # unsigned, unchecked
    for end in range(len(good)):
        assert verify_cose(good[:end], stores).code == "malformed"
    codes = set()
    for at in range(0, len(good), 3):
        flipped = bytearray(good)
        flipped[at] ^= 0x41
        verdict = verify_cose(bytes(flipped), stores)
        assert not verdict.ok, at
        codes.add(verdict.code)
    assert {"malformed", "bad-signature"} <= codes


def test_a_certificate_of_an_unknown_x509_version_is_a_verdict(pki: Pki, tmp_path: Path) -> None:
    # cryptography raises InvalidVersion (not a ValueError) for it: once an escaping exception
    der = pki.leaf.public_bytes(serialization.Encoding.DER)
    assert b"\xa0\x03\x02\x01\x02" in der  # [0] EXPLICIT version v3
    bad = der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x43", 1)
    jws = json.loads(pki.envelope())
    jws["header"]["x5c"][0] = base64.b64encode(bad).decode()
    stores = pki.store(tmp_path)
    for verdict in (verify(json.dumps(jws).encode(), stores),
                    verify_cose(cose_envelope(pki, unprotected={33: [bad]}), stores)):
        assert verdict.code == "bad-certificate" and "x5c[0] is not a DER certificate" in verdict.reason


def test_huge_cose_envelope(pki: Pki, tmp_path: Path) -> None:
    huge = cose_envelope(pki, unprotected={"pad": b"\x00" * MAX_ENVELOPE_BYTES})
    verdict = verify_cose(huge, pki.store(tmp_path))
    assert verdict.code == "too-large"


# ---- trust policy selection and levels ------------------------------------------------------------------


def test_no_matching_scope(pki: Pki, tmp_path: Path) -> None:
    verdict = verify(pki.envelope(), pki.store(tmp_path), ref="registry.example/other")
    assert verdict.code == "no-policy" and "'registry.example/other'" in verdict.reason


def test_exact_scope_wins_over_wildcard(pki: Pki, tmp_path: Path) -> None:
    wildcard = {"name": "everything", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}
    doc = policy_doc(extra=[wildcard])
    stores = pki.store(tmp_path)
    assert verify(pki.envelope(), stores, doc).trust_policy == "p"
    verdict = verify(b"garbage", stores, doc, ref="elsewhere.example/x:1.0")
    assert verdict.ok and verdict.code == "skipped" and verdict.trust_policy == "everything"


def test_two_matching_scopes_are_a_policy_error(pki: Pki, tmp_path: Path) -> None:
    one = policy_doc()
    doc = TrustPolicyDocument((*one.policies, one.policies[0]), "two.json")
    verdict = verify(pki.envelope(), pki.store(tmp_path), doc)
    assert not verdict.ok and verdict.code == "policy-error"
    assert "a scope belongs to one policy" in verdict.reason
    with pytest.raises(InputError, match=r"registry scope 'registry\.example/app' is in trust policies"):
        policy_doc(extra=[{"name": "q", "registryScopes": ["registry.example/app"],
                           "signatureVerification": {"level": "skip"}}])


def test_skip_level_verifies_nothing(tmp_path: Path) -> None:
    verdict = verify_notation(b"\x00not an envelope", ENVELOPE_COSE, "registry.example/app", DIGEST,
                              policy_doc("skip"), TrustStores(), now=NOW)
    assert verdict.ok and verdict.code == "skipped" and verdict.level == "skip"


def test_the_configuration_model_is_accepted(pki: Pki, tmp_path: Path) -> None:
    model = NotationTrustPolicyDocument.model_validate(json.loads((DATA / "trustpolicy.json").read_text()),
                                                       by_alias=True, by_name=False)
    verdict = verify_notation(real("ca_valid_sig_env.json"), ENVELOPE_JWS, "localhost:5000/net-monitor",
                              MOCK_DIGEST, model, load_trust_store(DATA / "truststore"), now=NOW)
    assert verdict.ok, verdict.reason


def test_revocation_skipped_has_no_note(pki: Pki, tmp_path: Path) -> None:
    verdict = verify(pki.envelope(), pki.store(tmp_path), policy_doc(override={"revocation": "skip"}))
    assert verdict.ok and verdict.notes == ()


def test_programming_errors_raise(pki: Pki) -> None:
    with pytest.raises(ValueError, match="digest"):
        verify_notation(b"", ENVELOPE_JWS, "r.example/a", "sha256:nope", policy_doc(), TrustStores(), now=NOW)
    with pytest.raises(ValueError, match="timezone"):
        verify_notation(b"", ENVELOPE_JWS, "r.example/a", DIGEST, policy_doc(), TrustStores(),
                        now=datetime(2026, 1, 1))


# ---- loading the trust policy ---------------------------------------------------------------------------


def test_fixture_policy(policy: TrustPolicyDocument) -> None:
    assert [p.name for p in policy.policies] == ["notation-test", "alpine", "signing-authority"]
    assert policy.policies[0].enforcement["expiry"] == "enforce"
    assert dict(policy.policies[1].trusted_identities[0].attributes or {}) == {
        "C": "US", "ST": "WA", "O": "Notary", "CN": "alpine"}


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"version": "2.0"}, "version", ""),
    ({"trustPolicies": []}, "trustPolicies", ""),
    ({"trustPolicies": [{"name": "p"}]}, "trustPolicies[0].registryScopes", "Field required"),
])
def test_policy_shape_errors_name_the_field(tmp_path: Path, change: dict[str, Any], field: str,
                                            words: str) -> None:
    doc = {"version": "1.0", "trustPolicies": [{"name": "p", "registryScopes": ["*"],
                                                "signatureVerification": {"level": "skip"}}], **change}
    path = tmp_path / "trustpolicy.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as caught:
        load_trust_policy(path)
    assert caught.value.problem.file == str(path) and caught.value.problem.field == field
    assert words in str(caught.value)


@pytest.mark.parametrize(("entry", "field", "words"), [
    ({"signatureVerification": {"level": "paranoid"}}, "signatureVerification.level", "'paranoid'"),
    ({"signatureVerification": {"level": "strict", "override": {"integrity": "log"}}},
     "signatureVerification.override", "integrity cannot be overridden"),
    ({"signatureVerification": {"level": "strict", "override": {"expiry": "skip"}}},
     "signatureVerification.override", "cannot be skipped"),
    ({"signatureVerification": {"level": "skip", "override": {"revocation": "log"}}},
     "signatureVerification.override", "cannot be customized"),
    ({"signatureVerification": {"level": "strict", "verifyTimestamp": "never"}},
     "signatureVerification.verifyTimestamp", "always"),
    ({"signatureVerification": {"level": "strict", "surprise": 1}}, "signatureVerification", "surprise"),
    ({"registryScopes": ["*", "r.example/a"]}, "registryScopes", "cannot be used with other scopes"),
    ({"registryScopes": ["r.example/a:latest"]}, "registryScopes", "no tag"),
    ({"registryScopes": ["r.example/*"]}, "registryScopes", "registry/repository"),
    ({"trustStores": ["ca"]}, "trustStores", "TYPE:NAME"),
    ({"trustStores": ["x509:acme"]}, "trustStores", "TYPE:NAME"),
    ({"trustStores": ["ca:../etc"]}, "trustStores", "TYPE:NAME"),
    ({"trustedIdentities": ["x509.subject: C=US, ST=WA, CN=x"]}, "trustedIdentities", "missing ['O']"),
    ({"trustedIdentities": ["x509.subject: C=US, ST=WA, O=a+OU=b"]}, "trustedIdentities", "multi-valued"),
    ({"trustedIdentities": ["x509.subject: C=US, ST=WA, O=a, O=b"]}, "trustedIdentities", "twice"),
    ({"trustedIdentities": ["x509.subject: C=US, ST=WA, O=#0403"]}, "trustedIdentities", ""),
    ({"trustedIdentities": ["*", "x509.subject: C=US, ST=WA, O=a"]}, "trustedIdentities", "wildcard"),
    ({"trustedIdentities": ["x509.subject: C=US, ST=WA, O=a", "x509.subject: C=US, ST=WA, O=a, CN=b"]},
     "trustedIdentities", "overlaps"),
    ({"trustedIdentities": ["plugin.example: x"]}, "trustedIdentities", "plugins"),
    ({"trustedIdentities": []}, "trustStores", "needs both"),
])
def test_policy_semantic_errors(entry: dict[str, Any], field: str, words: str) -> None:
    base = {"name": "p", "registryScopes": ["r.example/a"], "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:acme"], "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme"]}
    raw = json.dumps({"version": "1.0", "trustPolicies": [{**base, **entry}]})
    with pytest.raises(InputError) as caught:
        parse_trust_policy(raw, source="tp.json")
    assert caught.value.problem.field == f"trustPolicies[0].{field}", str(caught.value)
    assert words in str(caught.value)


def test_skip_policy_with_stores_is_refused() -> None:
    raw = json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "p", "registryScopes": ["*"], "signatureVerification": {"level": "skip"},
        "trustStores": ["ca:acme"]}]})
    with pytest.raises(InputError, match="skip verifies nothing"):
        parse_trust_policy(raw)


def test_policy_file_limits(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (1024 * 1024 + 1))
    with pytest.raises(InputError, match="larger than"):
        load_trust_policy(big)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InputError, match="not JSON"):
        load_trust_policy(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_trust_policy(tmp_path / "absent.json")


def test_parse_dn() -> None:
    assert parse_dn(r"C=US, S=WA, O=Acme\, Inc., CN=a\2Bb") == {"C": "US", "ST": "WA", "O": "Acme, Inc.",
                                                                "CN": "a+b"}
    with pytest.raises(ValueError, match="ATTRIBUTE=VALUE"):
        parse_dn("C=US, ST=WA, O=a, junk")


# ---- loading the trust store ----------------------------------------------------------------------------


def test_fixture_store(stores: TrustStores) -> None:
    assert set(stores.stores) == {("ca", "notation-test"), ("ca", "alpine"),
                                  ("signingAuthority", "notation-test")}


def _store_dir(tmp: Path, pki: Pki) -> Path:
    directory = tmp / "x509" / "ca" / "acme"
    directory.mkdir(parents=True)
    (directory / "root.der").write_bytes(pki.root.public_bytes(serialization.Encoding.DER))
    return directory


def test_store_reads_der_and_pem_bundles(pki: Pki, tmp_path: Path) -> None:
    directory = _store_dir(tmp_path, pki)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (pki.root, pki.inter))
    (directory / "bundle.pem").write_bytes(pem)
    assert len(load_trust_store(tmp_path).get("ca", "acme") or ()) == 3


@pytest.mark.parametrize("breakage", ["symlink-file", "symlink-store", "subdir", "leaf", "garbage", "empty",
                                      "huge", "bad-name", "no-x509"])
def test_store_refusals(pki: Pki, tmp_path: Path, breakage: str) -> None:
    directory = _store_dir(tmp_path, pki)
    outside = tmp_path / "outside.pem"
    outside.write_bytes(pki.root.public_bytes(serialization.Encoding.PEM))
    leaf_pem = pki.leaf.public_bytes(serialization.Encoding.PEM)
    actions: dict[str, Callable[[], object]] = {
        "symlink-file": lambda: os.symlink(outside, directory / "link.pem"),
        "symlink-store": lambda: os.symlink(directory, directory.parent / "linked"),
        "subdir": lambda: (directory / "nested").mkdir(),
        "leaf": lambda: (directory / "leaf.pem").write_bytes(leaf_pem),
        "garbage": lambda: (directory / "x.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n"),
        "empty": lambda: (directory.parent / "empty").mkdir(),
        "huge": lambda: (directory / "big.pem").write_bytes(b"0" * (256 * 1024 + 1)),
        "bad-name": lambda: (directory.parent / "bad name").mkdir(),
        "no-x509": lambda: (tmp_path / "x509").rename(tmp_path / "elsewhere"),
    }
    actions[breakage]()
    with pytest.raises(InputError):
        load_trust_store(tmp_path)


def test_store_directory_itself_may_be_a_link(pki: Pki, tmp_path: Path) -> None:
    _store_dir(tmp_path / "real", pki)
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert load_trust_store(tmp_path / "link").get("ca", "acme") is not None
    (tmp_path / "other").mkdir()
    os.symlink(tmp_path / "real" / "x509", tmp_path / "other" / "x509")
    with pytest.raises(InputError, match="no symlinks"):
        load_trust_store(tmp_path / "other")


def test_store_file_count_is_bounded(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gitops.verify.notation as notation

    directory = _store_dir(tmp_path, pki)
    for i in range(3):
        (directory / f"copy{i}.der").write_bytes(pki.root.public_bytes(serialization.Encoding.DER))
    monkeypatch.setattr(notation, "MAX_STORE_FILES", 3)
    with pytest.raises(InputError, match="more than 3"):
        load_trust_store(tmp_path)


def test_time_is_compared_across_zones(pki: Pki, tmp_path: Path) -> None:
    # a signing time with an offset is the same instant as in UTC
    envelope = pki.envelope(header={"io.cncf.notary.signingTime": "2026-06-01T18:00:00+08:00"})
    verdict = verify(envelope, pki.store(tmp_path))
    assert verdict.ok and verdict.signing_time == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert verdict.signing_time is not None and verdict.signing_time - NOW < timedelta(0)


# ---- the signature manifest ----------------------------------------------------------------------------


def _signature_manifest(**changes: Any) -> ImageManifest:
    # the shape of the specification's example (signature-specification.md, "Storage")
    doc: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.cncf.notary.signature", "size": 2,
                   "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
        "layers": [{"mediaType": "application/jose+json", "size": 32654,
                    "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0"}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": DIGEST, "size": 16724},
        "annotations": {"io.cncf.notary.x509chain.thumbprint#S256": "[]"}}
    doc.update(changes)
    manifest = parse_manifest(json.dumps(doc).encode())
    assert isinstance(manifest, ImageManifest)
    return manifest


def test_signature_layer() -> None:
    layer = signature_layer(_signature_manifest(), DIGEST)
    assert not isinstance(layer, NotationVerdict) and layer.media_type == ENVELOPE_JWS
    with_type = _signature_manifest(artifactType="application/vnd.cncf.notary.signature",
                                    config={"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                                            "digest": "sha256:" + "44" * 32})
    assert not isinstance(signature_layer(with_type, DIGEST), NotationVerdict)


@pytest.mark.parametrize(("changes", "code"), [
    ({"artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"}, "not-a-signature"),
    ({"subject": {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "cd" * 32, "size": 1}}, "digest-mismatch"),
    ({"subject": None}, "digest-mismatch"),
    ({"layers": []}, "malformed"),
    ({"layers": [{"mediaType": "application/octet-stream", "size": 1, "digest": DIGEST}]},
     "unsupported-envelope"),
    ({"layers": [{"mediaType": ENVELOPE_JWS, "size": MAX_ENVELOPE_BYTES + 1, "digest": DIGEST}]},
     "too-large"),
])
def test_signature_layer_refusals(changes: dict[str, Any], code: str) -> None:
    verdict = signature_layer(_signature_manifest(**changes), DIGEST)
    assert isinstance(verdict, NotationVerdict) and verdict.code == code
