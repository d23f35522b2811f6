"""Cosign's classic signatures: real signatures made by cosign (../shared/cosign/classic), and our own
made here with ``cryptography`` in cosign's exact format (keys, Rekor SETs, a Fulcio-like CA)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitops.errors import InputError
from gitops.verify import cosign
from gitops.verify.cosign import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    FulcioCA,
    Identity,
    RekorKey,
    SignatureLayer,
    TrustRoot,
    Verdict,
)
from gitops.verify.keys import VerificationKey, accept_key, load_public_key

Shared = Callable[[str], Path]
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def fixture_bytes(path: Path) -> bytes:
    """The fixtures were a Git checkout whose symlinks arrived as files holding the link text
    (``../dir-img-cosign-valid/signature-1``): follow such a link when its target is there."""
    data = path.read_bytes()
    if data.startswith(b"../") and len(data) < 200:
        target = path.parent / data.decode().strip()
        if target.exists():
            return target.read_bytes()
    return data


def image_digest(directory: Path) -> str:
    return "sha256:" + hashlib.sha256(fixture_bytes(directory / "manifest.json")).hexdigest()


def layers(directory: Path) -> list[SignatureLayer]:
    found = []
    for path in sorted(directory.glob("signature-*")):
        layer = cosign.parse_signature_file(fixture_bytes(path))
        assert isinstance(layer, SignatureLayer), layer
        found.append(layer)
    assert found
    return found


# ---- the real cosign fixtures -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dir-img-cosign-valid", "dir-img-cosign-valid-2"])
def test_cosign_signatures_verify_with_their_key_and_not_another(shared: Shared, name: str) -> None:
    directory = shared(f"cosign/classic/{name}")
    key = load_public_key(shared("cosign/classic/cosign.pub").read_bytes(), source="cosign.pub")
    other = load_public_key(shared("cosign/classic/cosign2.pub").read_bytes(), source="cosign2.pub")
    assert key.algorithm == "ecdsa-p256"
    for layer in layers(directory):
        verdict = cosign.verify_layer(layer, image_digest(directory), key=key)
        assert verdict.ok, verdict
        assert verdict.code == "verified" and verdict.signer == key.fingerprint
        wrong = cosign.verify_layer(layer, image_digest(directory), key=other)
        assert not wrong.ok and wrong.code == "bad-signature"
        assert other.fingerprint in wrong.reason


@pytest.mark.parametrize("name", ["dir-img-cosign-manifest-digest-error", "dir-img-cosign-modified-manifest"])
def test_a_signature_for_another_manifest_fails_for_the_digest(shared: Shared, name: str) -> None:
    # (manifest-digest-error's manifest links to a file the fixtures lack: its digest is then that of
    # the link's text, still not the digest the signature names, which is the point of the case)
    directory = shared(f"cosign/classic/{name}")
    key = load_public_key(shared("cosign/classic/cosign.pub").read_bytes())
    for layer in layers(directory):
        verdict = cosign.verify_layer(layer, image_digest(directory), key=key)
        assert not verdict.ok and verdict.code == "digest-mismatch", verdict
        assert image_digest(directory) in verdict.reason


def test_a_signature_by_an_unknown_key_fails(shared: Shared) -> None:
    layer = cosign.parse_signature_file(shared("cosign/classic/unknown-cosign-key.signature").read_bytes())
    assert isinstance(layer, SignatureLayer)
    claimed = json.loads(layer.payload)["critical"]["image"]["docker-manifest-digest"]
    for pub in ("cosign.pub", "cosign2.pub"):
        key = load_public_key(shared(f"cosign/classic/{pub}").read_bytes())
        verdict = cosign.verify_layer(layer, claimed, key=key)
        assert not verdict.ok and verdict.code == "bad-signature"


def test_a_tampered_payload_fails(shared: Shared) -> None:
    directory = shared("cosign/classic/dir-img-cosign-valid")
    key = load_public_key(shared("cosign/classic/cosign.pub").read_bytes())
    layer = layers(directory)[0]
    tampered = layer.payload.replace(b"192.168.64.2", b"192.168.64.3")
    assert tampered != layer.payload
    verdict = cosign.verify_classic(tampered, layer.signature, image_digest(directory), key)
    assert not verdict.ok and verdict.code == "bad-signature"
    # one more space is a different payload too: the signature is over the exact bytes
    verdict = cosign.verify_classic(layer.payload + b" ", layer.signature, image_digest(directory), key)
    assert verdict.code == "bad-signature"


# ---- our own keys, in cosign's format -----------------------------------------------------------


def payload_for(digest: str, *, kind: str = cosign.COSIGN_SIGNATURE_TYPE) -> bytes:
    return json.dumps({"critical": {"identity": {"docker-reference": "registry.example/app"},
                                    "image": {"docker-manifest-digest": digest}, "type": kind},
                       "optional": None}, separators=(",", ":")).encode()


PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def sign(private: PrivateKey, data: bytes, algorithm: hashes.HashAlgorithm | None = None) -> str:
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return base64.b64encode(private.sign(data)).decode()
    return base64.b64encode(private.sign(data, ec.ECDSA(algorithm or hashes.SHA256()))).decode()


def public(private: PrivateKey) -> VerificationKey:
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return load_public_key(pem, source="test.pub")


@pytest.fixture(scope="module")
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def edkey() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def test_our_p256_and_ed25519_signatures_verify_and_fail_with_the_other_key(
        p256: ec.EllipticCurvePrivateKey, edkey: ed25519.Ed25519PrivateKey) -> None:
    payload = payload_for(DIGEST)
    for signer, other in ((p256, edkey), (edkey, p256)):
        verdict = cosign.verify_classic(payload, sign(signer, payload), DIGEST, public(signer))
        assert verdict.ok and verdict.signer == public(signer).fingerprint
        assert cosign.verify_classic(payload, sign(signer, payload), DIGEST, public(other)).code \
            == "bad-signature"
        assert cosign.verify_classic(payload, sign(signer, payload), OTHER, public(signer)).code \
            == "digest-mismatch"
    assert public(edkey).algorithm == "ed25519"


def test_p384_signs_with_sha384_as_cosign_does_and_with_sha256_as_cosign_2_did() -> None:
    private = ec.generate_private_key(ec.SECP384R1())
    payload = payload_for(DIGEST)
    assert public(private).algorithm == "ecdsa-p384"
    key = public(private)
    assert cosign.verify_classic(payload, sign(private, payload, hashes.SHA384()), DIGEST, key).ok
    assert cosign.verify_classic(payload, sign(private, payload, hashes.SHA256()), DIGEST, key).ok
    assert not cosign.verify_classic(payload, sign(private, payload, hashes.SHA512()), DIGEST, key)


def test_keys_we_refuse_are_refused_when_loaded() -> None:
    def pem(key: object) -> bytes:
        return key.public_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined, no-any-return]
                                serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(InputError, match="RSA key of 1024 bits is too short"):
        load_public_key(pem(rsa.generate_private_key(65537, 1024).public_key()), source="short.pub")
    with pytest.raises(InputError, match="unsupported elliptic curve secp521r1"):
        load_public_key(pem(ec.generate_private_key(ec.SECP521R1()).public_key()))
    with pytest.raises(InputError, match="unsupported elliptic curve secp256k1"):
        load_public_key(pem(ec.generate_private_key(ec.SECP256K1()).public_key()))
    with pytest.raises(InputError, match="not a PEM public key") as caught:
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n", source="k.pub")
    assert caught.value.problem.file == "k.pub"
    private_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(InputError, match="private key"):
        load_public_key(private_pem)
    assert load_public_key(pem(rsa.generate_private_key(65537, 2048).public_key())).algorithm == "rsa-2048"


# ---- hostile input --------------------------------------------------------------------------------


def test_a_huge_payload_is_refused_before_any_signature_check(p256: ec.EllipticCurvePrivateKey,
                                                               forbid: Callable[..., list[str]]) -> None:
    huge = b"{" + b" " * cosign.MAX_PAYLOAD_BYTES + b"}"
    called = forbid((VerificationKey, "verifies"))
    verdict = cosign.verify_classic(huge, "AAAA", DIGEST, public(p256))
    assert not verdict.ok and verdict.code == "too-large"
    assert called == []
    assert cosign.parse_layer(huge, {SIGNATURE_ANNOTATION: "AAAA"}).code == "too-large"  # type: ignore[union-attr]


def test_a_signed_payload_that_is_not_json_or_not_cosigns_type_fails(
        p256: ec.EllipticCurvePrivateKey) -> None:
    key = public(p256)
    for payload, words in ((b"\xff\xfe not json", "not JSON"), (b"[1, 2]", "no 'critical'"),
                           (payload_for(DIGEST, kind="atomic container signature"), "payload type"),
                           (b'{"critical": {"type": "cosign container image signature"}}',
                            "docker-manifest-digest")):
        verdict = cosign.verify_classic(payload, sign(p256, payload), DIGEST, key)
        assert not verdict.ok and verdict.code == "bad-payload", (payload, verdict)
        assert words in verdict.reason


@pytest.mark.parametrize("garbage", ["", "not base64!", "QUJD=extra",
                                     "A" * (cosign.MAX_ANNOTATION_BYTES + 4)])
def test_base64_garbage_for_a_signature_fails(p256: ec.EllipticCurvePrivateKey, garbage: str) -> None:
    verdict = cosign.verify_classic(payload_for(DIGEST), garbage, DIGEST, public(p256))
    assert not verdict.ok and verdict.code == "malformed"


def test_an_invalid_der_signature_is_a_bad_signature(p256: ec.EllipticCurvePrivateKey) -> None:
    verdict = cosign.verify_classic(payload_for(DIGEST), base64.b64encode(b"\x30\x00").decode(), DIGEST,
                                    public(p256))
    assert verdict.code == "bad-signature"


def test_layers_without_a_signature_or_of_another_type_are_rejected() -> None:
    assert cosign.parse_layer(b"{}", {}).code == "unsigned"  # type: ignore[union-attr]
    assert cosign.parse_layer(b"{}", {SIGNATURE_ANNOTATION: "AAAA"},
                              "application/octet-stream").code == "not-a-signature"  # type: ignore[union-attr]
    assert cosign.parse_signature_file(b"{}").code == "malformed"  # type: ignore[union-attr]
    assert cosign.parse_signature_file(cosign.FILE_MAGIC + b"{").code == "malformed"  # type: ignore[union-attr]
    assert cosign.parse_signature_file(cosign.FILE_MAGIC + b'{"payload": "!!"}').code \
        == "malformed"  # type: ignore[union-attr]


def test_a_signed_nesting_bomb_is_a_bad_payload_not_a_crash(p256: ec.EllipticCurvePrivateKey) -> None:
    bomb = b"[" * 200_000
    assert cosign.verify_classic(bomb, sign(p256, bomb), DIGEST, public(p256)).code == "bad-payload"
    assert cosign.parse_signature_file(cosign.FILE_MAGIC + bomb).code == "malformed"  # type: ignore[union-attr]


def test_a_digest_that_is_not_one_is_a_programming_error(p256: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError, match="not sha256"):
        cosign.verify_classic(payload_for(DIGEST), "AAAA", "latest", public(p256))


# ---- the transparency log: SETs from a Rekor key of our own ---------------------------------------


@dataclass
class Rekor:
    private: ec.EllipticCurvePrivateKey
    log_id: str

    def bundle(self, payload: bytes, signature_b64: str, verifier_pem: bytes, *, when: int = 1_700_000_000,
               tamper: Callable[[dict[str, object]], None] | None = None) -> str:
        body = {"apiVersion": "0.0.1", "kind": "hashedrekord",
                "spec": {"data": {"hash": {"algorithm": "sha256",
                                           "value": hashlib.sha256(payload).hexdigest()}},
                         "signature": {"content": signature_b64,
                                       "publicKey": {"content": base64.b64encode(verifier_pem).decode()}}}}
        if tamper is not None:
            tamper(body)
        entry = {"body": base64.b64encode(json.dumps(body).encode()).decode(), "integratedTime": when,
                 "logIndex": 42, "logID": self.log_id}
        canonical = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        signed = self.private.sign(canonical, ec.ECDSA(hashes.SHA256()))
        return json.dumps({"SignedEntryTimestamp": base64.b64encode(signed).decode(), "Payload": entry})


@pytest.fixture(scope="module")
def rekor() -> Rekor:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return Rekor(private, hashlib.sha256(der).hexdigest())


def trust_with(rekor: Rekor, fulcio: tuple[FulcioCA, ...] = ()) -> TrustRoot:
    always = cosign._Validity(None, None)
    return TrustRoot((RekorKey(rekor.log_id, rekor.private.public_key(), always),), fulcio)


def key_pem(private: PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


def test_a_set_from_the_trusted_log_is_verified_and_gives_the_integrated_time(
        rekor: Rekor, p256: ec.EllipticCurvePrivateKey) -> None:
    payload = payload_for(DIGEST)
    signature = sign(p256, payload)
    verdict = cosign.verify_classic(payload, signature, DIGEST, public(p256), trust=trust_with(rekor),
                                    require_tlog=True, bundle=rekor.bundle(payload, signature, key_pem(p256)))
    assert verdict.ok, verdict
    assert verdict.integrated_time == datetime.fromtimestamp(1_700_000_000, UTC)


def test_the_transparency_log_when_required_is_required_and_checked(
        rekor: Rekor, p256: ec.EllipticCurvePrivateKey, edkey: ed25519.Ed25519PrivateKey) -> None:
    payload = payload_for(DIGEST)
    signature = sign(p256, payload)
    trust = trust_with(rekor)

    def check(bundle: str | None) -> Verdict:
        return cosign.verify_classic(payload, signature, DIGEST, public(p256), bundle=bundle, trust=trust,
                                     require_tlog=True)

    assert check(None).code == "no-tlog"
    assert check("{not json").code == "bad-tlog"
    good = json.loads(rekor.bundle(payload, signature, key_pem(p256)))
    forged = dict(good, Payload=dict(good["Payload"], integratedTime=1_800_000_000))
    assert "does not verify" in check(json.dumps(forged)).reason
    other_log = dict(good, Payload=dict(good["Payload"], logID="00" * 32))
    assert "not a transparency log of the trusted root" in check(json.dumps(other_log)).reason
    # the public-good root does not know our test log
    assert cosign.verify_classic(payload, signature, DIGEST, public(p256), bundle=json.dumps(good),
                                 trust=TrustRoot.public_good(), require_tlog=True).code == "bad-tlog"
    # a correctly signed entry that is about something else
    other_key = rekor.bundle(payload, signature, key_pem(edkey))
    assert "public key is not the verifying key" in check(other_key).reason
    other_payload = rekor.bundle(payload + b" ", signature, key_pem(p256))
    assert "hash is not the payload's sha256" in check(other_payload).reason
    other_signature = rekor.bundle(payload, sign(p256, payload), key_pem(p256))  # ECDSA: a new signature
    assert "signature is not this signature" in check(other_signature).reason

    def rekord(body: dict[str, object]) -> None:
        body["kind"] = "rekord"
    assert check(rekor.bundle(payload, signature, key_pem(p256), tamper=rekord)).code == "tlog-mismatch"
    # hostile annotations: a nesting bomb, times that are not times, fields of the wrong types
    assert check("[" * 100_000).code == "bad-tlog"
    assert "longer than" in check(" " * (cosign.MAX_ANNOTATION_BYTES + 1)).reason
    for when in (2**70, -(2**70)):
        hostile = dict(good, Payload=dict(good["Payload"], integratedTime=when))
        assert check(json.dumps(hostile)).code == "bad-tlog"
    for field, value in (("integratedTime", "1700000000"), ("logIndex", 1.5), ("body", None), ("logID", 7)):
        wrong = dict(good, Payload=dict(good["Payload"], **{field: value}))
        assert check(json.dumps(wrong)).code == "bad-tlog"
    assert check(json.dumps(dict(good, SignedEntryTimestamp="!!"))).code == "bad-tlog"
    # not asked: the annotation is not looked at
    assert cosign.verify_classic(payload, signature, DIGEST, public(p256), bundle="{not json").ok


def test_the_pinned_public_good_root_loads() -> None:
    root = TrustRoot.public_good()
    assert [k.log_id for k in root.rekor_keys] == [
        base64.b64decode("wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=").hex()]
    assert len(root.fulcio) == 2
    with pytest.raises(InputError, match="not a Sigstore trusted root"):
        TrustRoot.from_json(b'{"tlogs": [{"publicKey": {}}]}', source="root.json")


# ---- keyless: a Fulcio-like CA of our own --------------------------------------------------------


@dataclass
class Fulcio:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate

    def leaf(self, private: ec.EllipticCurvePrivateKey, *, email: str, issuer: str,
             code_signing: bool = True, start: datetime) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([]))
                   .issuer_name(self.root.subject)
                   .public_key(private.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + timedelta(minutes=10))
                   .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=True)
                   .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING if code_signing
                                                         else ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                  critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()),
                                  critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()),
                                  critical=False)
                   .add_extension(x509.UnrecognizedExtension(
                       cosign.OID_ISSUER_V2, b"\x0c" + bytes([len(issuer)]) + issuer.encode()),
                       critical=False))
        return builder.sign(self.root_key, hashes.SHA256())


@pytest.fixture(scope="module")
def fulcio() -> Fulcio:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "test-fulcio")])
    start = datetime(2023, 1, 1, tzinfo=UTC)
    root = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA384()))
    return Fulcio(key, root)


def test_keyless_signatures_verify_identity_issuer_chain_and_log(
        rekor: Rekor, fulcio: Fulcio, p256: ec.EllipticCurvePrivateKey) -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    cert = fulcio.leaf(p256, email="dev@example.com", issuer="https://accounts.example.com",
                       start=when - timedelta(minutes=1))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    payload = payload_for(DIGEST)
    signature = sign(p256, payload)
    bundle = rekor.bundle(payload, signature, cert_pem, when=int(when.timestamp()))
    trust = trust_with(rekor, (FulcioCA((fulcio.root,), cosign._Validity(None, None)),))
    layer = cosign.parse_layer(payload, {SIGNATURE_ANNOTATION: signature, BUNDLE_ANNOTATION: bundle,
                                         CERTIFICATE_ANNOTATION: cert_pem.decode()})
    assert isinstance(layer, SignatureLayer)

    def check(identity: Identity, **changes: object) -> Verdict:
        fields = {"certificate": layer.certificate, "chain": None, "bundle": layer.bundle,
                  "identity": identity, "trust": trust, **changes}
        return cosign.verify_keyless(payload, signature, DIGEST, **fields)  # type: ignore[arg-type]

    exact = Identity(subject="dev@example.com", issuer="https://accounts.example.com")
    verdict = cosign.verify_layer(layer, DIGEST, identity=exact, trust=trust)
    assert verdict.ok, verdict
    assert (verdict.signer, verdict.issuer, verdict.integrated_time) == (
        "dev@example.com", "https://accounts.example.com", when)
    assert check(Identity(subject_regex=r".*@example\.com", issuer_regex=r"https://accounts\..*")).ok
    assert check(Identity(subject="ops@example.com", issuer="https://accounts.example.com")).code \
        == "identity-mismatch"
    assert check(Identity(subject="dev@example.com", issuer="https://other.example.com")).code \
        == "identity-mismatch"
    # fullmatch: a regex matching only part of the identity is no match
    assert check(Identity(subject_regex=r"dev@example", issuer="https://accounts.example.com")).code \
        == "identity-mismatch"
    assert check(exact, bundle=None).code == "no-tlog"
    assert check(exact, certificate=None).code == "no-certificate"
    # signed after the certificate expired (by the log's clock)
    late = rekor.bundle(payload, signature, cert_pem, when=int((when + timedelta(hours=1)).timestamp()))
    assert check(exact, bundle=late).code == "bad-certificate"
    # a CA the trusted root does not have
    assert check(exact, trust=trust_with(rekor)).code == "bad-certificate"
    # a certificate not for code signing
    mail = fulcio.leaf(p256, email="dev@example.com", issuer="https://accounts.example.com",
                       code_signing=False, start=when - timedelta(minutes=1))
    mail_pem = mail.public_bytes(serialization.Encoding.PEM)
    assert check(exact, certificate=mail_pem.decode(),
                 bundle=rekor.bundle(payload, signature, mail_pem, when=int(when.timestamp()))).code \
        == "bad-certificate"
    # the log holds another certificate
    assert "certificate is not the signing certificate" in check(exact, bundle=rekor.bundle(
        payload, signature, mail_pem, when=int(when.timestamp()))).reason
    assert check(exact, certificate="garbage").code == "bad-certificate"


def test_an_identity_must_say_who_and_by_whom() -> None:
    with pytest.raises(ValueError, match="subject"):
        Identity(issuer="https://accounts.example.com")
    with pytest.raises(ValueError, match="issuer"):
        Identity(subject="a@b.c", issuer="x", issuer_regex="y")


def test_accept_key_takes_a_key_object(edkey: ed25519.Ed25519PrivateKey) -> None:
    assert accept_key(edkey.public_key()).fingerprint == public(edkey).fingerprint


# RFC 8032, section 7.3: the Ed25519ph test vector ("abc")
ED25519PH_PUBLIC = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
ED25519PH_SIGNATURE = bytes.fromhex(
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406")


def test_ed25519ph_verifies_rfc_8032s_vector_and_nothing_else() -> None:
    from gitops.verify.keys import ed25519ph_verifies
    assert ed25519ph_verifies(ED25519PH_PUBLIC, ED25519PH_SIGNATURE, b"abc")
    assert not ed25519ph_verifies(ED25519PH_PUBLIC, ED25519PH_SIGNATURE, b"abd")
    flipped = bytes([ED25519PH_SIGNATURE[0] ^ 1]) + ED25519PH_SIGNATURE[1:]
    assert not ed25519ph_verifies(ED25519PH_PUBLIC, flipped, b"abc")
    # S + L is the same scalar, refused as non-canonical (signature malleability)
    s = int.from_bytes(ED25519PH_SIGNATURE[32:], "little") + 2**252 + 27742317777372353535851937790883648493
    malleated = ED25519PH_SIGNATURE[:32] + s.to_bytes(32, "little")
    assert not ed25519ph_verifies(ED25519PH_PUBLIC, malleated, b"abc")
    for public, signature in ((ED25519PH_PUBLIC[:31], ED25519PH_SIGNATURE), (ED25519PH_PUBLIC, b""),
                              (b"\xff" * 32, ED25519PH_SIGNATURE), (b"\x00" * 32, b"\x00" * 64)):
        assert not ed25519ph_verifies(public, signature, b"abc")
    key = accept_key(ed25519.Ed25519PublicKey.from_public_bytes(ED25519PH_PUBLIC))
    assert key.verifies(ED25519PH_SIGNATURE, b"abc") and not key.verifies(ED25519PH_SIGNATURE, b"abcd")


def test_a_pure_ed25519_signature_is_not_taken_for_ed25519ph(edkey: ed25519.Ed25519PrivateKey) -> None:
    from gitops.verify.keys import ed25519ph_verifies
    raw = edkey.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pure = edkey.sign(b"payload")
    assert accept_key(edkey.public_key()).verifies(pure, b"payload")
    assert not ed25519ph_verifies(raw, pure, b"payload")
