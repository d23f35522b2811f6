"""Enforcement end to end: a VerificationPolicy in the configuration, the engine's verify stage, a
sandbox cluster and Debian's real docker-registry. An application whose image is unsigned is not
applied and its result says why; once the image is signed the next sync applies it; a warn-mode
policy applies and records the warning on the operation's ``verify`` span."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gitops.adapters import production_ports
from gitops.cli import main
from gitops.config import load_config, to_fleet
from gitops.engine import ReconcileRequest, reconcile
from gitops.env import ENV_REGISTRY_PLAIN_HTTP
from gitops.verify.policy import policy_verifier
from gitops.vocabulary import Trigger
from kubesandbox import Sandbox

sys.path.insert(0, str(Path(__file__).resolve().parent))

from enforcement_world import World  # found through the path set just above
from registry_kit import (
    Registry,
    cosign_sign,
    simple_signing_payload,
)


@pytest.fixture
def world(tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv(ENV_REGISTRY_PLAIN_HTTP, registry.host)
    sandbox = Sandbox.start(kubeconfig=tmp_path / "kubeconfig.yaml", name="dev")
    try:
        built = World(tmp_path, registry, sandbox)
        yield built
        built.pusher.close()
    finally:
        sandbox.stop()


def test_an_unsigned_image_is_not_applied_and_signing_it_lets_the_next_sync_apply(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    cache = ["--cache-dir", str(world.root / "cache")]
    config = str(world.config())
    assert main(["validate", "-c", config]) == 0  # a policy is accepted now that it is enforced
    code = main(["sync", "-c", config, "web", *cache])
    out = capsys.readouterr()
    assert code != 0 and "refused by the policy" in out.out + out.err
    assert f"{world.registry.host}/team/web:v1" in out.out + out.err
    assert not world.deployed() and world.sandbox.stats.count(write=True) == 0  # nothing applied at all
    world.sign()
    assert main(["sync", "-c", config, "web", *cache]) == 0, capsys.readouterr()
    assert world.deployed()


def test_another_key_or_another_image_is_refused(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    payload = simple_signing_payload(f"{world.registry.host}/team/web", world.image.digest)
    world.pusher.cosign_signature("team/web", world.image, payload, cosign_sign(other, payload))
    config = str(world.config())
    assert main(["sync", "-c", config, "web", "--cache-dir", str(world.root / "cache")]) != 0
    assert not world.deployed()
    capsys.readouterr()


def test_a_warn_mode_policy_applies_and_records_the_warning(world: World) -> None:
    config = load_config(world.config(mode="warn"))
    fleet = to_fleet(config)
    verifier = policy_verifier(config.verification_policies, lambda: fleet)
    ports = production_ports(world.root / "cache", verifier, repositories=fleet.repositories.values())
    assert verifier is not None
    try:
        result = reconcile(ReconcileRequest(*fleet.lookup("web"), trigger=Trigger.MANUAL, sync=True), ports)
    finally:
        verifier.close()
    assert result.failure is None, result.failure
    assert world.deployed()
    (span,) = [s for s in result.spans if s.name == "verify"]
    assert span.attributes["images"] == "1" and "team/web" in span.attributes["warnings"]
    assert result.verification is not None
    [check] = result.verification
    assert (check.image, check.digest, check.status) == (f"{world.registry.host}/team/web:v1",
                                                         world.image.digest, "warned")
    assert "no cosign signature" in check.reasons[0]


def test_pinned_digests_are_what_is_applied(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sign()
    config = str(world.config(pin=True))
    assert main(["sync", "-c", config, "web", "--cache-dir", str(world.root / "cache")]) == 0
    live = world.live()
    assert live is not None
    (container,) = live["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{world.registry.host}/team/web:v1@{world.image.digest}"
    capsys.readouterr()
