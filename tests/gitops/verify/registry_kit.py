"""Registries for the registry client's tests: Debian's real docker-registry, a pusher, a fake.

- :func:`start_registry` runs ``/usr/bin/docker-registry`` (distribution 2.8.2) on a free loopback
  port with its storage in a temporary directory, anonymous, with htpasswd basic auth (the bcrypt
  line is made by the system's libcrypt, so no Python package or apache2-utils is needed) or with
  token auth against a :class:`TokenIssuer` (JWTs signed with a throwaway RSA key whose self-signed
  certificate is the registry's root bundle); it waits with :func:`gitops.clock.poll_until`, never a
  sleep.
- :class:`Pusher` uploads blobs (POST then a monolithic PUT) and puts manifests, so tests push their
  own images (OCI and Docker v2), cosign-style signature manifests tagged ``sha256-<hex>.sig`` and
  OCI indexes as referrers tags.
- :class:`FakeRegistry` is a loopback ``http.server`` whose answers a test writes (a lying registry,
  429, 5xx, a bearer challenge with its token endpoint, an endless body); it counts the requests.
"""

from __future__ import annotations

import base64
import ctypes
import datetime
import hashlib
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from gitops.clock import poll_until
from gitops.verify.ocitypes import (
    COSIGN_SIMPLE_SIGNING,
    DOCKER_CONFIG,
    DOCKER_LAYER_TAR_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER_TAR_GZIP,
    OCI_MANIFEST,
    cosign_signature_tag,
    referrers_tag,
)

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
# go-containerregistry's empty.Image (``FROM scratch``): its config and Docker v2 manifest bytes, whose
# digest is the subject of ../shared/cosign/bundles/oci-attestation.sigstore.json
EMPTY_IMAGE_CONFIG = (b'{"architecture":"","created":"0001-01-01T00:00:00Z","os":"",'
                      b'"rootfs":{"type":"layers","diff_ids":null},"config":{}}')
