"""Notary Project signatures made by notation-go v1.3.2 itself, verified by our ImageVerifier.

The signer is tools/go/notation-sign (built by tests/gotools.py from the Go module proxy): a small
program calling the library the notation CLI is built on — ``signer.NewGenericSigner``,
``registry.NewRepository`` over oras-go and ``notation.Sign`` — because the CLI module itself is not
served by the proxy. It signs images pushed to Debian's real docker-registry 2.8.2 in JWS and COSE,
and pushes the signature manifest as notation does: the registry has no referrers API, so oras-go
falls back to the referrers tag ``sha256-<hex>``, which our registry client reads.

The certificates are made here with ``cryptography`` (a root CA, an intermediate, a code-signing leaf,
ECDSA P-256 or RSA 3072), valid around the real time because notation-go signs at ``time.Now()``; the
verifier's clock is a ManualClock, moved past the signature's expiry where a test needs it (no sleeps).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitops.clock import ManualClock
from gitops.config.verification import VerificationPolicy
from gitops.verify import cose
from gitops.verify.evaluate import ImageVerdict, ImageVerifier
from gitops.verify.notation import (
    ENVELOPE_COSE,
    ENVELOPE_JWS,
    SIGNATURE_ARTIFACT_TYPE,
    THUMBPRINT_ANNOTATION,
    load_trust_policy,
    load_trust_store,
    signature_layer,
    verify_notation,
)
from gitops.verify.ocitypes import OCI_INDEX, OCI_MANIFEST, Descriptor, ImageManifest, referrers_tag
from gitops.verify.policy import image_check
from gitops.verify.reference import parse
from gitops.verify.registry import RegistryClient, RegistryOptions
from tests.gotools import go_tool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry_kit import Pushed, Pusher, Registry

MEDIA_TYPES = {"jws": ENVELOPE_JWS, "cose": ENVELOPE_COSE}
IDENTITY = "x509.subject: C=US, ST=WA, O=Acme, CN=builder"
# notation-go signs now: certificates valid around the real time, from a fixed point read once
NOW = datetime.now(UTC).replace(microsecond=0)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


_USAGE = {name: False for name in ("digital_signature", "content_commitment", "key_encipherment",
                                   "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                                   "encipher_only", "decipher_only")}
Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _issue(subject: str, key: Key, issuer: str, issuer_key: Key, *, ca: bool) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              False))
    if ca:
        builder = (builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                   .add_extension(x509.KeyUsage(**{**_USAGE, "key_cert_sign": True, "crl_sign": True}), True))
    else:
        builder = (builder.add_extension(x509.KeyUsage(**{**_USAGE, "digital_signature": True}), True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False))
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Ca:
    """A test CA: root and intermediate (ECDSA P-256) and a code-signing leaf ``CN=builder``, written as
    the signer's files (``key.pem``, ``chain.pem``: leaf, intermediate, root) and as a Notation trust
    store (``store/x509/ca/acme/root.pem``)."""

    directory: Path
    chain: tuple[x509.Certificate, ...]

    @classmethod
    def make(cls, directory: Path, leaf_key: Key | None = None) -> Ca:
        root_key, inter_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        leaf_key = leaf_key or ec.generate_private_key(ec.SECP256R1())
        root = _issue("Acme Root", root_key, "Acme Root", root_key, ca=True)
        inter = _issue("Acme Intermediate", inter_key, "Acme Root", root_key, ca=True)
        leaf = _issue("builder", leaf_key, "Acme Intermediate", inter_key, ca=False)
        directory.mkdir(parents=True)
        (directory / "key.pem").write_bytes(leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (directory / "chain.pem").write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                                                       for c in (leaf, inter, root)))
        store = directory / "store" / "x509" / "ca" / "acme"
        store.mkdir(parents=True)
        (store / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
        return cls(directory, (leaf, inter, root))

    @property
    def store(self) -> Path:
        return self.directory / "store"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def notation_sign() -> Path:
    return go_tool("notation-sign")


@pytest.fixture
def client(registry: Registry) -> Iterator[RegistryClient]:
    with RegistryClient({registry.host: RegistryOptions(plain_http=True)}) as opened:
        yield opened


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Ca:
    return Ca.make(tmp_path_factory.mktemp("ca") / "acme")


def sign(tool: Path, registry: Registry, repository: str, image: Pushed, ca: Ca, fmt: str,
         *extra: str) -> None:
    """``notation sign``, by notation-go: the image by digest, over plain HTTP, with the CA's leaf."""
    proc = subprocess.run([str(tool), "--reference", f"{registry.host}/{repository}@{image.digest}",
                           "--plain-http", "--key", str(ca.directory / "key.pem"),
                           "--cert", str(ca.directory / "chain.pem"), "--signature-format", fmt, *extra],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == image.digest


def trust_policy(directory: Path, scope: str, *, level: str = "strict",
                 identities: tuple[str, ...] = (IDENTITY,)) -> Path:
    path = directory / f"trustpolicy-{level}.json"
    path.write_text(json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "acme", "registryScopes": [scope], "signatureVerification": {"level": level},
        "trustStores": ["ca:acme"], "trustedIdentities": list(identities)}]}))
    return path


