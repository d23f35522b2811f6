"""Signatures and attestations made by the real cosign v3.1.3 (tests/gotools.py builds it from the Go
module proxy), verified by our ImageVerifier against Debian's real docker-registry.

cosign runs offline (tests/gitops/verify/cosign_tool.py: private HOME, proxies at a closed loopback
port, ``--use-signing-config=false --tlog-upload=false --allow-http-registry``), with keys it makes
itself (``cosign generate-key-pair``: ECDSA P-256) or imports (``cosign import-key-pair``: Ed25519).
Both storage forms are covered: the classic tags (``--new-bundle-format=false``: ``sha256-<hex>.sig``
and ``.att``) and cosign 3's default, a Sigstore bundle stored as an OCI referrer, found through the
referrers tag ``sha256-<hex>`` (docker-registry 2.8 has no referrers API). Hostile variants are made
from cosign's own output: a payload swapped under a signature, a bundle moved to another image, an
oversized envelope, a bundle that is not JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gitops.cli.verify import load_policies
from gitops.clock import ManualClock
from gitops.config.verification import VerificationPolicy
from gitops.verify import bundles, dsse
from gitops.verify.cosign import TrustRoot, Verdict
from gitops.verify.evaluate import ImageVerdict, ImageVerifier
from gitops.verify.keys import load_public_key
from gitops.verify.ocitypes import OCI_MANIFEST, SIGSTORE_BUNDLE, ImageManifest, referrers_tag
from gitops.verify.reference import parse
from gitops.verify.registry import RegistryClient, RegistryOptions
from tests.gotools import go_tool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cosign_tool import Cosign, Log  # found through the path set just above
from fake_rekor import FakeRekor
from registry_kit import (
    Pushed,
    Pusher,
    Registry,
    canonical,
    descriptor,
)

SLSA = "https://slsa.dev/provenance/v1"
PROVENANCE = {"buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {}},
              "runDetails": {"builder": {"id": "https://example.com/builder"}}}


@pytest.fixture(scope="module")
def cosign(tmp_path_factory: pytest.TempPathFactory) -> Cosign:
    return Cosign(go_tool("cosign"), tmp_path_factory.mktemp("cosign-home"))


@pytest.fixture(scope="module")
def keys(cosign: Cosign) -> dict[str, tuple[Path, Path]]:
    """name -> (private key, public key): two P-256 pairs made by cosign, one imported Ed25519 pair."""
    return {"p256": cosign.generate_key_pair("p256"), "other": cosign.generate_key_pair("other"),
            "ed25519": cosign.import_ed25519("ed25519")}


@pytest.fixture(scope="module")
def predicate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("predicate") / "provenance.json"
    path.write_text(json.dumps(PROVENANCE))
    return path


@pytest.fixture
def client(registry: Registry) -> Iterator[RegistryClient]:
    made = RegistryClient({registry.host: RegistryOptions(plain_http=True)})
    yield made
    made.close()


def verify(client: RegistryClient, image: str, rule: dict[str, Any]) -> ImageVerdict:
    policy = VerificationPolicy.model_validate({"name": "p", "rules": [{"name": "r", "images": ["**"],
                                                                        **rule}]})
    return ImageVerifier([policy], client, clock=ManualClock()).verify_image(parse(image))


def by_key(public: Path, **extra: Any) -> dict[str, Any]:
    return {"keys": [{"file": str(public)}], "transparencyLog": False, **extra}


def fingerprint(public: Path) -> str:
    return load_public_key(public.read_bytes()).fingerprint


def tags(pusher: Pusher, repository: str) -> list[str]:
    answer = pusher.client.get(f"/v2/{repository}/tags/list")
    return list(answer.json()["tags"])


def bundle_blobs(client: RegistryClient, registry: Registry, repository: str, digest: str) -> list[bytes]:
    """The bundles cosign attached to ``digest`` (through the referrers tag)."""
    out = []
    for found in client.referrers(registry.host, repository, digest, SIGSTORE_BUNDLE):
        manifest = client.get_manifest(registry.host, repository, found.digest).parse()
        assert isinstance(manifest, ImageManifest) and manifest.subject is not None
        assert manifest.subject.digest == digest
        out.append(client.get_blob(registry.host, repository, manifest.layers[0].digest))
    return out


def pushed_image(pusher: Pusher, registry: Registry, repository: str, tag: str) -> tuple[Pushed, str]:
    image = pusher.image(repository, tag, label=f"{repository}:{tag}")
    return image, f"{registry.host}/{repository}@{image.digest}"


def attach_bundle(pusher: Pusher, repository: str, subject: Pushed, content: bytes) -> None:
    """``content`` as a bundle referrer of ``subject`` (its manifest's subject *is* ``subject``), listed
    in ``subject``'s referrers tag."""
    referrer = pusher.referrer(repository, subject, SIGSTORE_BUNDLE, content)
    pusher.referrers_index(repository, subject, [(referrer, SIGSTORE_BUNDLE)])


# ---- signatures -------------------------------------------------------------------------------------


def test_cosign_runs_offline_and_never_starts_a_tuf_client(cosign: Cosign,
                                                           keys: dict[str, tuple[Path, Path]]) -> None:
    assert keys["p256"][0].read_text().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert load_public_key(keys["p256"][1].read_bytes()).algorithm == "ecdsa-p256"
    assert load_public_key(keys["ed25519"][1].read_bytes()).algorithm == "ed25519"
    assert "v3.1.3" in cosign.run("version").stdout
    assert not cosign.tuf_cache.exists()


def test_a_classic_signature_verifies_with_its_key_only(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]]) -> None:
    image, ref = pushed_image(pusher, registry, "team/classic", "v1")
    cosign.sign(keys["p256"][0], ref, bundle=False)
    assert f"{referrers_tag(image.digest)}.sig" in tags(pusher, "team/classic")
    verdict = verify(client, f"{registry.host}/team/classic:v1", by_key(keys["p256"][1]))
    assert verdict.status == "verified", verdict.reasons
    assert verdict.digest == image.digest and verdict.signers == (fingerprint(keys["p256"][1]),)
    assert verdict.rules[0].requirements[0].reason == f"signed by key {fingerprint(keys['p256'][1])}"
    wrong = verify(client, ref, by_key(keys["other"][1]))
    assert wrong.status == "refused"
    assert f"bad-signature: signature does not verify with key {fingerprint(keys['other'][1])}" \
        in wrong.reasons[0]
    # the transparency log is required by default: cosign uploaded nothing, so there is no entry
    logged = verify(client, ref, {"keys": [{"file": str(keys["p256"][1])}]})
    assert logged.status == "refused"
    assert "no-tlog: no dev.sigstore.cosign/bundle annotation: the transparency log entry is required" \
        in logged.reasons[0]
    assert not cosign.tuf_cache.exists()


