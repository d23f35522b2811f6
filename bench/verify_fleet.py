"""Benchmark: image verification for a fleet: T targets sharing I images (issue 13's performance goal).

Run from the repository root:  python bench/verify_fleet.py [--targets 1000] [--images 50] [--per-target 5]

Starts Debian's docker-registry (``/usr/bin/docker-registry``) on loopback with its storage in a temp dir,
pushes I images and a cosign signature for each (ECDSA P-256, the simple-signing payload, as cosign
signs), and verifies, with one :class:`gitops.verify.evaluate.ImageVerifier` (one enforcing policy, one
key, as the engine will hold it), the images of T targets: target t runs ``per-target`` images,
``(t + k) mod I``, with its own application and cluster labels. Registry calls are counted by a wrapper
(each call is one HTTP request to this anonymous registry). Then a second pass over the same fleet (an
unchanged fleet within the TTL) and a pass after the TTL.

Prints: verifications (verdicts computed, not served from the cache), registry calls by kind, wall
time per pass, and whether the goal holds (at most I verifications and 3 x I registry calls: one
resolve, one signature manifest, one payload blob per image).

Peer, measured in the same run: the real cosign CLI (v3.1.3, tools/go/cosign, when
``scripts/build-go-tools cosign`` has built it) verifying the same I distinct images with the same key
(``cosign verify --key``, one process per image, offline: no log), the way a pipeline step or a
peer without a verdict cache checks them. The ratio compares our cold pass over the whole fleet with
cosign verifying each distinct image once.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "gitops" / "verify"))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from registry_kit import (  # noqa: E402
    REGISTRY_BINARY,
    Pusher,
    cosign_sign,
    public_pem,
    simple_signing_payload,
    start_registry,
)

from gitops.clock import ManualClock  # noqa: E402
from gitops.config.verification import VerificationPolicy  # noqa: E402
from gitops.verify.evaluate import ImageVerifier  # noqa: E402
from gitops.verify.ocitypes import Descriptor, Manifest  # noqa: E402
from gitops.verify.reference import ImageRef, parse  # noqa: E402
from gitops.verify.registry import RegistryClient, RegistryOptions  # noqa: E402


class Counting:
    """The evaluator's registry Protocol over the real client, counting calls by kind."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.calls: Counter[str] = Counter()

    def resolve(self, registry: str, repository: str, reference: str) -> Descriptor:
        self.calls["resolve"] += 1
        return self.client.resolve(registry, repository, reference)

    def get_manifest(self, registry: str, repository: str, reference: str) -> Manifest:
        self.calls["get_manifest"] += 1
        return self.client.get_manifest(registry, repository, reference)

    def get_blob(self, registry: str, repository: str, digest: str, max_bytes: int | None = None) -> bytes:
        self.calls["get_blob"] += 1
        return self.client.get_blob(registry, repository, digest, max_bytes)

    def referrers(self, registry: str, repository: str, digest: str,
                  artifact_type: str | None = None) -> list[Descriptor]:
        self.calls["referrers"] += 1
        return self.client.referrers(registry, repository, digest, artifact_type)


def run_pass(verifier: ImageVerifier, fleet: list[list[ImageRef]]) -> tuple[float, int]:
    started = time.perf_counter()
    refused = 0
    for target, images in enumerate(fleet):
        for verdict in verifier.verify_all(images, application_labels={"app": f"app-{target}"},
                                           cluster_labels={"cluster": f"c{target % 10}"}):
            refused += verdict.status != "verified"
    return time.perf_counter() - started, refused


def cosign_peer(registry_host: str, images: int, public_key: Path, home: Path) -> float | str:
    """Seconds the real cosign takes to verify the ``images`` distinct images, or why it was skipped."""
    built = subprocess.run(["bash", str(ROOT / "scripts" / "build-go-tools"), "--built-only", "cosign"],
                           capture_output=True, text=True, check=False)
    if built.returncode != 0:
        return "cosign is not built (scripts/build-go-tools cosign): peer skipped"
    binary = Path(built.stdout.split()[-1]) / "cosign"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TUF_ROOT": str(home / "tuf"),
           "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"}
    started = time.perf_counter()
    for n in range(images):
        proc = subprocess.run([str(binary), "verify", "--key", str(public_key), "--insecure-ignore-tlog=true",
                               "--allow-http-registry", f"{registry_host}/fleet/app:v{n}"],
                              env=env, capture_output=True, text=True, check=False, timeout=120)
        if proc.returncode != 0:
            return f"cosign verify failed: {proc.stderr[-500:]}"
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--per-target", type=int, default=5)
    args = parser.parse_args()
    if not REGISTRY_BINARY.exists():
        print(f"{REGISTRY_BINARY} is absent (apt-get install docker-registry)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        registry = start_registry(Path(tmp) / "registry")
        try:
            private = ec.generate_private_key(ec.SECP256R1())
            (Path(tmp) / "cosign.pub").write_bytes(public_pem(private))
            pusher = Pusher(registry)
            started = time.perf_counter()
            for n in range(args.images):
                image = pusher.image("fleet/app", f"v{n}", label=str(n))
                payload = simple_signing_payload(f"{registry.host}/fleet/app", image.digest)
                pusher.cosign_signature("fleet/app", image, payload, cosign_sign(private, payload))
            pusher.close()
            print(f"pushed {args.images} images and signatures in {time.perf_counter() - started:.2f} s")
            refs = [parse(f"{registry.host}/fleet/app:v{n}") for n in range(args.images)]
            fleet = [[refs[(t + k) % args.images] for k in range(args.per_target)]
                     for t in range(args.targets)]
            key = {"file": str(Path(tmp) / "cosign.pub")}
            policy = VerificationPolicy.model_validate(
                {"name": "fleet", "rules": [{"images": ["**"], "keys": [key], "transparencyLog": False}]})
            clock = ManualClock()
            with RegistryClient({registry.host: RegistryOptions(plain_http=True)}) as client:
                counting = Counting(client)
                verifier = ImageVerifier([policy], counting, clock=clock, ttl=300.0)
                uses = args.targets * args.per_target
                cold = 0.0
                for label, advance in (("cold", 0.0), ("warm (within the TTL)", 1.0),
                                       ("after the TTL", 300.0)):
                    clock.advance(advance)
                    before_calls, before_evals = sum(counting.calls.values()), verifier.evaluations
                    seconds, refused = run_pass(verifier, fleet)
                    cold = cold or seconds
                    calls = sum(counting.calls.values()) - before_calls
                    print(f"{label}: {args.targets} targets x {args.per_target} images ({uses} uses, "
                          f"{args.images} distinct): {seconds:.3f} s, "
                          f"{verifier.evaluations - before_evals} verifications, {calls} registry calls, "
                          f"{refused} not verified")
                print(f"registry calls by kind: {dict(sorted(counting.calls.items()))}")
                goal = verifier.evaluations <= 2 * args.images and \
                    sum(counting.calls.values()) <= 2 * 3 * args.images
                print(f"goal (per TTL: <= {args.images} verifications, <= {3 * args.images} registry calls): "
                      f"{'met' if goal else 'MISSED'}")
            home = Path(tmp) / "cosign-home"
            home.mkdir()
            peer = cosign_peer(registry.host, args.images, Path(tmp) / "cosign.pub", home)
            if isinstance(peer, str):
                print(peer)
            else:
                print(f"peer: cosign v3.1.3 verify --key, {args.images} distinct images, one process each: "
                      f"{peer:.2f} s; our cold pass over the whole fleet ({uses} uses): {cold:.3f} s: "
                      f"ratio {cold / peer:.3f} (lower is better)")
        finally:
            registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
