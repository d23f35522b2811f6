"""The policy evaluator (gitops/verify/evaluate.py) against Debian's real docker-registry.

Images and cosign signatures are pushed by the tests themselves (registry_kit.Pusher), signed like
cosign signs (the simple-signing payload, ECDSA P-256 with SHA-256 or Ed25519) with keys generated
here. The attestation path uses the real public-good bundle of ../shared, whose subject is
go-containerregistry's empty image: the test pushes that manifest byte for byte and finds the bundle
through the referrers tag fallback (docker-registry 2.8 has no referrers API). Notation: a JWS
envelope signed here (registry_kit.NotationSigner) verifies; a real notation-go envelope for another
digest is refused. Registry requests are
counted by a wrapper; time is a ManualClock; no sleeps.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gitops.clock import ManualClock
from gitops.config.verification import VerificationPolicy
from gitops.verify.evaluate import ImageVerifier
from gitops.verify.keys import load_public_key
from gitops.verify.ocitypes import SIGSTORE_BUNDLE, Descriptor, Manifest
from gitops.verify.reference import parse
from gitops.verify.registry import RegistryClient, RegistryOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry_kit import (  # found through the path set just above
    EMPTY_IMAGE_DIGEST,
    FakeRegistry,
    NotationSigner,
    Pushed,
    Pusher,
    Registry,
    Reply,
    cosign_sign,
    public_pem,
    simple_signing_payload,
)

ATTESTATION = "https://cosign.sigstore.dev/attestation/v1"
CODY = {"subject": "cody@soyland.com", "issuer": "https://github.com/login/oauth"}


class Counting:
    """The registry Protocol over a real client, counting each call by name."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.calls: list[str] = []

    def resolve(self, registry: str, repository: str, reference: str) -> Descriptor:
        self.calls.append("resolve")
        return self.client.resolve(registry, repository, reference)

    def get_manifest(self, registry: str, repository: str, reference: str) -> Manifest:
        self.calls.append("get_manifest")
        return self.client.get_manifest(registry, repository, reference)

    def get_blob(self, registry: str, repository: str, digest: str, max_bytes: int | None = None) -> bytes:
        self.calls.append("get_blob")
        return self.client.get_blob(registry, repository, digest, max_bytes)

    def referrers(self, registry: str, repository: str, digest: str,
                  artifact_type: str | None = None) -> list[Descriptor]:
        self.calls.append("referrers")
        return self.client.referrers(registry, repository, digest, artifact_type)


@pytest.fixture
def counting(registry: Registry) -> Iterator[Counting]:
    client = RegistryClient({registry.host: RegistryOptions(plain_http=True)})
    yield Counting(client)
    client.close()


@pytest.fixture(scope="module")
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def edkey() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


Key = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def key_file(tmp_path: Path, private: Key, name: str = "cosign.pub") -> str:
    path = tmp_path / name
    path.write_bytes(public_pem(private))
    return str(path)


def fingerprint(private: Key) -> str:
    return load_public_key(public_pem(private)).fingerprint


def policy(rules: list[dict[str, Any]], name: str = "p", **spec: Any) -> VerificationPolicy:
    return VerificationPolicy.model_validate({"name": name, "rules": rules, **spec})


def keyed(glob: str, *files: str, **extra: Any) -> dict[str, Any]:
    return {"images": [glob], "keys": [{"file": f} for f in files], "transparencyLog": False, **extra}


def sign(pusher: Pusher, registry: Registry, repository: str, image: Pushed, private: Key,
         digest: str | None = None) -> None:
    payload = simple_signing_payload(f"{registry.host}/{repository}", digest or image.digest)
    pusher.cosign_signature(repository, image, payload, cosign_sign(private, payload))