EMPTY_IMAGE_DIGEST = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
# The repositories the pusher of a token-auth registry may push to.
PUSHED_REPOSITORIES = ("team/app", "team/tags")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def bcrypt_line(user: str, password: str) -> str:
    """An htpasswd line ``user:$2y$...`` from the system's libcrypt (libxcrypt has bcrypt)."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2y$", 5, None, 0)
    hashed = lib.crypt(password.encode(), salt)
    if not salt or not hashed or not hashed.startswith(b"$2y$"):
        raise RuntimeError("libcrypt cannot make bcrypt hashes")
    return f"{user}:{hashed.decode()}\n"


# ---- a token service --------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """The token service of a registry with ``auth: token``: answers ``GET /token?service&scope`` (basic
    credentials ``user``/``password`` required) with a JWT granting the scope asked; ``issued`` lists
    the scopes it answered. :meth:`mint` makes a token directly (the pusher's)."""

    service = "registry-kit"
    issuer = "registry-kit-issuer"

    def __init__(self, user: str, password: str, *, expires_in: int = 300) -> None:
        self.user, self.password, self.expires_in = user, password, expires_in
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry-kit token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.issued: list[str] = []

    @property
    def certificate_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def mint(self, access: list[tuple[str, list[str]]]) -> str:
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        header = {"typ": "JWT", "alg": "RS256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": self.issuer, "sub": self.user, "aud": self.service, "iat": now, "nbf": now - 60,
                  "exp": now + self.expires_in, "jti": os.urandom(16).hex(),
                  "access": [{"type": "repository", "name": name, "actions": actions}
                             for name, actions in access]}
        signing_input = f"{_b64url(canonical(header))}.{_b64url(canonical(claims))}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def route(self, request: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Reply(401, b'{"details":"bad credentials"}', {"Content-Type": "application/json"})
        query = parse_qs(urlsplit(request.path).query)
        scope = query.get("scope", [""])[0]
        self.issued.append(scope)
        access = []
        if scope.startswith("repository:"):
            _, name, actions = scope.split(":", 2)
            access.append((name, [a for a in actions.split(",") if a == "pull"]))
        body = json.dumps({"token": self.mint(access), "expires_in": self.expires_in}).encode()
        return Reply(200, body, {"Content-Type": "application/json"})


# ---- the real registry ------------------------------------------------------------------------------


@dataclass
class Registry:
    """A running docker-registry: ``host`` is ``127.0.0.1:<port>`` (an image reference's registry)."""

    host: str
    process: subprocess.Popen[bytes]
    log: Path
    auth: tuple[str, str] | None = None
    bearer: str | None = None  # a token the pusher sends as is (token auth)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start_registry(root: Path, *, basic: tuple[str, str] | None = None,
                   token: tuple[TokenIssuer, str] | None = None, timeout: float = 30.0) -> Registry:
    """docker-registry on a free loopback port, storage under ``root``; ``basic``: (user, password)
    for htpasswd auth; ``token``: (issuer, realm URL) for token auth."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = [
        "version: 0.1",
        "log:",
        "  level: warn",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root / 'data'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        "  secret: registry-kit-test-secret",
    ]
    if basic is not None:
        (root / "htpasswd").write_text(bcrypt_line(*basic))
        config += ["auth:", "  htpasswd:", "    realm: registry-kit", f"    path: {root / 'htpasswd'}"]
    if token is not None:
        issuer, realm = token
        (root / "token.pem").write_bytes(issuer.certificate_pem)
        config += ["auth:", "  token:", f"    realm: {realm}", f"    service: {issuer.service}",
                   f"    issuer: {issuer.issuer}", f"    rootcertbundle: {root / 'token.pem'}"]
    (root / "config.yml").write_text("\n".join(config) + "\n")
    log = root / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(REGISTRY_BINARY), "serve", str(root / "config.yml")],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    registry = Registry(f"127.0.0.1:{port}", process, log, basic)
    if token is not None:
        registry.bearer = token[0].mint([(name, ["pull", "push"]) for name in PUSHED_REPOSITORIES])

    def answering() -> bool:
        if process.poll() is not None:
            return True
        try:
            return httpx.get(f"{registry.url}/v2/", timeout=2.0).status_code in (200, 401)
        except httpx.TransportError:
            return False

    if not poll_until(answering, timeout, every=0.05) or process.poll() is not None:
        registry.stop()
        raise RuntimeError(f"docker-registry did not start: {log.read_text(errors='replace')[-2000:]}")
    return registry


# ---- pushing ----------------------------------------------------------------------------------------


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Pushed:
    """A manifest pushed: its bytes, digest and media type."""

    data: bytes
    digest: str
    media_type: str

    @property
    def descriptor(self) -> dict[str, Any]:
        return descriptor(self.media_type, self.data)


class Pusher:
    """Pushes blobs and manifests to a registry (monolithic uploads: POST, then PUT with the digest)."""

    def __init__(self, registry: Registry) -> None:
        auth = httpx.BasicAuth(*registry.auth) if registry.auth else None
        headers = {"Authorization": f"Bearer {registry.bearer}"} if registry.bearer else {}
        self.client = httpx.Client(base_url=registry.url, auth=auth, headers=headers, timeout=30.0,
                                   trust_env=False)

    def close(self) -> None:
        self.client.close()

    def blob(self, repository: str, data: bytes) -> str:
        digest = sha256(data)
        started = self.client.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = self.client.put(f"{location}{separator}digest={digest}", content=data,
                               headers={"Content-Type": "application/octet-stream"})
        assert done.status_code == 201, done.text
        return digest

    def manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> Pushed:
        answer = self.client.put(f"/v2/{repository}/manifests/{reference}", content=data,
                                 headers={"Content-Type": media_type})
        assert answer.status_code == 201, answer.text
        assert answer.headers["Docker-Content-Digest"] == sha256(data)
        return Pushed(data, sha256(data), media_type)

    def image(self, repository: str, tag: str, *, docker: bool = False, label: str = "",
              pad: int = 0) -> Pushed:
        """An image (a config blob and one layer) tagged ``tag``: OCI, or Docker v2 with ``docker``;
        ``label`` makes it differ from another, ``pad`` adds an annotation of that many bytes."""
        config = canonical({"architecture": "amd64", "os": "linux", "config": {"Labels": {"l": label}},
                            "rootfs": {"type": "layers", "diff_ids": []}})
        layer = f"layer of {repository}:{tag} {label}".encode()
        self.blob(repository, config)
        self.blob(repository, layer)
        document: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
            "layers": [descriptor(DOCKER_LAYER_TAR_GZIP if docker else OCI_LAYER_TAR_GZIP, layer)],
        }
        if pad:
            document["annotations"] = {"pad": "x" * pad}
        return self.manifest(repository, tag, canonical(document), document["mediaType"])

    def empty_image(self, repository: str, tag: str) -> Pushed:
        """go-containerregistry's empty image, byte for byte (digest :data:`EMPTY_IMAGE_DIGEST`)."""
        self.blob(repository, EMPTY_IMAGE_CONFIG)
        data = (b'{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","size":%d,"digest":"%s"},'
                b'"layers":[]}' % (DOCKER_MANIFEST.encode(), DOCKER_CONFIG.encode(), len(EMPTY_IMAGE_CONFIG),
                                   sha256(EMPTY_IMAGE_CONFIG).encode()))
        pushed = self.manifest(repository, tag, data, DOCKER_MANIFEST)
        assert pushed.digest == EMPTY_IMAGE_DIGEST
        return pushed

    def cosign_signature(self, repository: str, image: Pushed, payload: bytes, signature: str) -> Pushed:
        """A classic cosign signature manifest for ``image``, tagged ``sha256-<hex>.sig``."""
        config = canonical({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": []}})
        self.blob(repository, config)
        self.blob(repository, payload)
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(COSIGN_SIMPLE_SIGNING, payload,
                                  annotations={"dev.cosignproject.cosign/signature": signature})],
        }
        tag = cosign_signature_tag(image.digest)
        return self.manifest(repository, tag, canonical(document), OCI_MANIFEST)

    def referrer(self, repository: str, subject: Pushed, artifact_type: str, content: bytes,
                 layer_media_type: str | None = None) -> Pushed:
        """An artifact manifest whose ``subject`` is ``subject`` (pushed by digest, untagged), its one
        layer ``content`` of ``layer_media_type`` (default: the artifact type)."""
        empty = b"{}"
        self.blob(repository, empty)
        self.blob(repository, content)
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor(OCI_EMPTY, empty),
            "layers": [descriptor(layer_media_type or artifact_type, content)],
            "subject": subject.descriptor,
            "annotations": {"org.opencontainers.image.created": "2026-12-04T00:00:00Z"},
        }
        data = canonical(document)
        return self.manifest(repository, sha256(data), data, OCI_MANIFEST)

    def referrers_index(self, repository: str, subject: Pushed,
                        referrers: Iterable[tuple[Pushed, str]]) -> Pushed:
        """The referrers tag ``sha256-<hex>`` of ``subject``: an OCI index of (manifest, artifactType)."""
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(m.media_type, m.data, artifactType=kind) for m, kind in referrers],
        }
        return self.manifest(repository, referrers_tag(subject.digest), canonical(document), OCI_INDEX)


