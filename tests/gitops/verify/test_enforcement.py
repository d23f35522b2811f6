"""Enforcement end to end: a VerificationPolicy in the configuration, the engine's verify stage, a
sandbox cluster and Debian's real docker-registry. An application whose image is unsigned is not
applied and its result says why; once the image is signed the next sync applies it; a warn-mode
policy applies and records the warning on the operation's ``verify`` span."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
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

from registry_kit import (  # found through the path set just above
    REGISTRY_BINARY,
    Pusher,
    Registry,
    cosign_sign,
    public_pem,
    simple_signing_payload,
    start_registry,
)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - {{name: web, image: "{image}"}}
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, missing: Any) -> Iterator[Registry]:
    if not REGISTRY_BINARY.exists():
        missing(f"{REGISTRY_BINARY} is absent (Debian's docker-registry)")
    running = start_registry(tmp_path_factory.mktemp("registry"))
    yield running
    running.stop()


class World:
    def __init__(self, root: Path, registry: Registry, sandbox: Sandbox) -> None:
        self.root, self.registry, self.sandbox = root, registry, sandbox
        self.key = ec.generate_private_key(ec.SECP256R1())
        (root / "cosign.pub").write_bytes(public_pem(self.key))
        self.repo = root / "repo"
        self.repo.mkdir()
        self.git("init", "-q", "-b", "main")
        self.pusher = Pusher(registry)
        self.image = self.pusher.image("team/web", "v1", label=root.name)
        self.commit(f"{registry.host}/team/web:v1")

    def git(self, *args: str) -> None:
        subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.invalid", *args],
                       cwd=self.repo, check=True, capture_output=True)

    def commit(self, image: str) -> None:
        (self.repo / "app").mkdir(exist_ok=True)
        (self.repo / "app" / "deployment.yaml").write_text(DEPLOYMENT.format(image=image))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", f"deploy {image}")

    def config(self, mode: str = "enforce", pin: bool = False) -> Path:
        path = self.root / "config.yaml"
        path.write_text(f"""\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: demo}}
spec: {{url: "file://{self.repo}", allowLocal: true}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: dev}}
spec: {{kubeconfig: "{self.root / 'kubeconfig.yaml'}"}}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {{name: web}}
spec:
  source: {{repository: demo, path: app}}
  destination: {{cluster: dev, namespace: default}}
---
apiVersion: gitops.dev/v1alpha1
kind: VerificationPolicy
metadata: {{name: team}}
spec:
  mode: {mode}
  pinDigests: {str(pin).lower()}
  rules:
    - images: ["{self.registry.host}/team/**"]
      keys: [{{file: cosign.pub}}]
      transparencyLog: false
""")
        return path

    def sign(self) -> None:
        payload = simple_signing_payload(f"{self.registry.host}/team/web", self.image.digest)
        self.pusher.cosign_signature("team/web", self.image, payload, cosign_sign(self.key, payload))

    def deployed(self) -> bool:
        return self.live() is not None

    def live(self) -> dict[str, Any] | None:
        answer = httpx.get(f"{self.sandbox.url}/apis/apps/v1/namespaces/default/deployments/web")
        return answer.json() if answer.status_code == 200 else None  # type: ignore[no-any-return]


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


def test_pinned_digests_are_what_is_applied(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sign()
    config = str(world.config(pin=True))
    assert main(["sync", "-c", config, "web", "--cache-dir", str(world.root / "cache")]) == 0
    live = world.live()
    assert live is not None
    (container,) = live["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{world.registry.host}/team/web:v1@{world.image.digest}"
    capsys.readouterr()