@pytest.mark.parametrize("which", ["p256", "ed25519"])
def test_a_signed_image_verifies_with_its_key_and_the_verdict_carries_the_digest(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path, which: str,
        p256: ec.EllipticCurvePrivateKey, edkey: ed25519.Ed25519PrivateKey) -> None:
    private: Key = p256 if which == "p256" else edkey
    image = pusher.image("team/signed", which, label=which)
    sign(pusher, registry, "team/signed", image, private)
    clock = ManualClock()
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, private))])], counting, clock=clock)
    verdict = verifier.verify_image(parse(f"{registry.host}/team/signed:{which}"))
    assert verdict.status == "verified" and verdict.allowed, verdict
    assert verdict.digest == image.digest
    assert verdict.signers == (fingerprint(private),)
    assert verdict.mode == "enforce" and verdict.verified_at == clock.now()
    assert verdict.rules[0].requirements[0].name == "keys"
    assert counting.calls == ["resolve", "get_manifest", "get_blob"]


def test_an_unsigned_image_is_refused(registry: Registry, pusher: Pusher, counting: Counting,
                                      tmp_path: Path, p256: ec.EllipticCurvePrivateKey) -> None:
    image = pusher.image("team/unsigned", "v1")
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, p256), name="ours")])], counting,
                             clock=ManualClock())
    verdict = verifier.verify_image(parse(f"{registry.host}/team/unsigned:v1"))
    assert verdict.status == "refused" and not verdict.allowed
    assert verdict.digest == image.digest
    tag = f"{registry.host}/team/unsigned:sha256-{image.digest[7:]}.sig"
    assert verdict.reasons == (f"policy p rule ours: keys: no cosign signature: {tag} does not exist, and no "
                               "Sigstore bundle (application/vnd.dev.sigstore.bundle.v0.3+json) refers to "
                               "the image",)


def test_a_signature_for_another_image_or_by_another_key_is_refused(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
        p256: ec.EllipticCurvePrivateKey, edkey: ed25519.Ed25519PrivateKey) -> None:
    image = pusher.image("team/mixed", "v1", label="one")
    other = pusher.image("team/mixed", "v2", label="two")
    sign(pusher, registry, "team/mixed", image, p256, digest=other.digest)  # signs v2's digest
    sign(pusher, registry, "team/mixed", other, p256)
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, p256))])], counting, clock=ManualClock())
    mismatch = verifier.verify_image(parse(f"{registry.host}/team/mixed:v1"))
    assert mismatch.status == "refused"
    assert "digest-mismatch" in mismatch.reasons[0] and other.digest in mismatch.reasons[0]
    wrong = ImageVerifier([policy([keyed("**", key_file(tmp_path, edkey))])], counting, clock=ManualClock())
    refused = wrong.verify_image(parse(f"{registry.host}/team/mixed:v2"))
    assert refused.status == "refused" and "bad-signature" in refused.reasons[0]
    assert fingerprint(edkey) in refused.reasons[0]
    # any one key of the list is enough
    both = ImageVerifier([policy([keyed("**", key_file(tmp_path, edkey, "ed.pub"),
                                        key_file(tmp_path, p256, "p.pub"))])], counting, clock=ManualClock())
    assert both.verify_image(parse(f"{registry.host}/team/mixed:v2")).signers == (fingerprint(p256),)


def test_a_moved_tag_keeps_the_first_digest_within_the_ttl_then_is_resolved_again(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
        p256: ec.EllipticCurvePrivateKey) -> None:
    first = pusher.image("team/moving", "v1", label="first")
    sign(pusher, registry, "team/moving", first, p256)
    clock = ManualClock()
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, p256))])], counting, clock=clock,
                             ttl=60.0)
    ref = parse(f"{registry.host}/team/moving:v1")
    assert verifier.verify_image(ref).digest == first.digest
    calls = len(counting.calls)
    moved = pusher.image("team/moving", "v1", label="second")  # the tag now names an unsigned image
    clock.advance(59.0)
    again = verifier.verify_image(ref)
    assert again.digest == first.digest and again.status == "verified"
    assert len(counting.calls) == calls  # no registry request at all
    clock.advance(2.0)
    after = verifier.verify_image(ref)
    assert after.digest == moved.digest and after.status == "refused"
    assert counting.calls[calls] == "resolve"
    assert verifier.evaluations == 2