def test_a_bundle_signature_verifies_with_its_key_only(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]]) -> None:
    image, ref = pushed_image(pusher, registry, "team/bundled", "v1")
    cosign.sign(keys["p256"][0], ref, bundle=True)
    # cosign 3's default: no .sig tag, a bundle referrer listed in the referrers tag sha256-<hex>
    assert tags(pusher, "team/bundled") == ["v1", referrers_tag(image.digest)] or \
        sorted(tags(pusher, "team/bundled")) == sorted(["v1", referrers_tag(image.digest)])
    [raw] = bundle_blobs(client, registry, "team/bundled", image.digest)
    bundle = json.loads(raw)
    assert set(bundle["verificationMaterial"]) == {"publicKey"}
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == dsse.COSIGN_SIGN_PREDICATE
    assert statement["subject"][0]["digest"] == {"sha256": image.digest.removeprefix("sha256:")}

    verdict = verify(client, f"{registry.host}/team/bundled:v1", by_key(keys["p256"][1]))
    assert verdict.status == "verified", verdict.reasons
    assert verdict.signers == (fingerprint(keys["p256"][1]),)
    assert verdict.rules[0].requirements[0].reason.endswith("(Sigstore bundle)")
    wrong = verify(client, ref, by_key(keys["other"][1]))
    assert wrong.status == "refused"
    assert f"bundle 0: bad-signature: the DSSE signature does not verify with key " \
           f"{fingerprint(keys['other'][1])}" in wrong.reasons[0]
    assert ".sig does not exist" in wrong.reasons[0]
    logged = verify(client, ref, {"keys": [{"file": str(keys["p256"][1])}]})
    assert logged.status == "refused"
    assert "bundle 0: no-tlog: transparency log required but the bundle has no transparency log entry" \
        in logged.reasons[0]
    assert not cosign.tuf_cache.exists()


