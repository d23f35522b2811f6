"""A Git repository deploying one image from the test registry, a sandbox cluster and a configuration
with a VerificationPolicy: the world of the enforcement tests (tests/gitops/verify/test_enforcement.py
runs the engine in this process, tests/workers/test_verification_workers.py in real workers)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from registry_kit import Pusher, Registry, cosign_sign, public_pem, simple_signing_payload

from kubesandbox import Sandbox

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