def test_a_shorter_resolve_ttl_notices_a_moved_tag_sooner(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
        p256: ec.EllipticCurvePrivateKey) -> None:
    first = pusher.image("team/quick", "v1", label="first")
    sign(pusher, registry, "team/quick", first, p256)
    clock = ManualClock()
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, p256))])], counting, clock=clock,
                             ttl=600.0, resolve_ttl=10.0)
    ref = parse(f"{registry.host}/team/quick:v1")
    assert verifier.verify_image(ref).status == "verified"
    moved = pusher.image("team/quick", "v1", label="second")
    clock.advance(11.0)
    assert verifier.verify_image(ref).digest == moved.digest


def test_a_refusal_is_kept_briefly_so_signing_takes_effect_soon(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
        p256: ec.EllipticCurvePrivateKey) -> None:
    image = pusher.image("team/late", "v1", label="late")
    clock = ManualClock()
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, p256))])], counting, clock=clock,
                             ttl=300.0, refused_ttl=30.0)
    ref = parse(f"{registry.host}/team/late:v1")
    assert verifier.verify_image(ref).status == "refused"
    sign(pusher, registry, "team/late", image, p256)
    clock.advance(29.0)
    assert verifier.verify_image(ref).status == "refused"  # still the cached refusal
    clock.advance(2.0)
    assert verifier.verify_image(ref).status == "verified"
    calls = len(counting.calls)
    clock.advance(250.0)  # a verdict that allowed the image is kept for the whole ttl
    assert verifier.verify_image(ref).status == "verified" and len(counting.calls) == calls
    assert verifier.evaluations == 2
    with pytest.raises(ValueError, match="not negative"):
        ImageVerifier([], counting, refused_ttl=-1.0)


def test_the_cache_lifetimes_come_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                       counting: Counting) -> None:
    from gitops.domain import Fleet
    from gitops.errors import InputError
    from gitops.verify.policy import policy_verifier

    policies = {"p": policy([keyed("**", "k.pub")])}
    monkeypatch.setenv("GITOPS_VERIFY_TTL", "120")
    monkeypatch.setenv("GITOPS_VERIFY_REFUSED_TTL", "0")
    built = policy_verifier(policies, Fleet, counting)
    assert built is not None and (built.images.ttl, built.images.refused_ttl) == (120.0, 0.0)
    for bad in ("soon", "-5", "inf", "nan"):
        monkeypatch.setenv("GITOPS_VERIFY_REFUSED_TTL", bad)
        with pytest.raises(InputError, match="GITOPS_VERIFY_REFUSED_TTL"):
            policy_verifier(policies, Fleet, counting)


def test_an_attestation_bundle_is_found_through_the_referrers_tag_fallback(
        registry: Registry, pusher: Pusher, counting: Counting, shared: Callable[[str], Path]) -> None:
    bundle = shared("cosign/bundles/oci-attestation.sigstore.json").read_bytes()
    empty = pusher.empty_image("team/empty", "latest")
    referrer = pusher.referrer("team/empty", empty, SIGSTORE_BUNDLE, bundle)
    pusher.referrers_index("team/empty", empty, [(referrer, SIGSTORE_BUNDLE)])
    rules = [{"name": "attested", "images": ["**"], "keyless": [CODY], "attestations": [ATTESTATION]},
             {"name": "slsa", "images": ["**"], "keyless": [CODY],
              "attestations": ["https://slsa.dev/provenance/v1"], "mode": "warn"}]
    verifier = ImageVerifier([policy(rules)], counting, clock=ManualClock())
    verdict = verifier.verify_image(parse(f"{registry.host}/team/empty"))
    assert verdict.digest == EMPTY_IMAGE_DIGEST
    attested = {r.name: r for r in verdict.rules[0].requirements}
    assert attested[f"attestation {ATTESTATION}"].ok
    assert attested[f"attestation {ATTESTATION}"].signer == "cody@soyland.com"
    # the rule also names a keyless signature, which this image has not (no .sig): refused, precisely
    assert not attested["keyless"].ok and "no cosign signature" in attested["keyless"].reason
    assert verdict.status == "refused"
    assert verdict.reasons == (f"policy p rule attested: keyless: {attested['keyless'].reason}",)
    slsa = {r.name: r for r in verdict.rules[1].requirements}["attestation https://slsa.dev/provenance/v1"]
    assert not slsa.ok and "predicate-mismatch" in slsa.reason
    assert any("rule slsa" in w for w in verdict.warnings)
    assert counting.calls.count("referrers") == 1  # bundles fetched once for both rules