@pytest.mark.parametrize("bundle", [False, True], ids=["classic", "bundle"])
def test_an_ed25519_signature_by_cosign_verifies(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]], bundle: bool) -> None:
    """cosign 3 signs with Ed25519ph (the prehashed variant) for Ed25519 keys, in both forms."""
    _, ref = pushed_image(pusher, registry, "team/ed", f"v-{bundle}")
    cosign.sign(keys["ed25519"][0], ref, bundle=bundle)
    verdict = verify(client, ref, by_key(keys["ed25519"][1]))
    assert verdict.status == "verified", verdict.reasons
    assert verdict.signers == (fingerprint(keys["ed25519"][1]),)
    assert verify(client, ref, by_key(keys["p256"][1])).status == "refused"


def test_a_signature_copied_to_another_image_is_refused(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]]) -> None:
    """A genuine signature of image A, made to look like B's: the classic payload names A's digest,
    and the bundle's statement names A (its referrer manifest is B's)."""
    first, first_ref = pushed_image(pusher, registry, "team/copied", "a")
    second, second_ref = pushed_image(pusher, registry, "team/copied", "b")
    cosign.sign(keys["p256"][0], first_ref, bundle=False)
    cosign.sign(keys["p256"][0], first_ref, bundle=True)
    signature = pusher.client.get(f"/v2/team/copied/manifests/{referrers_tag(first.digest)}.sig",
                                  headers={"Accept": OCI_MANIFEST}).content
    pusher.manifest("team/copied", f"{referrers_tag(second.digest)}.sig", signature, OCI_MANIFEST)
    [raw] = bundle_blobs(client, registry, "team/copied", first.digest)
    attach_bundle(pusher, "team/copied", second, raw)
    verdict = verify(client, second_ref, by_key(keys["p256"][1]))
    assert verdict.status == "refused"
    reason = verdict.reasons[0]
    assert f"signature 0: digest-mismatch: payload signs {first.digest}, not the image {second.digest}" \
        in reason
    assert f"bundle 0: digest-mismatch: the statement's subjects ['{first.digest[7:]}'] do not include the " \
           f"image {second.digest}" in reason