def tls_context(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 (a throwaway self-signed certificate) and the CA file a
    client must trust for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry-kit")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    ca = directory / "ca.pem"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca, key_file)
    return context, ca


# ---- a fake registry --------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterator[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request], Reply]


class FakeRegistry:
    """A loopback HTTP server answering with ``route(request)``; ``requests`` lists what it got."""

    def __init__(self, route: Route, *, tls: ssl.SSLContext | None = None) -> None:
        self.route = route
        self.scheme = "https" if tls else "http"
        self.requests: list[Request] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _answer(self) -> None:
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                fake.requests.append(request)
                reply = fake.route(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                try:
                    if isinstance(reply.body, bytes):
                        self.send_header("Content-Length", str(len(reply.body)))
                        self.end_headers()
                        if self.command != "HEAD":
                            self.wfile.write(reply.body)
                    else:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for chunk in reply.body:
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_HEAD = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def paths(self, prefix: str = "") -> list[str]:
        return [r.path for r in self.requests if r.path.startswith(prefix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


# ---- cosign signing, as cosign does it ---------------------------------------------------------------


def simple_signing_payload(name: str, digest: str) -> bytes:
    """cosign's simple-signing payload for the image ``name`` (``registry/repository``) at ``digest``."""
    return json.dumps({"critical": {"identity": {"docker-reference": name},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": "cosign container image signature"},
                       "optional": None}, separators=(",", ":")).encode()


def cosign_sign(private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, payload: bytes) -> str:
    """The base64 signature cosign puts in ``dev.cosignproject.cosign/signature``: ECDSA with SHA-256
    (DER) for a P-256 key, pure Ed25519 over the payload for an Ed25519 key."""
    if isinstance(private, ed25519.Ed25519PrivateKey):
        raw = private.sign(payload)
    else:
        raw = private.sign(payload, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(raw).decode()


def public_pem(private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    """The public key in PEM, as ``cosign.pub`` holds it."""
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


# ---- Notation signing, as notation-go signs (JWS, notary.x509) ----------------------------------------


class NotationSigner:
    """A root CA and a code-signing leaf (ECDSA P-256, valid 2025-2028) that sign Notation JWS envelopes
    for an image manifest (its digest, media type and size); ``store`` lays out the root as a trust store
    ``x509/ca/<name>/root.pem``."""

    def __init__(self) -> None:
        start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
        end = datetime.datetime(2028, 1, 1, tzinfo=datetime.UTC)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        place = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                 x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme")]  # what Notation identities need
        root_name = x509.Name([*place, x509.NameAttribute(NameOID.COMMON_NAME, "Acme Root")])
        leaf_name = x509.Name([*place, x509.NameAttribute(NameOID.COMMON_NAME, "builder")])
        usage = {name: False for name in ("digital_signature", "content_commitment", "key_encipherment",
                                          "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                                          "encipher_only", "decipher_only")}

        def build(subject: x509.Name, key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
            builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(root_name)
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(start).not_valid_after(end)
                       .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                           self.root_key.public_key()), False))
            if ca:
                builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True) \
                    .add_extension(x509.KeyUsage(**{**usage, "key_cert_sign": True, "crl_sign": True}), True)
            else:
                builder = builder.add_extension(x509.KeyUsage(**{**usage, "digital_signature": True}), True) \
                    .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]), False)
            return builder.sign(self.root_key, hashes.SHA256())

        self.root = build(root_name, self.root_key, True)
        self.leaf = build(leaf_name, self.leaf_key, False)

    def store(self, directory: Path, name: str = "acme") -> Path:
        (directory / "x509" / "ca" / name).mkdir(parents=True, exist_ok=True)
        (directory / "x509" / "ca" / name / "root.pem").write_bytes(
            self.root.public_bytes(serialization.Encoding.PEM))
        return directory

    def envelope(self, image: Pushed) -> bytes:
        protected = _b64url(json.dumps({
            "alg": "ES256", "crit": ["io.cncf.notary.signingScheme"],
            "cty": "application/vnd.cncf.notary.payload.v1+json",
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": "2026-06-01T10:00:00Z"}).encode())
        target = {"mediaType": image.media_type, "digest": image.digest, "size": len(image.data)}
        payload = _b64url(json.dumps({"targetArtifact": target}).encode())
        der = self.leaf_key.sign(f"{protected}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        chain = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                 for c in (self.leaf, self.root)]
        return json.dumps({"payload": payload, "protected": protected, "signature": _b64url(
            r.to_bytes(32, "big") + s.to_bytes(32, "big")), "header": {"x5c": chain}}).encode()