def test_warn_passes_with_a_warning_off_skips_and_default_actions(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
        p256: ec.EllipticCurvePrivateKey) -> None:
    pusher.image("team/modes", "v1")
    ref = parse(f"{registry.host}/team/modes:v1")
    key = key_file(tmp_path, p256)
    warned = ImageVerifier([policy([keyed("**", key)], mode="warn")], counting).verify_image(ref)
    assert warned.status == "warned" and warned.allowed and warned.mode == "warn"
    assert warned.reasons == () and "no cosign signature" in warned.warnings[0]
    rule_warn = ImageVerifier([policy([keyed("**", key, mode="warn")])], counting).verify_image(ref)
    assert rule_warn.status == "warned"
    calls = len(counting.calls)
    off = ImageVerifier([policy([keyed("**", key)], mode="off")], counting).verify_image(ref)
    assert off.status == "skipped" and off.allowed and len(counting.calls) == calls  # not even resolved
    rule_off = ImageVerifier([policy([keyed("**", key, mode="off")])], counting).verify_image(ref)
    assert rule_off.status == "skipped"
    elsewhere = keyed("ghcr.io/example/**", key)
    enforce = ImageVerifier([policy([elsewhere])], counting).verify_image(ref)
    assert enforce.status == "refused"
    assert enforce.reasons == ("policy p: no rule matches the image (defaultAction: enforce)",)
    warn = ImageVerifier([policy([elsewhere], defaultAction="warn")], counting).verify_image(ref)
    assert warn.status == "warned" and warn.warnings
    allow = ImageVerifier([policy([elsewhere], defaultAction="allow")], counting).verify_image(ref)
    assert allow.status == "allowed" and allow.allowed


def test_selectors_choose_the_policies_that_apply(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
        p256: ec.EllipticCurvePrivateKey) -> None:
    pusher.image("team/selected", "v1")
    ref = parse(f"{registry.host}/team/selected:v1")
    prod = policy([keyed("**", key_file(tmp_path, p256))], applications={"matchLabels": {"tier": "prod"}},
                  clusters={"matchLabels": {"env": "prod"}})
    verifier = ImageVerifier([prod], counting)
    assert verifier.verify_image(ref, application_labels={"tier": "prod"},
                                 cluster_labels={"env": "prod"}).status == "refused"
    calls = len(counting.calls)
    dev = verifier.verify_image(ref, application_labels={"tier": "dev"}, cluster_labels={"env": "prod"})
    assert dev.status == "allowed" and len(counting.calls) == calls


NOTATION_DATA = Path(__file__).resolve().parent / "data" / "notation"


def notation_rule(tmp_path: Path, scope: str) -> dict[str, Any]:
    trust_policy = tmp_path / "trustpolicy.json"
    trust_policy.write_text(json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "ours", "registryScopes": [scope], "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:notation-test"], "trustedIdentities": ["*"]}]}))
    return {"name": "n", "images": ["**"], "notation": {"trustPolicy": str(trust_policy),
                                                        "trustStore": str(NOTATION_DATA / "truststore")}}