# ---- attestations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bundle", [False, True], ids=["att-tag", "bundle"])
def test_a_key_signed_attestation_satisfies_its_predicate_type_only(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]], predicate: Path, bundle: bool) -> None:
    repository = f"team/attested-{'bundle' if bundle else 'att'}"
    image, ref = pushed_image(pusher, registry, repository, "v1")
    cosign.attest(keys["p256"][0], ref, predicate, "slsaprovenance1", bundle=bundle)
    if not bundle:
        assert f"{referrers_tag(image.digest)}.att" in tags(pusher, repository)
    name = f"attestation {SLSA}"
    # a rule with keys asks for a signature too: sign the image (classic) so that part holds
    cosign.sign(keys["p256"][0], ref, bundle=False)
    verdict = verify(client, ref, by_key(keys["p256"][1], attestations=[SLSA]))
    assert verdict.status == "verified", verdict.reasons
    [_, attestation] = verdict.rules[0].requirements
    assert attestation.name == name and attestation.ok
    assert attestation.signer == fingerprint(keys["p256"][1])

    spdx = verify(client, ref, by_key(keys["p256"][1], attestations=["https://spdx.dev/Document"]))
    assert spdx.status == "refused"
    assert "predicate-mismatch: predicate type 'https://slsa.dev/provenance/v1' is not " \
           "'https://spdx.dev/Document'" in spdx.reasons[0]
    wrong = verify(client, ref, {"keys": [{"file": str(keys["other"][1])}], "transparencyLog": False,
                                 "attestations": [SLSA]})
    assert wrong.status == "refused"
    failed = next(r for r in wrong.rules[0].requirements if r.name == name)
    assert not failed.ok and "bad-signature: the DSSE signature does not verify with key" in failed.reason
    logged = verify(client, ref, {"keys": [{"file": str(keys["p256"][1])}], "attestations": [SLSA]})
    failed = next(r for r in logged.rules[0].requirements if r.name == name)
    what = "bundle" if bundle else "attestation"
    assert f"no-tlog: transparency log required but the {what} has no transparency log entry" in failed.reason


def test_an_attestation_of_another_image_is_refused(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]], predicate: Path) -> None:
    first, first_ref = pushed_image(pusher, registry, "team/att-copied", "a")
    second, second_ref = pushed_image(pusher, registry, "team/att-copied", "b")
    cosign.attest(keys["p256"][0], first_ref, predicate, "slsaprovenance1", bundle=False)
    cosign.attest(keys["p256"][0], first_ref, predicate, "slsaprovenance1", bundle=True)
    manifest = pusher.client.get(f"/v2/team/att-copied/manifests/{referrers_tag(first.digest)}.att",
                                 headers={"Accept": OCI_MANIFEST}).content
    pusher.manifest("team/att-copied", f"{referrers_tag(second.digest)}.att", manifest, OCI_MANIFEST)
    [raw] = bundle_blobs(client, registry, "team/att-copied", first.digest)
    attach_bundle(pusher, "team/att-copied", second, raw)
    assert verify(client, first_ref, by_key(keys["p256"][1], attestations=[SLSA])).rules[0] \
        .requirements[1].ok
    verdict = verify(client, second_ref, by_key(keys["p256"][1], attestations=[SLSA]))
    failed = verdict.rules[0].requirements[1]
    assert verdict.status == "refused" and not failed.ok
    assert f"attestation 0: digest-mismatch: the statement's subjects ['{first.digest[7:]}'] do not " \
           f"include the image {second.digest}" in failed.reason
    assert "bundle 0: digest-mismatch" in failed.reason


def test_the_documented_policy_accepts_what_the_documented_commands_make(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]], predicate: Path, tmp_path: Path) -> None:
    """docs/verification-signatures.md: its policy block, cosign 3's default commands."""
    docs = Path(__file__).resolve().parents[3] / "docs" / "verification-signatures.md"
    (block,) = re.findall(r"```yaml\n(.*?)```", docs.read_text(), re.S)
    (tmp_path / "policy.yaml").write_text(block)
    (tmp_path / "cosign.pub").write_bytes(keys["p256"][1].read_bytes())
    (policy,) = load_policies(str(tmp_path / "policy.yaml"))
    _, ref = pushed_image(pusher, registry, "team/documented", "v1")
    verifier = ImageVerifier([policy], client, clock=ManualClock())
    assert verifier.verify_image(parse(ref)).status == "refused"  # not signed yet
    cosign.sign(keys["p256"][0], ref, bundle=True)
    cosign.attest(keys["p256"][0], ref, predicate, "slsaprovenance1", bundle=True)
    verdict = ImageVerifier([policy], client, clock=ManualClock()).verify_image(
        parse(f"{registry.host}/team/documented:v1"))
    assert verdict.status == "verified", verdict.reasons
    assert [r.name for r in verdict.rules[0].requirements] == ["keys", f"attestation {SLSA}"]


