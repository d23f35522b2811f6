"""Notation signatures: real envelopes from notation-go (data/notation/README.md) and chains made here."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitops.config.verification import NotationTrustPolicyDocument
from gitops.errors import InputError
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


def test_real_cose_is_not_supported_yet(policy: TrustPolicyDocument, stores: TrustStores) -> None:
    verdict = verify_notation(real("cose_signature.sig"), ENVELOPE_COSE, "localhost:5000/alpine",
                              ALPINE_DIGEST, policy, stores, now=NOW)
    assert not verdict.ok and verdict.code == "unsupported-envelope"
    assert "COSE envelopes are not supported yet" in verdict.reason
    verdict = verify_notation(real("ca_valid_sig_env.json"), "application/json", "localhost:5000/alpine",
                              ALPINE_DIGEST, policy, stores, now=NOW)
    assert verdict.code == "unsupported-envelope"


# ---- chains made here ---------------------------------------------------------------------------------


def _name(cn: str, org: str = "Acme") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
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
