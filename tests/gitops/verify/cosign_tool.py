"""The real cosign (v3.1.3, built from the Go module proxy by tests/gotools.py), run offline.

:class:`Cosign` runs the binary with a private ``HOME`` (its ``~/.sigstore`` TUF cache and
``~/.docker`` config live there, never the user's), ``COSIGN_PASSWORD`` for its encrypted keys, and
every proxy variable pointing at a closed loopback port with only loopback exempt: a request to the
internet (the Sigstore TUF repository, Rekor, Fulcio) fails at once instead of leaving the machine.

Offline signing with a key needs, in cosign 3 (each flag checked against its source,
cmd/cosign/cli/signcommon/common.go):

- ``--use-signing-config=false``: no signing config (service URLs) from the Sigstore TUF repository;
  with a key and without a signing config cosign fetches no trusted root either;
- ``--tlog-upload=false``: no Rekor entry (deprecated in favour of a signing config without
  transparency logs, but it is the flag that needs no file and no TUF);
- ``--allow-http-registry``: the test registry is plain HTTP on 127.0.0.1;
- ``--new-bundle-format=false`` for the classic ``sha256-<hex>.sig``/``.att`` tags; the default
  (true) writes a Sigstore bundle as an OCI referrer, through the referrers tag ``sha256-<hex>`` on a
  registry without the referrers API (docker-registry 2.8).

:attr:`Cosign.tuf_cache` lets a test assert that no TUF client ever started.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

PASSWORD = "cosign-test-password"
CLOSED = "http://127.0.0.1:9"  # the discard port, closed on a test machine: connection refused
OFFLINE = ("--allow-http-registry", "--use-signing-config=false", "--tlog-upload=false", "--yes")
# uploading to a log of our own on loopback (tests/gitops/verify/fake_rekor.py): no signing config
# from TUF, the log's URL given, the upload left at its default (true)
LOGGED = ("--allow-http-registry", "--use-signing-config=false", "--yes")


class Cosign:
    """cosign in ``home`` (a temporary directory), offline; keys are written under ``home/keys``."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.home = home
        (home / "keys").mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "TUF_ROOT": str(home / ".sigstore" / "root"),
            "DOCKER_CONFIG": str(home / ".docker"),
            "COSIGN_PASSWORD": PASSWORD,
            "HTTPS_PROXY": CLOSED, "HTTP_PROXY": CLOSED, "https_proxy": CLOSED, "http_proxy": CLOSED,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        }

    @property
    def tuf_cache(self) -> Path:
        return self.home / ".sigstore"

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run cosign; an AssertionError with its output when it fails."""
        proc = subprocess.run([str(self.binary), *args], env={**self.env, **(env or {})}, cwd=self.home,
                              capture_output=True, text=True, timeout=120, check=False,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"cosign {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
        return proc

    def generate_key_pair(self, name: str) -> tuple[Path, Path]:
        """``cosign generate-key-pair`` (ECDSA P-256): the encrypted private key and the public key."""
        self.run("generate-key-pair", "--output-key-prefix", str(self.home / "keys" / name))
        return self.home / "keys" / f"{name}.key", self.home / "keys" / f"{name}.pub"

    def import_ed25519(self, name: str) -> tuple[Path, Path]:
        """An Ed25519 key made here (PKCS#8 PEM) imported with ``cosign import-key-pair``."""
        pem = self.home / "keys" / f"{name}.pem"
        pem.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.run("import-key-pair", "--key", str(pem), "--output-key-prefix", str(self.home / "keys" / name),
                 "--yes")
        return self.home / "keys" / f"{name}.key", self.home / "keys" / f"{name}.pub"

    def sign(self, key: Path, image: str, *, bundle: bool) -> None:
        """``cosign sign --key KEY IMAGE@DIGEST``: a Sigstore bundle (``bundle``), else classic."""
        self.run("sign", "--key", str(key), *OFFLINE, f"--new-bundle-format={str(bundle).lower()}", image)

    def attest(self, key: Path, image: str, predicate: Path, kind: str, *, bundle: bool) -> None:
        """``cosign attest --key KEY --type KIND --predicate FILE IMAGE@DIGEST``."""
        self.run("attest", "--key", str(key), *OFFLINE, f"--new-bundle-format={str(bundle).lower()}",
                 "--type", kind, "--predicate", str(predicate), image)

    def sign_logged(self, key: Path, image: str, rekor: Log, *, bundle: bool) -> None:
        """``cosign sign --key KEY --rekor-url URL IMAGE@DIGEST``: uploaded to ``rekor`` (a loopback log,
        trusted through ``SIGSTORE_REKOR_PUBLIC_KEY``), with cosign's default ``--tlog-upload=true``."""
        self.run("sign", "--key", str(key), *LOGGED, "--rekor-url", rekor.url,
                 f"--new-bundle-format={str(bundle).lower()}", image, env=rekor.env)

    def attest_logged(self, key: Path, image: str, predicate: Path, kind: str, rekor: Log, *,
                      bundle: bool) -> None:
        """``cosign attest --key KEY --rekor-url URL ...``, uploaded to ``rekor``."""
        self.run("attest", "--key", str(key), *LOGGED, "--rekor-url", rekor.url,
                 f"--new-bundle-format={str(bundle).lower()}", "--type", kind, "--predicate", str(predicate),
                 image, env=rekor.env)


@dataclass(frozen=True)
class Log:
    """A transparency log on loopback for cosign: its URL and its public key's PEM file."""

    url: str
    public_key: Path

    @property
    def env(self) -> dict[str, str]:
        return {"SIGSTORE_REKOR_PUBLIC_KEY": str(self.public_key)}
