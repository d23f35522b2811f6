"""Sigstore bundles, verified offline against the pinned public-good trusted root, with real
material: cosign's OCI attestation bundle and the sigstore-conformance bundle-verify cases
(../shared/cosign/bundles)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.models import TrustedRoot

from gitops.errors import InputError
from gitops.verify import bundles, dsse
from gitops.verify.cosign import Identity, Verdict
from gitops.verify.cosign import TrustRoot as CosignTrustRoot
from gitops.verify.keys import accept_key

Shared = Callable[[str], Path]
EMPTY_IMAGE = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
CODY = Identity(subject="cody@soyland.com", issuer="https://github.com/login/oauth")
BEACON = Identity(
    subject="https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
            "extremely-dangerous-oidc-beacon.yml@refs/heads/main",
    issuer="https://token.actions.githubusercontent.com")
# why each failing conformance case fails (its README), as the reason sigstore-python gives for it
CONFORMANCE_FAILURES = {
    "bundle-malformed-json_fail": ("invalid-bundle", "not a valid Sigstore bundle"),
    "dsse-invalid-sig_fail": ("verification-failed", "DSSE: invalid signature"),
    "message-digest-mismatch_fail": ("verification-failed", "message digest mismatch"),
    "set-invalid-signature_fail": ("verification-failed", "SET: invalid inclusion promise"),
    "signature-mismatch_fail": ("verification-failed", "Signature is invalid for input"),
    "wrong-hashedrekord-artifact_fail": ("verification-failed", "inconsistent with other materials"),
}


@pytest.fixture(scope="module")
def root() -> TrustedRoot:
    return bundles.trusted_root()


def test_the_pinned_root_is_the_shared_public_good_root(shared: Shared) -> None:
    pinned = Path(bundles.__file__).parent / "data" / "trusted_root_public_good.json"
    assert pinned.read_bytes() == shared("cosign/bundles/trusted_root_public_good.json").read_bytes()


def test_cosigns_attestation_bundle_verifies_for_its_identity_and_image(shared: Shared,
                                                                        root: TrustedRoot) -> None:
    raw = shared("cosign/bundles/oci-attestation.sigstore.json").read_bytes()
    verdict = bundles.verify_attestation(raw, EMPTY_IMAGE, CODY, root=root)
    assert verdict.ok, verdict
    assert (verdict.signer, verdict.issuer) == ("cody@soyland.com", "https://github.com/login/oauth")
    assert verdict.integrated_time is not None and verdict.integrated_time.year == 2025
    assert bundles.verify_attestation(raw, EMPTY_IMAGE, CODY, root=root,
                                      predicate_type="https://cosign.sigstore.dev/attestation/v1").ok
    regex = Identity(subject_regex=r"[a-z]+@soyland\.com", issuer_regex=r"https://github\.com/.*")
    assert bundles.verify_attestation(raw, EMPTY_IMAGE, regex, root=root).ok


def test_the_attestation_fails_for_another_identity_issuer_image_or_predicate(shared: Shared,
                                                                              root: TrustedRoot) -> None:
    raw = shared("cosign/bundles/oci-attestation.sigstore.json").read_bytes()
    for identity in (Identity(subject="eve@soyland.com", issuer="https://github.com/login/oauth"),
                     Identity(subject="cody@soyland.com", issuer="https://accounts.google.com"),
                     Identity(subject_regex=r"cody@soyland", issuer="https://github.com/login/oauth")):
        verdict = bundles.verify_attestation(raw, EMPTY_IMAGE, identity, root=root)
        assert not verdict.ok and verdict.code == "identity-mismatch", verdict
    other = bundles.verify_attestation(raw, "sha256:" + "0" * 64, CODY, root=root)
    assert not other.ok and other.code == "digest-mismatch"
    assert "732112270d" in other.reason
    slsa = bundles.verify_attestation(raw, EMPTY_IMAGE, CODY, root=root,
                                      predicate_type="https://slsa.dev/provenance/v1")
    assert not slsa.ok and slsa.code == "predicate-mismatch"


def test_a_tampered_statement_fails(shared: Shared, root: TrustedRoot) -> None:
    doc = json.loads(shared("cosign/bundles/oci-attestation.sigstore.json").read_bytes())
    payload = doc["dsseEnvelope"]["payload"]
    doc["dsseEnvelope"]["payload"] = payload[:-8] + ("A" * 8 if payload[-8:] != "A" * 8 else "B" * 8)
    verdict = bundles.verify_attestation(json.dumps(doc), EMPTY_IMAGE, CODY, root=root)
    assert not verdict.ok, verdict


def conformance_cases(shared: Shared) -> list[Path]:
    cases = sorted(p for p in shared("cosign/bundles/conformance").iterdir() if p.is_dir())
    assert {p.name for p in cases if p.name.endswith("_fail")} == set(CONFORMANCE_FAILURES)
    return cases


def verify_case(case: Path, artifact: Path, root: TrustedRoot) -> Verdict:
    raw = (case / "bundle.sigstore.json").read_bytes()
    own = case / "a.txt"
    data = (own if own.exists() else artifact).read_bytes()
    try:
        dsse = "dsseEnvelope" in json.loads(raw)
    except ValueError:
        dsse = False
    if dsse:  # the in-toto statement's subject is the artifact
        subject = "sha256:" + hashlib.sha256(data).hexdigest()
        return bundles.verify_attestation(raw, subject, BEACON, root=root)
    return bundles.verify_message(raw, data, BEACON, root=root)


def test_every_conformance_case_passes_or_fails_as_its_readme_says(shared: Shared, root: TrustedRoot) -> None:
    artifact = shared("cosign/bundles/a.txt")
    for case in conformance_cases(shared):
        verdict = verify_case(case, artifact, root)
        if case.name.endswith("_fail"):
            code, words = CONFORMANCE_FAILURES[case.name]
            assert not verdict.ok, (case.name, verdict)
            assert verdict.code == code and words.lower() in verdict.reason.lower(), (case.name, verdict)
        else:
            assert verdict.ok, (case.name, verdict)
            assert verdict.signer == BEACON.subject and verdict.issuer == BEACON.issuer


def test_a_conformance_signature_fails_for_another_artifact_or_identity(shared: Shared,
                                                                        root: TrustedRoot) -> None:
    raw = shared("cosign/bundles/conformance/happy-path-v0.3/bundle.sigstore.json").read_bytes()
    artifact = shared("cosign/bundles/a.txt").read_bytes()
    logged = int(json.loads(raw)["verificationMaterial"]["tlogEntries"][0]["integratedTime"])
    assert bundles.verify_message(raw, artifact, BEACON, root=root).integrated_time \
        == datetime.fromtimestamp(logged, UTC)
    assert not bundles.verify_message(raw, artifact + b"\n", BEACON, root=root).ok
    assert bundles.verify_message(raw, artifact, CODY, root=root).code == "identity-mismatch"
    # a message signature is not an attestation
    assert not bundles.verify_attestation(raw, EMPTY_IMAGE, BEACON, root=root).ok


def test_hostile_bundles_are_values_not_exceptions(root: TrustedRoot) -> None:
    for raw in (b"", b"null", b"[]", b"{}", b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
                b"\xff\xfe", b"{" * 10000):
        verdict = bundles.verify_message(raw, b"x", BEACON, root=root)
        assert not verdict.ok and verdict.code == "invalid-bundle", (raw[:20], verdict)
    huge = b" " * (bundles.MAX_BUNDLE_BYTES + 1)
    assert bundles.verify_attestation(huge, EMPTY_IMAGE, CODY, root=root).code == "too-large"


def test_a_trusted_root_file_that_is_not_one_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the trusted root"):
        bundles.trusted_root(tmp_path / "absent.json")
    bad = tmp_path / "root.json"
    bad.write_text('{"mediaType": "nonsense"}')
    with pytest.raises(InputError, match="not a Sigstore trusted root") as caught:
        bundles.trusted_root(bad)
    assert caught.value.problem.file == str(bad)


def test_an_image_digest_that_is_not_one_is_a_programming_error(root: TrustedRoot) -> None:
    for digest in ("latest", "sha256:" + "A" * 64, "sha512:" + "a" * 128):
        with pytest.raises(ValueError, match="not sha256"):
            bundles.verify_attestation(b"{}", digest, CODY, root=root)


# ---- key-signed bundles (cosign 3 with --key), made here; tests/gitops/verify/test_cosign_tool.py has
# ---- the real cosign's

IMAGE = "sha256:" + "ab" * 32


def key_bundle(private: ec.EllipticCurvePrivateKey, *, digest: str = IMAGE,
               predicate_type: str = dsse.COSIGN_SIGN_PREDICATE, tlog: bool = False) -> dict[str, Any]:
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1", "predicateType": predicate_type,
                            "subject": [{"digest": {"sha256": digest.removeprefix("sha256:")}}],
                            "predicate": {}}).encode()
    signature = private.sign(dsse.pae(dsse.IN_TOTO_PAYLOAD_TYPE, statement), ec.ECDSA(hashes.SHA256()))
    material: dict[str, Any] = {"publicKey": {"hint": "not trusted"}}
    if tlog:
        material["tlogEntries"] = [{"logIndex": "1", "kindVersion": {"kind": "dsse", "version": "0.0.1"}}]
    return {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": material,
            "dsseEnvelope": {"payloadType": dsse.IN_TOTO_PAYLOAD_TYPE,
                             "payload": base64.b64encode(statement).decode(),
                             "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}]}}


def test_pae_is_dsses_encoding() -> None:
    # the DSSE specification's example (protocol.md)
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_a_key_signed_bundle_verifies_for_its_key_image_and_predicate_only() -> None:
    private, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    key, wrong = accept_key(private.public_key()), accept_key(other.public_key())
    raw = json.dumps(key_bundle(private))
    verdict = bundles.verify_key_bundle(raw, IMAGE, key, predicate_type=dsse.COSIGN_SIGN_PREDICATE,
                                        require_tlog=False)
    assert (verdict.ok, verdict.signer) == (True, key.fingerprint)
    assert bundles.verify_key_bundle(raw, IMAGE, wrong, predicate_type=dsse.COSIGN_SIGN_PREDICATE,
                                     require_tlog=False).code == "bad-signature"
    other_image = "sha256:" + "cd" * 32
    assert bundles.verify_key_bundle(raw, other_image, key, predicate_type=dsse.COSIGN_SIGN_PREDICATE,
                                     require_tlog=False).code == "digest-mismatch"
    assert bundles.verify_key_bundle(raw, IMAGE, key, predicate_type="https://slsa.dev/provenance/v1",
                                     require_tlog=False).code == "predicate-mismatch"
    trust = CosignTrustRoot.public_good()
    no_entry = bundles.verify_key_bundle(raw, IMAGE, key, predicate_type=dsse.COSIGN_SIGN_PREDICATE,
                                         require_tlog=True, trust=trust)
    assert no_entry.code == "no-tlog" and "transparency log required" in no_entry.reason
    # an entry without an inclusion promise (a Rekor v2 entry has a checkpoint instead): fail closed
    # (tests/gitops/verify/test_key_tlog.py verifies entries with a SET)
    logged = bundles.verify_key_bundle(json.dumps(key_bundle(private, tlog=True)), IMAGE, key,
                                       predicate_type=dsse.COSIGN_SIGN_PREDICATE, require_tlog=True,
                                       trust=trust)
    assert logged.code == "bad-tlog" and "no inclusion promise" in logged.reason
    with pytest.raises(ValueError, match="trusted root"):
        bundles.verify_key_bundle(raw, IMAGE, key, predicate_type=dsse.COSIGN_SIGN_PREDICATE,
                                  require_tlog=True)


def test_bundles_that_are_not_key_signed_dsse_are_refused_by_key(shared: Shared) -> None:
    key = accept_key(ec.generate_private_key(ec.SECP256R1()).public_key())
    keyless = shared("cosign/bundles/oci-attestation.sigstore.json").read_bytes()
    verdict = bundles.verify_key_bundle(keyless, EMPTY_IMAGE, key, predicate_type=dsse.COSIGN_SIGN_PREDICATE,
                                        require_tlog=False)
    assert verdict.code == "not-key-signed"
    message = key_bundle(ec.generate_private_key(ec.SECP256R1()))
    del message["dsseEnvelope"]
    message["messageSignature"] = {"messageDigest": {"algorithm": "SHA2_256", "digest": ""}, "signature": ""}
    verdict = bundles.verify_key_bundle(json.dumps(message), IMAGE, key,
                                        predicate_type=dsse.COSIGN_SIGN_PREDICATE, require_tlog=False)
    assert verdict.code == "bad-payload" and "names no image" in verdict.reason


def test_hostile_key_bundles_are_values_not_exceptions() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = accept_key(private.public_key())
    good = key_bundle(private)
    envelope = good["dsseEnvelope"]
    variants: list[Any] = [
        b"", b"null", b"[]", b"{}", b"\xff\xfe", b"{" * 10000, b'"a string"',
        {**good, "mediaType": 7}, {**good, "mediaType": "application/json"},
        {**good, "verificationMaterial": []}, {**good, "verificationMaterial": {"publicKey": "k"}},
        {**good, "dsseEnvelope": None}, {**good, "dsseEnvelope": []}, {**good, "dsseEnvelope": "x"},
        {**good, "dsseEnvelope": {**envelope, "payload": "%%%"}},
        {**good, "dsseEnvelope": {**envelope, "payload": 1}},
        {**good, "dsseEnvelope": {**envelope, "payloadType": None}},
        {**good, "dsseEnvelope": {**envelope, "signatures": []}},
        {**good, "dsseEnvelope": {**envelope, "signatures": "sig"}},
        {**good, "dsseEnvelope": {**envelope, "signatures": [None, {"sig": 5}]}},
        {**good, "dsseEnvelope": {**envelope, "signatures": [{"sig": "%%%"}]}},
        {**good, "dsseEnvelope": {**envelope, "signatures": [{"sig": "AAAA"}] * 1000}},
    ]
    for variant in variants:
        raw = variant if isinstance(variant, bytes) else json.dumps(variant)
        verdict = bundles.verify_key_bundle(raw, IMAGE, key, predicate_type=dsse.COSIGN_SIGN_PREDICATE,
                                            require_tlog=False)
        expected = {"invalid-bundle", "malformed", "unsigned", "bad-signature"}
        assert not verdict.ok and verdict.code in expected, (str(variant)[:80], verdict)
    # signed, but the statement is not one: read only after the signature holds
    for payload_type, statement in (("text/plain", b"{}"), (dsse.IN_TOTO_PAYLOAD_TYPE, b"[" * 5000),
                                    (dsse.IN_TOTO_PAYLOAD_TYPE, b'{"_type": "other"}'),
                                    (dsse.IN_TOTO_PAYLOAD_TYPE,
                                     b'{"_type": "https://in-toto.io/Statement/v1", "subject": 5}')):
        signature = private.sign(dsse.pae(payload_type, statement), ec.ECDSA(hashes.SHA256()))
        raw = json.dumps({"payloadType": payload_type, "payload": base64.b64encode(statement).decode(),
                          "signatures": [{"sig": base64.b64encode(signature).decode()}]})
        verdict = dsse.verify_envelope(raw, IMAGE, key, predicate_type=None)
        assert not verdict.ok and verdict.code in {"bad-payload", "digest-mismatch"}, verdict
    assert bundles.verify_key_bundle(b" " * (bundles.MAX_BUNDLE_BYTES + 1), IMAGE, key,
                                     predicate_type=dsse.COSIGN_SIGN_PREDICATE, require_tlog=False).code \
        == "too-large"
    assert dsse.verify_envelope(b" " * (dsse.MAX_ENVELOPE_BYTES + 1), IMAGE, key,
                                predicate_type=None).code == "too-large"