def test_notation_rules_are_judged_by_the_notation_verifier(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path) -> None:
    image = pusher.image("team/notary", "v1")
    ref = parse(f"{registry.host}/team/notary:v1")
    rule = notation_rule(tmp_path, f"{registry.host}/team/notary")
    unsigned = ImageVerifier([policy([rule])], counting).verify_image(ref)
    assert unsigned.status == "refused"
    assert unsigned.reasons == ("policy p rule n: notation: no Notation signature "
                                "(application/vnd.cncf.notary.signature) refers to the image",)
    # a real notation-go envelope, attached to our image: it signs another digest, so it is refused
    envelope = (NOTATION_DATA / "ca_valid_sig_env.json").read_bytes()
    signature = pusher.referrer("team/notary", image, "application/vnd.cncf.notary.signature", envelope,
                                layer_media_type="application/jose+json")
    pusher.referrers_index("team/notary", image, [(signature, "application/vnd.cncf.notary.signature")])
    refused = ImageVerifier([policy([rule])], counting).verify_image(ref)
    assert refused.status == "refused"
    (requirement,) = refused.rules[0].requirements
    assert requirement.name == "notation" and "signature 0: " in requirement.reason
    assert requirement.reason.startswith("no Notation signature is trusted: signature 0: digest-mismatch: "
                                         "the signature is for sha256:60043cf4")
    assert requirement.reason.endswith(f"not the image {image.digest}")
    missing = dict(rule, notation={"trustPolicy": str(tmp_path / "absent.json"),
                                   "trustStore": str(NOTATION_DATA / "truststore")})
    unreadable = ImageVerifier([policy([missing])], counting).verify_image(ref)
    assert unreadable.status == "refused" and "absent.json" in unreadable.reasons[0]


def test_a_notation_signature_made_here_verifies(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path) -> None:
    signer = NotationSigner()
    image = pusher.image("team/notarised", "v1")
    signature = pusher.referrer("team/notarised", image, "application/vnd.cncf.notary.signature",
                                signer.envelope(image), layer_media_type="application/jose+json")
    pusher.referrers_index("team/notarised", image, [(signature, "application/vnd.cncf.notary.signature")])
    trust_policy = tmp_path / "trustpolicy.json"
    trust_policy.write_text(json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "acme", "registryScopes": [f"{registry.host}/team/notarised"],
        "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme"],
        "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme, CN=builder"]}]}))
    rule = {"name": "n", "images": ["**"], "notation": {"trustPolicy": str(trust_policy),
                                                        "trustStore": str(signer.store(tmp_path / "store"))}}
    clock = ManualClock(start=datetime(2026, 12, 4, tzinfo=UTC).timestamp())
    verdict = ImageVerifier([policy([rule])], counting, clock=clock).verify_image(
        parse(f"{registry.host}/team/notarised:v1"))
    assert verdict.status == "verified", verdict.reasons
    assert verdict.digest == image.digest and len(verdict.signers) == 1 and "CN=builder" in verdict.signers[0]


def test_a_missing_key_file_refuses_with_the_file_named(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path) -> None:
    pusher.image("team/nokey", "v1")
    verdict = ImageVerifier([policy([keyed("**", str(tmp_path / "absent.pub"))])], counting).verify_image(
        parse(f"{registry.host}/team/nokey:v1"))
    assert verdict.status == "refused" and "absent.pub" in verdict.reasons[0]


def test_a_registry_answering_429_is_a_temporary_failure_never_cached() -> None:
    server = FakeRegistry(lambda request: Reply(429, b"", {"Retry-After": "30"}))
    try:
        client = RegistryClient({server.host: RegistryOptions(plain_http=True)})
        with client:
            verifier = ImageVerifier([policy([{"images": ["**"], "keys": [{"env": "UNUSED_KEY"}],
                                               "transparencyLog": False}])], client, clock=ManualClock())
            ref = parse(f"{server.host}/team/app:v1")
            first = verifier.verify_image(ref)
            assert first.status == "temporary" and first.temporary and not first.allowed
            assert first.retry_after == 30.0 and "429" in first.reasons[0]
            assert verifier.verify_image(ref).status == "temporary"
            assert len(server.requests) == 2  # asked again: a temporary failure is not remembered
    finally:
        server.close()