def verify(client: RegistryClient, ref: str, policy_file: Path, store: Path, *,
           at: datetime = NOW) -> ImageVerdict:
    """Our ImageVerifier with one ``notation`` rule, its clock at ``at``."""
    rule = {"name": "n", "images": ["**"],
            "notation": {"trustPolicy": str(policy_file), "trustStore": str(store)}}
    policy = VerificationPolicy.model_validate({"name": "p", "rules": [rule]})
    return ImageVerifier([policy], client, clock=ManualClock(start=at.timestamp())).verify_image(parse(ref))


def envelopes(client: RegistryClient, registry: Registry, repository: str,
              image: Pushed) -> list[tuple[bytes, str]]:
    """The signature envelopes the registry holds for ``image``, found as our verifier finds them."""
    found = []
    for descriptor in client.referrers(registry.host, repository, image.digest, SIGNATURE_ARTIFACT_TYPE):
        manifest = client.get_manifest(registry.host, repository, descriptor.digest).parse()
        assert isinstance(manifest, ImageManifest)
        layer = signature_layer(manifest, image.digest)
        assert isinstance(layer, Descriptor), layer
        found.append((client.get_blob(registry.host, repository, layer.digest), layer.media_type))
    return found


@pytest.mark.parametrize("fmt", ["jws", "cose"])
def test_notation_go_signatures_verify(notation_sign: Path, registry: Registry, pusher: Pusher,
                                       client: RegistryClient, ca: Ca, tmp_path: Path, fmt: str) -> None:
    repository = f"team/signed-{fmt}"
    image = pusher.image(repository, "v1")
    sign(notation_sign, registry, repository, image, ca, fmt, "--user-metadata", "buildId=42")
    policy_file = trust_policy(tmp_path, f"{registry.host}/{repository}")
    verdict = verify(client, f"{registry.host}/{repository}:v1", policy_file, ca.store)
    assert verdict.status == "verified", verdict.reasons
    assert verdict.digest == image.digest and verdict.signers == ("CN=builder,O=Acme,ST=WA,C=US",)
    # the signature manifest as notation pushes it: a referrer of the image, listed in the referrers tag
    # (docker-registry 2.8 has no referrers API), with the chain's thumbprints and one envelope layer
    index = client.get_manifest(registry.host, repository, referrers_tag(image.digest))
    assert index.media_type == OCI_INDEX
    (descriptor,) = client.referrers(registry.host, repository, image.digest, SIGNATURE_ARTIFACT_TYPE)
    thumbprints = [hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in ca.chain]
    assert json.loads(descriptor.annotations[THUMBPRINT_ANNOTATION]) == thumbprints
    ((envelope, media_type),) = envelopes(client, registry, repository, image)
    assert media_type == MEDIA_TYPES[fmt]
    # what notation-go signed: the image's descriptor, with the user metadata as annotations
    signed = (_b64url_decode(json.loads(envelope)["payload"]) if fmt == "jws"
              else cose.parse_cose(envelope).payload)
    assert json.loads(signed) == {"targetArtifact": {"mediaType": OCI_MANIFEST, "digest": image.digest,
                                                     "size": len(image.data),
                                                     "annotations": {"buildId": "42"}}}


