"""``gitops verify`` against Debian's real docker-registry: images and cosign signatures pushed here,
policies read from YAML files with the configuration's own model (located errors), exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gitops.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry_kit import (  # found through the path set just above
    FakeRegistry,
    Pusher,
    Registry,
    Reply,
    cosign_sign,
    public_pem,
    simple_signing_payload,
)


@pytest.fixture(scope="module")
def signed(registry: Registry) -> Iterator[tuple[str, str, ec.EllipticCurvePrivateKey]]:
    """A signed image (its reference and digest) and the key that signed it; team/cli:unsigned too."""
    private = ec.generate_private_key(ec.SECP256R1())
    pusher = Pusher(registry)
    image = pusher.image("team/cli", "v1", label="signed")
    payload = simple_signing_payload(f"{registry.host}/team/cli", image.digest)
    pusher.cosign_signature("team/cli", image, payload, cosign_sign(private, payload))
    pusher.image("team/cli", "unsigned", label="unsigned")
    pusher.close()
    yield f"{registry.host}/team/cli:v1", image.digest, private


POLICY = """\
apiVersion: gitops.dev/v1alpha1
kind: VerificationPolicy
metadata: {{name: ours}}
spec:
  mode: {mode}
  rules:
    - name: team
      images: ["127.0.0.1*/team/**"]
      keys: [{{file: cosign.pub}}]
      transparencyLog: false
"""


def write_policy(tmp_path: Path, private: ec.EllipticCurvePrivateKey, mode: str = "enforce") -> str:
    (tmp_path / "cosign.pub").write_bytes(public_pem(private))
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(mode=mode))
    return str(path)


def test_a_signed_image_is_verified_exit_0(signed: tuple[str, str, ec.EllipticCurvePrivateKey],
                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, digest, private = signed
    code = main(["verify", image, "--policy", write_policy(tmp_path, private), "--insecure-http-loopback"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"digest:  {digest}" in out and "status:  verified (mode enforce)" in out
    assert "ok   policy ours rule team [enforce] keys: signed by key sha256:" in out


def test_json_output(signed: tuple[str, str, ec.EllipticCurvePrivateKey], tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    image, digest, private = signed
    code = main(["verify", image, "--policy", write_policy(tmp_path, private), "--insecure-http-loopback",
                 "-o", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["status"] == "verified" and doc["digest"] == digest and doc["allowed"]
    assert doc["rules"][0]["requirements"][0]["signer"] == doc["signers"][0]


def test_an_unsigned_image_is_refused_exit_1_and_warn_only_is_exit_1(
        signed: tuple[str, str, ec.EllipticCurvePrivateKey], registry: Registry, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, _, private = signed
    unsigned = f"{registry.host}/team/cli:unsigned"
    code = main(["verify", unsigned, "--policy", write_policy(tmp_path, private), "--insecure-http-loopback"])
    out = capsys.readouterr().out
    assert code == 1 and "status:  refused" in out
    assert "refused: policy ours rule team: keys: no cosign" in out
    code = main(["verify", unsigned, "--policy", write_policy(tmp_path, private, "warn"),
                 "--insecure-http-loopback"])
    out = capsys.readouterr().out
    assert code == 1 and "status:  warned (mode warn)" in out and "warning: policy ours rule team" in out


def test_without_a_policy_it_shows_what_is_signed_and_exits_1(
        signed: tuple[str, str, ec.EllipticCurvePrivateKey], capsys: pytest.CaptureFixture[str]) -> None:
    image, digest, _ = signed
    code = main(["verify", image, "--insecure-http-loopback"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"digest:  {digest}" in out and "cosign signatures (sha256-" in out and ": 1" in out
    assert "claims this digest" in out and "sigstore bundles (referrers): 0" in out
    assert ".att): 0" in out and "notation signatures (referrers): 0" in out
    assert "not verified: no policy" in out


def test_a_malformed_policy_is_located_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: gitops.dev/v1alpha1\nkind: VerificationPolicy\nmetadata: {name: bad}\n"
                    "spec:\n  rules:\n    - images: [nginx]\n      keys: [{env: K, file: k.pub}]\n")
    code = main(["verify", "nginx", "--policy", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:7:14: spec.rules[0].keys[0]: set exactly one of env" in err


def test_another_kind_in_the_policy_file_is_refused(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c}\nspec: {}\n")
    assert main(["verify", "nginx", "--policy", str(path)]) == 2
    assert f"{path}:2:7: kind: expected VerificationPolicy" in capsys.readouterr().err


def test_a_registry_answering_429_is_an_error_exit_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    server = FakeRegistry(lambda request: Reply(429, b"", {"Retry-After": "5"}))
    try:
        code = main(["verify", f"{server.host}/team/cli:v1", "--policy", write_policy(tmp_path, private),
                     "--insecure-http-loopback"])
    finally:
        server.close()
    captured = capsys.readouterr()
    assert code == 2 and "status:  temporary" in captured.out and "429" in captured.err


def test_plain_http_without_the_flag_is_refused(signed: tuple[str, str, ec.EllipticCurvePrivateKey],
                                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, _, private = signed
    assert main(["verify", image, "--policy", write_policy(tmp_path, private)]) == 2  # https to plain http


def test_the_documented_policy_file_loads(tmp_path: Path) -> None:
    import re

    from gitops.cli.verify import load_policies

    docs = Path(__file__).resolve().parents[3] / "docs" / "verification.md"
    (block,) = re.findall(r"```yml\n(.*?)```", docs.read_text(), re.S)
    (tmp_path / "policy.yaml").write_text(block)
    (policy,) = load_policies(str(tmp_path / "policy.yaml"))
    assert policy.name == "ours" and policy.rules[0].keys[0].file == str(tmp_path / "cosign.pub")


def test_insecure_http_is_only_for_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "ghcr.io/example/app:v1", "--insecure-http-loopback"]) == 2
    assert "ghcr.io is not a loopback address" in capsys.readouterr().err