def test_a_permanent_registry_error_refuses(registry: Registry, counting: Counting, tmp_path: Path,
                                            p256: ec.EllipticCurvePrivateKey) -> None:
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, p256))])], counting)
    verdict = verifier.verify_image(parse(f"{registry.host}/team/absent:v1"))
    assert verdict.status == "refused" and verdict.digest is None and "registry:" in verdict.reasons[0]


def test_a_thousand_targets_sharing_fifty_images_verify_each_image_once(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
        p256: ec.EllipticCurvePrivateKey) -> None:
    refs = []
    for n in range(50):
        image = pusher.image("team/fleet", f"v{n}", label=str(n))
        sign(pusher, registry, "team/fleet", image, p256)
        refs.append(parse(f"{registry.host}/team/fleet:v{n}"))
    clock = ManualClock()
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, p256))])], counting, clock=clock)
    verdicts = []
    for target in range(1000):
        images = [refs[(target + k) % 50] for k in range(5)]
        verdicts += verifier.verify_all(images, application_labels={"app": f"a{target}"},
                                        cluster_labels={"cluster": f"c{target % 7}"})
    assert len(verdicts) == 5000 and all(v.status == "verified" for v in verdicts)
    assert verifier.evaluations == 50
    # one resolve, one signature manifest and one payload blob per image
    assert len(counting.calls) == 150
    clock.advance(1.0)
    verifier.verify_all(refs)
    assert len(counting.calls) == 150  # an unchanged fleet makes no registry request within the TTL


def test_the_caches_are_bounded(registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
                                p256: ec.EllipticCurvePrivateKey) -> None:
    refs = [parse(f"{registry.host}/team/bounded:v{n}") for n in range(3)]
    for n in range(3):
        sign(pusher, registry, "team/bounded", pusher.image("team/bounded", f"v{n}", label=str(n)), p256)
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, p256))])], counting, max_entries=2)
    verifier.verify_all(refs)
    assert verifier.evaluations == 3
    verifier.verify_image(refs[0])  # evicted (least recently used): evaluated again
    assert verifier.evaluations == 4


def test_threads_asking_for_one_image_share_one_resolution_and_one_evaluation(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
        p256: ec.EllipticCurvePrivateKey) -> None:
    image = pusher.image("team/shared", "v1")
    sign(pusher, registry, "team/shared", image, p256)
    verifier = ImageVerifier([policy([keyed("**", key_file(tmp_path, p256))])], counting)
    ref = parse(f"{registry.host}/team/shared:v1")
    start = threading.Barrier(16)

    def one(n: int) -> str:
        start.wait(30)
        return verifier.verify_image(ref, application_labels={"app": f"a{n}"}).status

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(one, range(16))) == ["verified"] * 16
    assert verifier.evaluations == 1 and counting.calls == ["resolve", "get_manifest", "get_blob"]


def test_a_tag_glob_sees_latest_for_an_image_written_without_a_tag(
        registry: Registry, pusher: Pusher, counting: Counting, tmp_path: Path,
        p256: ec.EllipticCurvePrivateKey) -> None:
    image = pusher.image("team/plain", "latest")
    sign(pusher, registry, "team/plain", image, p256)
    rules = [keyed("127.0.0.1:*/team/plain:latest", key_file(tmp_path, p256))]
    verifier = ImageVerifier([policy(rules)], counting)
    assert verifier.verify_image(parse(f"{registry.host}/team/plain")).status == "verified"
    pinned = verifier.verify_image(parse(f"{registry.host}/team/plain@{image.digest}"))
    assert pinned.status == "refused" and "no rule matches" in pinned.reasons[0]  # a digest has no tag