def test_rsa_leaf_and_forced_referrers_tag(notation_sign: Path, registry: Registry, pusher: Pusher,
                                           client: RegistryClient, tmp_path: Path) -> None:
    # an RSA 3072 leaf signs PS384; --force-referrers-tag skips the referrers API probe
    rsa_ca = Ca.make(tmp_path / "rsa", rsa.generate_private_key(public_exponent=65537, key_size=3072))
    repository = "team/signed-rsa"
    image = pusher.image(repository, "v1")
    for fmt in ("jws", "cose"):
        sign(notation_sign, registry, repository, image, rsa_ca, fmt, "--force-referrers-tag")
    found = envelopes(client, registry, repository, image)
    assert sorted(media_type for _, media_type in found) == [ENVELOPE_COSE, ENVELOPE_JWS]
    policy = load_trust_policy(trust_policy(tmp_path, f"{registry.host}/{repository}"))
    stores = load_trust_store(rsa_ca.store)
    for envelope, media_type in found:
        verdict = verify_notation(envelope, media_type, f"{registry.host}/{repository}", image.digest,
                                  policy, stores, now=NOW, image_media_type=OCI_MANIFEST)
        assert verdict.ok, (media_type, verdict.reason)
    assert json.loads(_b64url_decode(json.loads(
        next(e for e, m in found if m == ENVELOPE_JWS))["protected"]))["alg"] == "PS384"
    assert cose.parse_cose(next(e for e, m in found if m == ENVELOPE_COSE)).protected["alg"] == "PS384"


@pytest.mark.parametrize("fmt", ["jws", "cose"])
def test_tampered_envelopes_are_refused(notation_sign: Path, registry: Registry, pusher: Pusher,
                                        client: RegistryClient, ca: Ca, tmp_path: Path, fmt: str) -> None:
    repository = f"team/tampered-{fmt}"
    image = pusher.image(repository, "v1")
    other = pusher.image(repository, "v2", label="other")
    sign(notation_sign, registry, repository, image, ca, fmt)
    ((envelope, media_type),) = envelopes(client, registry, repository, image)
    policy = load_trust_policy(trust_policy(tmp_path, f"{registry.host}/{repository}"))
    stores = load_trust_store(ca.store)

    def judge(data: bytes, digest: str = image.digest) -> tuple[str, str]:
        verdict = verify_notation(data, media_type, f"{registry.host}/{repository}", digest, policy, stores,
                                  now=NOW)
        return verdict.code, verdict.reason

    assert judge(envelope)[0] == "verified"
    # the payload swapped for one naming the other image, the signature kept
    claim = json.dumps({"targetArtifact": {"mediaType": OCI_MANIFEST, "digest": other.digest,
                                           "size": len(other.data)}}).encode()
    if fmt == "jws":
        doc = json.loads(envelope)
        swapped = json.dumps({**doc, "payload": _b64url(claim)}).encode()
        protected = json.loads(_b64url_decode(doc["protected"]))
        later = {**protected, "io.cncf.notary.signingTime": (NOW + timedelta(days=1)).isoformat()}
        resigned_header = json.dumps({**doc, "protected": _b64url(json.dumps(later).encode())}).encode()
    else:
        item = cbor2.loads(envelope, semantic_decoders={1: lambda value, _: cbor2.CBORTag(1, value)})
        raw, unprotected, payload, signature = item.value
        swapped = cbor2.dumps(cbor2.CBORTag(18, [raw, dict(unprotected), claim, signature]))
        header = cbor2.loads(raw, semantic_decoders={1: lambda value, _: cbor2.CBORTag(1, value)})
        header["io.cncf.notary.signingTime"] = cbor2.CBORTag(1, int((NOW + timedelta(days=1)).timestamp()))
        resigned_header = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(header), dict(unprotected), payload,
                                                         signature]))
    assert judge(swapped, other.digest)[0] == "bad-signature"
    assert judge(resigned_header)[0] == "bad-signature"
    # the real envelope for another image: its payload names this one
    code, reason = judge(envelope, other.digest)
    assert code == "digest-mismatch" and reason.endswith(f"not the image {other.digest}")


@pytest.mark.parametrize("fmt", ["jws", "cose"])
def test_chain_outside_the_trust_store_is_refused(notation_sign: Path, registry: Registry, pusher: Pusher,
                                                  client: RegistryClient, ca: Ca, tmp_path: Path,
                                                  fmt: str) -> None:
    repository = f"team/untrusted-{fmt}"
    image = pusher.image(repository, "v1")
    sign(notation_sign, registry, repository, image, ca, fmt)
    stranger = Ca.make(tmp_path / "stranger")  # same names, other keys: its root is what the store trusts
    verdict = verify(client, f"{registry.host}/{repository}:v1",
                     trust_policy(tmp_path, f"{registry.host}/{repository}"), stranger.store)
    assert verdict.status == "refused"
    (reason,) = verdict.reasons
    assert "signature 0: untrusted: the certificate chain does not lead to a certificate of trust store(s) " \
           "ca:acme" in reason