# ---- hostile ----------------------------------------------------------------------------------------


def test_hostile_envelopes_and_bundles_are_refused_with_reasons(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]], predicate: Path) -> None:
    repository = "team/hostile"
    first, first_ref = pushed_image(pusher, registry, repository, "a")
    second, second_ref = pushed_image(pusher, registry, repository, "b")
    cosign.attest(keys["p256"][0], first_ref, predicate, "slsaprovenance1", bundle=True)
    [raw] = bundle_blobs(client, registry, repository, first.digest)
    key = load_public_key(keys["p256"][1].read_bytes())

    # a tampered payload: the statement rewritten to name the second image, the signature kept
    tampered = json.loads(raw)
    statement = json.loads(base64.b64decode(tampered["dsseEnvelope"]["payload"]))
    statement["subject"][0]["digest"]["sha256"] = second.digest.removeprefix("sha256:")
    tampered["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    verdict = bundles.verify_key_bundle(json.dumps(tampered), second.digest, key, predicate_type=SLSA,
                                        require_tlog=False)
    assert (verdict.ok, verdict.code) == (False, "bad-signature")
    # the same, as an .att layer of the second image
    envelope = canonical(tampered["dsseEnvelope"])
    pusher.blob(repository, envelope)
    config = canonical({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": []}})
    pusher.blob(repository, config)
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": descriptor("application/vnd.oci.image.config.v1+json", config),
                "layers": [descriptor(dsse.DSSE_MEDIA_TYPE, envelope, annotations={"predicateType": SLSA})]}
    pusher.manifest(repository, f"{referrers_tag(second.digest)}.att", canonical(document), OCI_MANIFEST)
    refused = verify(client, second_ref, by_key(keys["p256"][1], attestations=[SLSA]))
    assert "attestation 0: bad-signature: the DSSE signature does not verify" in refused.reasons[-1]

    # a bundle that is not JSON, and one far too large, attached to the second image
    attach_bundle(pusher, repository, second, b'{"mediaType": "application/vnd.dev.sigstore.bundle')
    refused = verify(client, second_ref, by_key(keys["p256"][1]))
    assert "bundle 0: invalid-bundle: not a valid Sigstore bundle" in refused.reasons[0]
    huge = json.dumps({**json.loads(raw), "pad": "x" * (4 * 1024 * 1024)}).encode()
    attach_bundle(pusher, repository, second, huge)
    refused = verify(client, second_ref, by_key(keys["p256"][1]))
    assert refused.status == "refused" and "bundle 0: unreadable" in refused.reasons[0]
    assert "4194304" in refused.reasons[0]
    assert bundles.verify_key_bundle(huge * 8, second.digest, key, predicate_type=SLSA,
                                     require_tlog=False).code == "too-large"
    oversized = dsse.parse_envelope(b" " * (dsse.MAX_ENVELOPE_BYTES + 1))
    assert isinstance(oversized, Verdict) and oversized.code == "too-large"
    assert not cosign.tuf_cache.exists()


# ---- the transparency log: cosign uploads to a Rekor of our own on loopback ---------------------------


@dataclass
class Logged:
    rekor: FakeRekor
    log: Log
    trusted_root: Path


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    rekor = FakeRekor()
    directory = tmp_path_factory.mktemp("rekor")
    (directory / "rekor.pub").write_bytes(rekor.public_pem)
    with rekor.serve() as url:
        yield Logged(rekor, Log(url, directory / "rekor.pub"),
                     rekor.write_trusted_root(directory / "trusted_root.json", url=url))


def logged_rule(public: Path, trusted_root: Path | None, **extra: Any) -> dict[str, Any]:
    """A rule with the transparency log required (its default, not written)."""
    return {"keys": [{"file": str(public)}], **({"trustedRoot": str(trusted_root)} if trusted_root else {}),
            **extra}


@pytest.mark.parametrize("bundle", [True, False], ids=["bundle", "classic"])
def test_signatures_and_attestations_logged_by_cosign_verify_with_the_log_required(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]], predicate: Path, logged: Logged, bundle: bool) -> None:
    """cosign 3 with its defaults (``--tlog-upload`` true) uploads to the log and keeps the entry: a
    ``dsse`` 0.0.1 entry in the bundle, or for the classic tags a ``hashedrekord`` (``.sig``) and a
    ``dsse`` entry (``.att``) in the ``dev.sigstore.cosign/bundle`` annotation. A policy with
    ``transparencyLog: true`` and the log's trusted root accepts them, with the integrated time."""
    repository = f"team/logged-{'bundle' if bundle else 'classic'}"
    image, ref = pushed_image(pusher, registry, repository, "v1")
    before = len(logged.rekor.proposed)
    cosign.sign_logged(keys["p256"][0], ref, logged.log, bundle=bundle)
    cosign.attest_logged(keys["p256"][0], ref, predicate, "slsaprovenance1", logged.log, bundle=bundle)
    kinds = [p["kind"] for p in logged.rekor.proposed[before:]]
    assert kinds == (["dsse", "dsse"] if bundle else ["hashedrekord", "dsse"])
    if bundle:
        raws = bundle_blobs(client, registry, repository, image.digest)
        assert len(raws) == 2
        for raw in raws:
            [entry] = json.loads(raw)["verificationMaterial"]["tlogEntries"]
            assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
            assert entry["integratedTime"] == str(logged.rekor.integrated_time)

    verdict = verify(client, f"{registry.host}/{repository}:v1",
                     logged_rule(keys["p256"][1], logged.trusted_root, attestations=[SLSA]))
    assert verdict.status == "verified", verdict.reasons
    signature, attestation = verdict.rules[0].requirements
    when = datetime.fromtimestamp(logged.rekor.integrated_time, UTC)
    assert signature.ok and attestation.ok
    assert signature.integrated_time == when and attestation.integrated_time == when
    assert signature.reason.endswith("(Sigstore bundle)") == bundle
    assert signature.signer == attestation.signer == fingerprint(keys["p256"][1])

    # the public-good root does not know this log: its SETs prove nothing there
    public = verify(client, ref, logged_rule(keys["p256"][1], None, attestations=[SLSA]))
    assert public.status == "refused"
    assert f"bad-tlog: log {logged.rekor.log_id} is not a transparency log of the trusted root" \
        in public.reasons[0]
    # the log's key valid only from after the entries were made
    late = logged.rekor.write_trusted_root(logged.trusted_root.parent / f"late-{bundle}.json",
                                           start="2026-06-01T00:00:00Z", url=logged.log.url)
    refused = verify(client, ref, logged_rule(keys["p256"][1], late))
    assert refused.status == "refused"
    assert "bad-tlog: the log's key was not valid at the integrated time 2026-01-01T00:00:00+00:00" \
        in refused.reasons[0]
    assert not cosign.tuf_cache.exists()


