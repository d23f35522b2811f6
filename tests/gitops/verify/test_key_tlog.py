"""The transparency log entries of key-signed DSSE envelopes, made here in Rekor's exact formats
(tests/gitops/verify/fake_rekor.py: a log key of our own, bodies canonicalized as rekor v1.5 does):
the kinds cosign has written (``dsse`` 0.0.1, ``intoto`` 0.0.2 and 0.0.1), in a bundle's
``tlogEntries`` and in an ``.att`` layer's annotation. tests/gitops/verify/test_cosign_tool.py has
the real cosign uploading to that log."""

from __future__ import annotations

import base64
import copy
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gitops.verify import bundles, dsse
from gitops.verify.cosign import TrustRoot, Verdict
from gitops.verify.keys import VerificationKey, accept_key

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_rekor import (  # found through the path set just above
    FakeRekor,
    canonical,
    dsse_body,
    intoto_v001_body,
    intoto_v002_body,
    pem_of,
)

IMAGE = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
SLSA = "https://slsa.dev/provenance/v1"


@pytest.fixture(scope="module")
def rekor() -> FakeRekor:
    return FakeRekor()


@pytest.fixture(scope="module")
def trust(rekor: FakeRekor) -> TrustRoot:
    return TrustRoot.from_json(json.dumps(rekor.trusted_root()))


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def envelope(private: ec.EllipticCurvePrivateKey, *, digest: str = IMAGE,
             predicate_type: str = dsse.COSIGN_SIGN_PREDICATE) -> bytes:
    """An envelope as cosign 3 serializes it (Go's JSON of the protobuf struct: no spaces)."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1", "predicateType": predicate_type,
                            "subject": [{"digest": {"sha256": digest.removeprefix("sha256:")}}],
                            "predicate": {}}).encode()
    signature = private.sign(dsse.pae(dsse.IN_TOTO_PAYLOAD_TYPE, statement), ec.ECDSA(hashes.SHA256()))
    return json.dumps({"payload": base64.b64encode(statement).decode(),
                       "payloadType": dsse.IN_TOTO_PAYLOAD_TYPE,
                       "signatures": [{"sig": base64.b64encode(signature).decode()}]},
                      separators=(",", ":")).encode()


def bundle(raw: bytes, entries: list[dict[str, Any]] | None) -> str:
    material: dict[str, Any] = {"publicKey": {"hint": "not trusted"}}
    if entries is not None:
        material["tlogEntries"] = entries
    return json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                       "verificationMaterial": material, "dsseEnvelope": json.loads(raw)})


def key_of(private: Any) -> VerificationKey:
    return accept_key(private.public_key())


def check_bundle(document: str, key: VerificationKey, trust: TrustRoot, *, digest: str = IMAGE) -> Verdict:
    return bundles.verify_key_bundle(document, digest, key, predicate_type=dsse.COSIGN_SIGN_PREDICATE,
                                     require_tlog=True, trust=trust)


def check_layer(raw: bytes, annotation: str | None, key: VerificationKey, trust: TrustRoot) -> Verdict:
    return dsse.verify_attestation_layer(raw, annotation, IMAGE, key,
                                         predicate_type=dsse.COSIGN_SIGN_PREDICATE, require_tlog=True,
                                         trust=trust)


# ---- what holds -------------------------------------------------------------------------------------


def test_a_dsse_entry_verifies_a_bundle_and_gives_the_integrated_time(
        rekor: FakeRekor, trust: TrustRoot, signer: ec.EllipticCurvePrivateKey) -> None:
    raw = envelope(signer)
    entry = rekor.tlog_entry(rekor.log(dsse_body(raw, [pem_of(signer.public_key())])))
    verdict = check_bundle(bundle(raw, [entry]), key_of(signer), trust)
    assert (verdict.ok, verdict.code, verdict.signer, verdict.integrated_time) == (
        True, "verified", key_of(signer).fingerprint, WHEN)
    # protobuf JSON writes int64 as strings; numbers are read too
    numbers = {**entry, "logIndex": int(entry["logIndex"]), "integratedTime": int(entry["integratedTime"])}
    assert check_bundle(bundle(raw, [numbers]), key_of(signer), trust).ok


@pytest.mark.parametrize("make", [dsse_body, intoto_v002_body, intoto_v001_body],
                         ids=["dsse-0.0.1", "intoto-0.0.2", "intoto-0.0.1"])
def test_each_kind_verifies_an_att_layer(rekor: FakeRekor, trust: TrustRoot,
                                         signer: ec.EllipticCurvePrivateKey,
                                         make: Callable[..., Any]) -> None:
    raw = envelope(signer)
    pem = pem_of(signer.public_key())
    body = make(raw, [pem]) if make is dsse_body else make(raw, pem)
    verdict = check_layer(raw, rekor.annotation(rekor.log(body)), key_of(signer), trust)
    assert (verdict.ok, verdict.integrated_time) == (True, WHEN), verdict
    # the same envelope re-serialized (a bundle's): dsse and intoto 0.0.2 still bind payload and signature
    entry = rekor.tlog_entry(rekor.log(body))
    in_bundle = check_bundle(bundle(raw, [entry]), key_of(signer), trust)
    if make is intoto_v001_body:  # it names no signature: only the hash of the exact envelope binds one
        assert (in_bundle.code, in_bundle.reason) == (
            "tlog-mismatch", "the transparency log entry is not this envelope: an intoto 0.0.1 entry names "
                             "no signature: accepted for an .att layer only")
    else:
        assert in_bundle.ok, in_bundle


def test_an_ed25519_envelope_entry_verifies(rekor: FakeRekor, trust: TrustRoot) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1",
                            "predicateType": dsse.COSIGN_SIGN_PREDICATE,
                            "subject": [{"digest": {"sha256": IMAGE[7:]}}]}).encode()
    signature = private.sign(dsse.pae(dsse.IN_TOTO_PAYLOAD_TYPE, statement))
    raw = json.dumps({"payload": base64.b64encode(statement).decode(),
                      "payloadType": dsse.IN_TOTO_PAYLOAD_TYPE,
                      "signatures": [{"sig": base64.b64encode(signature).decode()}]}).encode()
    entry = rekor.tlog_entry(rekor.log(dsse_body(raw, [pem_of(private.public_key())])))
    assert check_bundle(bundle(raw, [entry]), key_of(private), trust).ok


def test_one_good_entry_among_several_is_enough(rekor: FakeRekor, trust: TrustRoot,
                                                signer: ec.EllipticCurvePrivateKey) -> None:
    raw = envelope(signer)
    good = rekor.tlog_entry(rekor.log(dsse_body(raw, [pem_of(signer.public_key())])))
    other = rekor.tlog_entry(rekor.log(dsse_body(envelope(signer, digest=OTHER),
                                                 [pem_of(signer.public_key())])))
    assert check_bundle(bundle(raw, [other, good]), key_of(signer), trust).ok
    both_bad = check_bundle(bundle(raw, [other, {"kindVersion": 5}]), key_of(signer), trust)
    assert both_bad.code == "tlog-mismatch"
    assert both_bad.reason.startswith("no transparency log entry verifies: entry 0: tlog-mismatch: ")
    assert "; entry 1: bad-tlog: the transparency log entry has no kindVersion" in both_bad.reason


# ---- what does not ----------------------------------------------------------------------------------


def test_a_missing_entry_an_unknown_log_and_a_tampered_time_are_refused(
        rekor: FakeRekor, trust: TrustRoot, signer: ec.EllipticCurvePrivateKey) -> None:
    raw = envelope(signer)
    key = key_of(signer)
    anon = rekor.log(dsse_body(raw, [pem_of(signer.public_key())]))
    missing = check_bundle(bundle(raw, None), key, trust)
    assert (missing.code, missing.reason) == (
        "no-tlog", "transparency log required but the bundle has no transparency log entry (signed with "
                   "--tlog-upload=false?)")
    assert check_bundle(bundle(raw, []), key, trust).code == "no-tlog"
    assert check_layer(raw, None, key, trust).code == "no-tlog"

    stranger = FakeRekor(integrated_time=rekor.integrated_time)
    foreign = stranger.log(dsse_body(raw, [pem_of(signer.public_key())]))
    for verdict in (check_bundle(bundle(raw, [stranger.tlog_entry(foreign)]), key, trust),
                    check_layer(raw, stranger.annotation(foreign), key, trust)):
        assert (verdict.code, verdict.reason) == (
            "bad-tlog", f"log {stranger.log_id} is not a transparency log of the trusted root")
    # a SET made with another key, under this log's id
    forged = {**foreign, "logID": rekor.log_id}
    assert check_layer(raw, stranger.annotation(forged), key, trust).reason == \
        "the SignedEntryTimestamp does not verify with the log's key"

    for field, value in (("integratedTime", str(rekor.integrated_time + 1)), ("logIndex", "7"),
                         ("canonicalizedBody", base64.b64encode(canonical(dsse_body(
                             envelope(signer), [pem_of(signer.public_key())]))).decode())):
        tampered = {**rekor.tlog_entry(anon), field: value}
        verdict = check_bundle(bundle(raw, [tampered]), key, trust)
        assert (verdict.code, verdict.reason) == ("bad-tlog", "the SignedEntryTimestamp does not verify with "
                                                              "the log's key"), field


def test_the_log_keys_validity_window_is_the_trusted_roots(rekor: FakeRekor,
                                                           signer: ec.EllipticCurvePrivateKey) -> None:
    raw = envelope(signer)
    entry = rekor.tlog_entry(rekor.log(dsse_body(raw, [pem_of(signer.public_key())])))
    for start, end in (("2026-06-01T00:00:00Z", None), ("2025-01-01T00:00:00Z", "2025-12-31T00:00:00Z")):
        root = TrustRoot.from_json(json.dumps(rekor.trusted_root(start=start, end=end)))
        verdict = check_bundle(bundle(raw, [entry]), key_of(signer), root)
        assert (verdict.code, verdict.reason) == (
            "bad-tlog", "the log's key was not valid at the integrated time 2026-01-01T00:00:00+00:00")
    ended = TrustRoot.from_json(json.dumps(rekor.trusted_root(end="2026-01-01T00:00:00Z")))
    assert check_bundle(bundle(raw, [entry]), key_of(signer), ended).ok  # the bounds are inclusive
    # the same key listed twice (rotated out, then back): the window that covers the entry counts
    twice = rekor.trusted_root(start="2026-06-01T00:00:00Z")
    twice["tlogs"].append(rekor.trusted_root(start="2025-01-01T00:00:00Z",
                                             end="2026-02-01T00:00:00Z")["tlogs"][0])
    assert check_bundle(bundle(raw, [entry]), key_of(signer), TrustRoot.from_json(json.dumps(twice))).ok


def test_an_entry_of_another_envelope_or_key_is_refused(rekor: FakeRekor, trust: TrustRoot,
                                                        signer: ec.EllipticCurvePrivateKey) -> None:
    raw = envelope(signer)
    key = key_of(signer)
    pem = pem_of(signer.public_key())
    other_key = ec.generate_private_key(ec.SECP256R1())

    def mismatch(body: dict[str, Any], *, layer: bool = False) -> str:
        anon = rekor.log(body)
        verdict = check_layer(raw, rekor.annotation(anon), key, trust) if layer else \
            check_bundle(bundle(raw, [rekor.tlog_entry(anon)]), key, trust)
        assert verdict.code == "tlog-mismatch", verdict
        return verdict.reason.removeprefix("the transparency log entry is not this envelope: ")

    # another statement (another image) signed by the same key: a genuine entry, not of this envelope
    assert mismatch(dsse_body(envelope(signer, digest=OTHER), [pem])) == \
        "the entry's payload hash is not the sha256 of the envelope's payload"
    # the same payload signed again (ECDSA: another signature), logged with this key
    again = envelope(signer)
    body = dsse_body(again, [pem])
    assert mismatch(body) == "the entry's signatures are not the envelope's"
    # this envelope's signature, logged as another key's
    assert mismatch(dsse_body(raw, [pem_of(other_key.public_key())])) == \
        "the entry does not list the signature with the verifying key"
    # the envelope hash binds an .att layer's exact bytes (a bundle's envelope is re-serialized)
    spaced = json.dumps(json.loads(raw)).encode()
    assert mismatch(dsse_body(spaced, [pem]), layer=True) == \
        "the entry's envelope hash is not the sha256 of the envelope"
    assert mismatch(intoto_v002_body(spaced, pem), layer=True) == \
        "the entry's envelope hash is not the sha256 of the envelope"
    assert mismatch(intoto_v001_body(spaced, pem), layer=True) == \
        "the entry's envelope hash is not the sha256 of the envelope"
    assert mismatch(intoto_v001_body(raw, pem_of(other_key.public_key())), layer=True) == \
        "the entry's public key is not the verifying key"
    # intoto 0.0.2 names the payload type and double-encodes the signature
    wrong_type = intoto_v002_body(raw, pem)
    wrong_type["spec"]["content"]["envelope"]["payloadType"] = "text/plain"
    assert mismatch(wrong_type) == "the entry's payload type is not the envelope's"
    single = intoto_v002_body(raw, pem)
    single["spec"]["content"]["envelope"]["signatures"][0]["sig"] = json.loads(raw)["signatures"][0]["sig"]
    assert mismatch(single) == "an entry signature or its verifier is not base64"
    # a classic signature's kind, and Rekor's other kinds
    hashed = {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {"data": {}, "signature": {}}}
    assert mismatch(hashed) == "entry kind 'hashedrekord' version '0.0.1' is not one of a DSSE envelope " \
                               "(dsse 0.0.1, intoto 0.0.2 or 0.0.1)"
    # a sha512 hash is not the sha256 one
    sha512 = dsse_body(raw, [pem])
    sha512["spec"]["payloadHash"]["algorithm"] = "sha512"
    assert mismatch(sha512) == "the entry's payload hash is not the sha256 of the envelope's payload"


def test_a_rekor_v2_entry_is_refused_with_the_reason(rekor: FakeRekor, trust: TrustRoot,
                                                     signer: ec.EllipticCurvePrivateKey) -> None:
    """Rekor v2 (cosign with a signing config naming a v2 log) logs a ``hashedrekord`` 0.0.2 with an
    inclusion proof and a checkpoint, and no SET: not verified for key-signed bundles yet."""
    raw = envelope(signer)
    entry = rekor.tlog_entry(rekor.log(dsse_body(raw, [pem_of(signer.public_key())])))
    v2 = {**entry, "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"}, "integratedTime": "0"}
    del v2["inclusionPromise"]
    verdict = check_bundle(bundle(raw, [v2]), key_of(signer), trust)
    assert (verdict.code, verdict.reason) == (
        "bad-tlog", "the transparency log entry (hashedrekord 0.0.2) has no inclusion promise (SET): a "
                    "Rekor v2 entry, proved by an inclusion proof and checkpoint, is not verified for "
                    "key-signed bundles yet")


def test_hostile_entries_are_values_not_exceptions(rekor: FakeRekor, trust: TrustRoot,
                                                   signer: ec.EllipticCurvePrivateKey) -> None:
    raw = envelope(signer)
    key = key_of(signer)
    good = rekor.tlog_entry(rekor.log(dsse_body(raw, [pem_of(signer.public_key())])))
    variants: list[Any] = [None, 5, "entry", [], {}, {**good, "kindVersion": "dsse"},
                           {**good, "kindVersion": {"kind": "intoto", "version": "0.0.2"}},
                           {**good, "inclusionPromise": {"signedEntryTimestamp": "%%%"}},
                           {**good, "inclusionPromise": []}, {**good, "canonicalizedBody": 7},
                           {**good, "canonicalizedBody": base64.b64encode(b"[" * 10000).decode()},
                           {**good, "canonicalizedBody": base64.b64encode(b'{"kind": 1}').decode()},
                           {**good, "logId": {"keyId": "%%"}}, {**good, "logId": "x"},
                           {**good, "integratedTime": "soon"}, {**good, "integratedTime": 1.5},
                           {**good, "integratedTime": str(10 ** 18)}, {**good, "logIndex": None}]
    for variant in variants:
        verdict = check_bundle(bundle(raw, [variant]), key, trust)
        assert not verdict.ok and verdict.code == "bad-tlog", (str(variant)[:80], verdict)
    anon = rekor.log(dsse_body(raw, [pem_of(signer.public_key())]))
    hostile_bodies: list[Any] = [{"apiVersion": "0.0.1", "kind": "dsse", "spec": {}},
                                 {"apiVersion": "0.0.1", "kind": "dsse", "spec": {"payloadHash": [],
                                                                                  "signatures": "x"}},
                                 {"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": []}},
                                 {"apiVersion": "0.0.2", "kind": "intoto",
                                  "spec": {"content": {"envelope": {"signatures": [None]}}}},
                                 {"apiVersion": "0.0.1", "kind": "intoto", "spec": {"content": 5}}]
    for body in hostile_bodies:
        signed = rekor.log(body)
        verdict = check_layer(raw, rekor.annotation(signed), key, trust)
        assert verdict.code == "tlog-mismatch", (body, verdict)
    # signatures and verifiers that are not base64, or not keys
    body = dsse_body(raw, [pem_of(signer.public_key())])
    not_pem = base64.b64encode(b"not pem").decode()
    for change in ({"signature": "%%"}, {"verifier": "%%"}, {"verifier": not_pem}):
        broken = copy.deepcopy(body)
        broken["spec"]["signatures"][0].update(change)
        verdict = check_layer(raw, rekor.annotation(rekor.log(broken)), key, trust)
        assert verdict.code == "tlog-mismatch", (change, verdict)
    huge = {**json.loads(rekor.annotation(anon))}
    huge["Payload"]["body"] = "A" * 600_000
    assert check_layer(raw, json.dumps(huge), key, trust).code == "bad-tlog"
    with pytest.raises(ValueError, match="trusted root"):
        dsse.verify_attestation_layer(raw, None, IMAGE, key, predicate_type=SLSA, require_tlog=True)