@pytest.mark.parametrize("fmt", ["jws", "cose"])
def test_identity_mismatch_refused_strict_logged_audit(notation_sign: Path, registry: Registry,
                                                       pusher: Pusher, client: RegistryClient, ca: Ca,
                                                       tmp_path: Path, fmt: str) -> None:
    repository = f"team/identity-{fmt}"
    image = pusher.image(repository, "v1")
    sign(notation_sign, registry, repository, image, ca, fmt)
    ref, scope = f"{registry.host}/{repository}:v1", f"{registry.host}/{repository}"
    other = ("x509.subject: C=US, ST=WA, O=Acme, CN=release bot",)
    strict = verify(client, ref, trust_policy(tmp_path, scope, identities=other), ca.store)
    assert strict.status == "refused"
    assert "identity-mismatch: signer 'CN=builder,O=Acme,ST=WA,C=US' is none of the trusted identities" \
        in strict.reasons[0]
    # audit logs authenticity (a note in the requirement's reason) and still verifies integrity: the
    # image is allowed, warned, and the logged check is its warning, shown in the target's status
    audit = verify(client, ref, trust_policy(tmp_path, scope, level="audit", identities=other), ca.store)
    assert audit.status == "warned" and audit.allowed, audit.reasons
    (requirement,) = audit.rules[0].requirements
    assert "level audit); authenticity not enforced (audit): signer 'CN=builder" in requirement.reason
    (warning,) = audit.warnings
    assert warning.startswith("policy p rule n: notation: authenticity not enforced (audit): signer "
                              "'CN=builder,O=Acme,ST=WA,C=US' is none of the trusted identities")
    assert requirement.warnings == (warning.removeprefix("policy p rule n: notation: "),)
    assert image_check(audit).reasons == (warning,)
    # permissive still enforces authenticity
    permissive = verify(client, ref, trust_policy(tmp_path, scope, level="permissive", identities=other),
                        ca.store)
    assert permissive.status == "refused" and "identity-mismatch" in permissive.reasons[0]


@pytest.mark.parametrize("fmt", ["jws", "cose"])
def test_expired_signature_refused_strict_logged_permissive(notation_sign: Path, registry: Registry,
                                                            pusher: Pusher, client: RegistryClient, ca: Ca,
                                                            tmp_path: Path, fmt: str) -> None:
    repository = f"team/expiring-{fmt}"
    image = pusher.image(repository, "v1")
    sign(notation_sign, registry, repository, image, ca, fmt, "--expiry", "1h")
    ref, scope = f"{registry.host}/{repository}:v1", f"{registry.host}/{repository}"
    strict_file = trust_policy(tmp_path, scope)
    within = verify(client, ref, strict_file, ca.store)  # within the hour
    assert within.status == "verified"
    # the routine note (revocation is not checked) is no warning
    assert within.warnings == () and image_check(within).reasons == ()
    assert "revocation (OCSP/CRL) is not checked" not in within.rules[0].requirements[0].reason
    later = NOW + timedelta(hours=2)  # the clock moved past the expiry; the certificates are still valid
    strict = verify(client, ref, strict_file, ca.store, at=later)
    assert strict.status == "refused"
    assert "signature 0: expired: the signature expired at " in strict.reasons[0]
    permissive = verify(client, ref, trust_policy(tmp_path, scope, level="permissive"), ca.store, at=later)
    assert permissive.status == "warned", permissive.reasons
    (requirement,) = permissive.rules[0].requirements
    assert "expiry not enforced (permissive): the signature expired at " in requirement.reason
    (warning,) = permissive.warnings
    assert warning.startswith("policy p rule n: notation: expiry not enforced (permissive): the signature "
                              "expired at ")
    assert requirement.to_dict()["warnings"] == [warning.removeprefix("policy p rule n: notation: ")]
    # the expiry is what notation-go wrote: an hour after the signing time
    ((envelope, media_type),) = envelopes(client, registry, repository, image)
    verdict = verify_notation(envelope, media_type, scope, image.digest,
                              load_trust_policy(strict_file), load_trust_store(ca.store), now=NOW)
    assert verdict.ok and verdict.signing_time is not None
    assert f"expired at {(verdict.signing_time + timedelta(hours=1)).isoformat()}" in strict.reasons[0]