def test_a_logged_bundle_with_its_entry_swapped_tampered_or_removed_is_refused(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]], logged: Logged) -> None:
    """Two images signed and logged by cosign; the first's bundle given the second's (genuine, logged)
    entry, an entry with another integrated time, or no entry."""
    repository = "team/logged-hostile"
    first, first_ref = pushed_image(pusher, registry, repository, "a")
    second, _ = pushed_image(pusher, registry, repository, "b")
    cosign.sign_logged(keys["p256"][0], first_ref, logged.log, bundle=True)
    cosign.sign_logged(keys["p256"][0], f"{registry.host}/{repository}@{second.digest}", logged.log,
                       bundle=True)
    [raw] = bundle_blobs(client, registry, repository, first.digest)
    [other] = bundle_blobs(client, registry, repository, second.digest)
    key = load_public_key(keys["p256"][1].read_bytes())
    trust = TrustRoot.from_json(logged.trusted_root.read_bytes())

    def check(document: dict[str, Any]) -> Verdict:
        return bundles.verify_key_bundle(json.dumps(document), first.digest, key,
                                         predicate_type=dsse.COSIGN_SIGN_PREDICATE, require_tlog=True,
                                         trust=trust)

    genuine = json.loads(raw)
    assert check(genuine).ok
    swapped = json.loads(raw)
    swapped["verificationMaterial"]["tlogEntries"] = json.loads(other)["verificationMaterial"]["tlogEntries"]
    verdict = check(swapped)
    assert (verdict.code, verdict.reason) == (
        "tlog-mismatch", "the transparency log entry is not this envelope: the entry's payload hash is not "
                         "the sha256 of the envelope's payload")
    tampered = json.loads(raw)
    tampered["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1767225601"
    verdict = check(tampered)
    assert (verdict.code, verdict.reason) == ("bad-tlog", "the SignedEntryTimestamp does not verify with the "
                                                          "log's key")
    removed = json.loads(raw)
    del removed["verificationMaterial"]["tlogEntries"]
    assert check(removed).code == "no-tlog"
    # the same through the verifier: the swapped bundle attached to the first image
    attach_bundle(pusher, repository, first, json.dumps(swapped).encode())
    refused = verify(client, first_ref, logged_rule(keys["p256"][1], logged.trusted_root))
    assert refused.status == "refused"
    assert "bundle 0: tlog-mismatch: the transparency log entry is not this envelope" in refused.reasons[0]


def test_a_logged_attestation_layer_with_another_layers_entry_is_refused(
        registry: Registry, pusher: Pusher, client: RegistryClient, cosign: Cosign,
        keys: dict[str, tuple[Path, Path]], predicate: Path, logged: Logged) -> None:
    """The ``.att`` layers cosign wrote for two images, each checked with its own and the other's
    ``dev.sigstore.cosign/bundle`` annotation (whose envelope hash is of the other envelope)."""
    repository = "team/logged-att"
    pushed = [pushed_image(pusher, registry, repository, tag) for tag in ("a", "b")]
    layers = []
    for image, ref in pushed:
        cosign.attest_logged(keys["p256"][0], ref, predicate, "slsaprovenance1", logged.log, bundle=False)
        tag = f"{referrers_tag(image.digest)}.att"
        manifest = client.get_manifest(registry.host, repository, tag).parse()
        assert isinstance(manifest, ImageManifest)
        [layer] = manifest.layers
        layers.append((client.get_blob(registry.host, repository, layer.digest),
                       layer.annotations["dev.sigstore.cosign/bundle"]))
    key = load_public_key(keys["p256"][1].read_bytes())
    trust = TrustRoot.from_json(logged.trusted_root.read_bytes())
    first = pushed[0][0]
    (envelope, annotation), (_, other_annotation) = layers
    body = json.loads(base64.b64decode(json.loads(annotation)["Payload"]["body"]))
    assert (body["kind"], body["apiVersion"]) == ("dsse", "0.0.1")
    assert body["spec"]["envelopeHash"]["value"] == hashlib.sha256(envelope).hexdigest()

    def check(annotation: str | None) -> Verdict:
        return dsse.verify_attestation_layer(envelope, annotation, first.digest, key, predicate_type=SLSA,
                                             require_tlog=True, trust=trust)

    assert check(annotation).integrated_time == datetime.fromtimestamp(logged.rekor.integrated_time, UTC)
    verdict = check(other_annotation)
    assert (verdict.code, verdict.reason) == (
        "tlog-mismatch", "the transparency log entry is not this envelope: the entry's payload hash is not "
                         "the sha256 of the envelope's payload")
    assert check(None).code == "no-tlog"
    tampered = json.loads(annotation)
    tampered["Payload"]["integratedTime"] += 1
    verdict = check(json.dumps(tampered))
    assert (verdict.code, verdict.reason) == ("bad-tlog", "the SignedEntryTimestamp does not verify with the "
                                                          "log's key")
