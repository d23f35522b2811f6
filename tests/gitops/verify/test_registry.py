"""The OCI distribution client (gitops.verify.registry) against a real registry and a fake one.

The real registry is Debian's docker-registry (distribution 2.8.2, installed by .ci/run): anonymous,
and with htpasswd basic auth; tests push their own images (OCI and Docker v2), cosign signature
manifests and referrers indexes (registry_kit.Pusher). What a real registry will not do (lie about a
digest, answer 429 or 5xx, send an endless body, run the bearer token flow) a loopback fake does.
No sleeps: waits are gitops.clock.poll_until, token expiry is a ManualClock.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from gitops.clock import ManualClock
from gitops.errors import GitOpsError, RegistryError
from gitops.verify.ocitypes import (
    COSIGN_SIMPLE_SIGNING,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    SIGSTORE_BUNDLE,
    ImageIndex,
    ImageManifest,
    cosign_signature_tag,
    hasher,
    parse_manifest,
    referrers_tag,
)
from gitops.verify.registry import (
    RegistryClient,
    RegistryCredentials,
    RegistryOptions,
    docker_config_auth,
    parse_challenge,
    retry_after_seconds,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry_kit import (  # found through the path set just above
    REGISTRY_BINARY,
    FakeRegistry,
    Pusher,
    Registry,
    Reply,
    Request,
    TokenIssuer,
    canonical,
    descriptor,
    sha256,
    start_registry,
    tls_context,
)

USER, PASSWORD = "puller", "s3cret-Pa55word-do-not-show"
REPO = "team/app"


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory, missing: object) -> Iterator[Registry]:
    if not REGISTRY_BINARY.exists():
        missing(f"{REGISTRY_BINARY} is absent (Debian's docker-registry)")  # type: ignore[operator]
    running = start_registry(tmp_path_factory.mktemp("basic-registry"), basic=(USER, PASSWORD))
    yield running
    running.stop()


def client_for(host: str, **options: object) -> RegistryClient:
    return RegistryClient({host: RegistryOptions(plain_http=True, **options)})  # type: ignore[arg-type]


@pytest.fixture
def fake() -> Iterator[list[FakeRegistry]]:
    made: list[FakeRegistry] = []
    yield made
    for server in made:
        server.close()


def serve(fake: list[FakeRegistry], route: object, **options: Any) -> FakeRegistry:
    server = FakeRegistry(route, **options)  # type: ignore[arg-type]
    fake.append(server)
    return server


def no_secret(error: BaseException) -> None:
    """The password is in no message, repr or chained exception."""
    current: BaseException | None = error
    while current is not None:
        assert PASSWORD not in str(current) and PASSWORD not in repr(current)
        assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in str(current)
        current = current.__cause__ or current.__context__


# ---- the real registry ------------------------------------------------------------------------------


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker-v2"])
def test_resolve_a_tag_then_fetch_by_digest(registry: Registry, pusher: Pusher, docker: bool) -> None:
    image = pusher.image(REPO, f"resolve-{docker}", docker=docker)
    with client_for(registry.host) as client:
        found = client.resolve(registry.host, REPO, f"resolve-{docker}")
        assert found.digest == image.digest == sha256(image.data)
        assert found.media_type == (DOCKER_MANIFEST if docker else OCI_MANIFEST)
        assert found.size == len(image.data)
        manifest = client.get_manifest(registry.host, REPO, found.digest)
        assert manifest.data == image.data and manifest.digest == image.digest
        assert manifest.media_type == found.media_type
        parsed = manifest.parse()
        assert isinstance(parsed, ImageManifest) and len(parsed.layers) == 1
        config = client.get_blob(registry.host, REPO, parsed.config.digest)
        assert sha256(config) == parsed.config.digest
        assert json.loads(config)["os"] == "linux"


def test_a_tag_moved_after_resolution_does_not_change_what_was_resolved(registry: Registry,
                                                                        pusher: Pusher) -> None:
    old = pusher.image(REPO, "moving", label="old")
    with client_for(registry.host) as client:
        resolved = client.resolve(registry.host, REPO, "moving")
        new = pusher.image(REPO, "moving", label="new")
        assert new.digest != old.digest
        fetched = client.get_manifest(registry.host, REPO, resolved.digest)
        assert fetched.data == old.data and fetched.digest == old.digest
        assert client.resolve(registry.host, REPO, "moving").digest == new.digest  # only when asked again


def test_cosign_signature_manifest_by_its_tag(registry: Registry, pusher: Pusher) -> None:
    image = pusher.image(REPO, "signed")
    payload = canonical({"critical": {"image": {"docker-manifest-digest": image.digest},
                                      "type": "cosign container image signature"}})
    signature = pusher.cosign_signature(REPO, image, payload, "MEUCIQ-signature")
    assert cosign_signature_tag(image.digest) == "sha256-" + image.digest.split(":")[1] + ".sig"
    with client_for(registry.host) as client:
        manifest = client.get_manifest(registry.host, REPO, cosign_signature_tag(image.digest))
        assert manifest.digest == signature.digest
        parsed = manifest.parse()
        assert isinstance(parsed, ImageManifest)
        layer = parsed.layers[0]
        assert layer.media_type == COSIGN_SIMPLE_SIGNING
        assert layer.annotations["dev.cosignproject.cosign/signature"] == "MEUCIQ-signature"
        assert client.get_blob(registry.host, REPO, layer.digest, max_bytes=1024) == payload
        with pytest.raises(RegistryError, match="larger than 16 bytes") as info:
            client.get_blob(registry.host, REPO, layer.digest, max_bytes=16)
        assert not info.value.temporary


def test_referrers_fall_back_to_the_referrers_tag(registry: Registry, pusher: Pusher) -> None:
    image = pusher.image(REPO, "with-bundle")
    bundle = pusher.referrer(REPO, image, SIGSTORE_BUNDLE, b'{"mediaType": "bundle"}')
    other = pusher.referrer(REPO, image, "application/example.sbom", b"sbom")
    pusher.referrers_index(REPO, image, [(bundle, SIGSTORE_BUNDLE), (other, "application/example.sbom")])
    lonely = pusher.image(REPO, "without-referrers")
    with client_for(registry.host) as client:
        assert [d.digest for d in client.referrers(registry.host, REPO, image.digest)] == \
            [bundle.digest, other.digest]
        found = client.referrers(registry.host, REPO, image.digest, artifact_type=SIGSTORE_BUNDLE)
        assert [(d.digest, d.artifact_type) for d in found] == [(bundle.digest, SIGSTORE_BUNDLE)]
        manifest = client.get_manifest(registry.host, REPO, found[0].digest).parse()
        assert isinstance(manifest, ImageManifest)
        assert manifest.artifact_type == SIGSTORE_BUNDLE
        assert manifest.subject is not None and manifest.subject.digest == image.digest
        assert manifest.annotations["org.opencontainers.image.created"] == "2026-12-04T00:00:00Z"
        assert client.referrers(registry.host, REPO, lonely.digest) == []
        index = client.get_manifest(registry.host, REPO, referrers_tag(image.digest))
        assert index.media_type == OCI_INDEX and isinstance(index.parse(), ImageIndex)


def test_list_tags(registry: Registry, pusher: Pusher) -> None:
    for tag in ("a1", "a2", "a3"):
        pusher.image("team/tags", tag)
    with client_for(registry.host) as client:
        assert sorted(client.list_tags(registry.host, "team/tags")) == ["a1", "a2", "a3"]


def test_an_oversized_manifest_is_refused(registry: Registry, pusher: Pusher) -> None:
    big = pusher.image(REPO, "big", pad=200_000)
    client = RegistryClient({registry.host: RegistryOptions(plain_http=True)}, max_manifest_bytes=64 * 1024)
    with client, pytest.raises(RegistryError, match="larger than 65536 bytes") as info:
        client.get_manifest(registry.host, REPO, big.digest)
    assert not info.value.temporary
    with client, pytest.raises(RegistryError, match="larger than 65536 bytes"):
        client.resolve(registry.host, REPO, "big")


def test_unknown_manifest_is_a_permanent_404(registry: Registry) -> None:
    with client_for(registry.host) as client, pytest.raises(RegistryError) as info:
        client.resolve(registry.host, REPO, "no-such-tag")
    assert info.value.status == 404 and not info.value.temporary and "no-such-tag" in str(info.value)


# ---- basic auth -------------------------------------------------------------------------------------


def test_basic_auth(basic_registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    push = Pusher(basic_registry)
    image = push.image(REPO, "private")
    push.close()
    monkeypatch.setenv("REGISTRY_KIT_PASSWORD", PASSWORD)
    by_env = RegistryCredentials(username=USER, password_env="REGISTRY_KIT_PASSWORD")
    with client_for(basic_registry.host, credentials=by_env) as client:
        assert client.resolve(basic_registry.host, REPO, "private").digest == image.digest
        assert client.get_manifest(basic_registry.host, REPO, image.digest).data == image.data
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    by_file = RegistryCredentials(username=USER, password_file=str(secret))
    with client_for(basic_registry.host, credentials=by_file) as client:
        assert client.resolve(basic_registry.host, REPO, "private").digest == image.digest
    config = tmp_path / "config.json"
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config.write_text(json.dumps({"auths": {basic_registry.host: {"auth": auth}}}))
    with client_for(basic_registry.host, docker_config=str(config)) as client:
        assert client.resolve(basic_registry.host, REPO, "private").digest == image.digest


def test_basic_auth_wrong_password_is_permanent_and_secret_free(basic_registry: Registry,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_KIT_PASSWORD", PASSWORD + "-wrong")
    wrong = RegistryCredentials(username=USER, password_env="REGISTRY_KIT_PASSWORD")
    with client_for(basic_registry.host, credentials=wrong) as client, \
            pytest.raises(RegistryError, match="401 \\(credentials rejected\\)") as info:
        client.resolve(basic_registry.host, REPO, "private")
    assert info.value.status == 401 and not info.value.temporary
    no_secret(info.value)
    assert PASSWORD + "-wrong" not in str(info.value)
    with client_for(basic_registry.host) as client, \
            pytest.raises(RegistryError, match="401 \\(authentication required\\)") as info:
        client.resolve(basic_registry.host, REPO, "private")
    assert not info.value.temporary


def test_a_missing_password_variable_is_named_not_guessed(basic_registry: Registry,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_KIT_UNSET", raising=False)
    refs = RegistryCredentials(username=USER, password_env="REGISTRY_KIT_UNSET")
    with client_for(basic_registry.host, credentials=refs) as client, \
            pytest.raises(RegistryError, match="REGISTRY_KIT_UNSET is not set"):
        client.resolve(basic_registry.host, REPO, "private")


# ---- the bearer token flow (a fake registry and its token endpoint) ---------------------------------


MANIFEST = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": descriptor("application/vnd.oci.image.config.v1+json", b"{}"),
                      "layers": []})
DIGEST = sha256(MANIFEST)


def manifest_reply(body: bytes = MANIFEST, digest: str | None = DIGEST) -> Reply:
    headers = {"Content-Type": OCI_MANIFEST}
    if digest:
        headers["Docker-Content-Digest"] = digest
    return Reply(200, body, headers)


def test_bearer_challenge_flow_caches_the_token(fake: list[FakeRegistry],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    issued: list[dict[str, list[str]]] = []

    def token_route(request: Request) -> Reply:
        issued.append(parse_qs(urlsplit(request.path).query))
        assert request.headers.get("authorization") == \
            "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return Reply(200, json.dumps({"token": f"tok-{len(issued)}", "expires_in": 300}).encode(),
                     {"Content-Type": "application/json"})

    tokens = serve(fake, token_route)

    def registry_route(request: Request) -> Reply:
        if request.headers.get("authorization", "").startswith("Bearer tok-"):
            return manifest_reply()
        challenge = (f'Bearer realm="{tokens.url}/token",service="fake.registry",'
                     f'scope="repository:{REPO}:pull"')
        return Reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                     {"WWW-Authenticate": challenge, "Content-Type": "application/json"})

    server = serve(fake, registry_route)
    monkeypatch.setenv("REGISTRY_KIT_PASSWORD", PASSWORD)
    clock = ManualClock()
    refs = RegistryCredentials(username=USER, password_env="REGISTRY_KIT_PASSWORD")
    client = RegistryClient({server.host: RegistryOptions(plain_http=True, credentials=refs)}, clock=clock)
    with client:
        for _ in range(3):
            assert client.get_manifest(server.host, REPO, DIGEST).digest == DIGEST
        assert client.resolve(server.host, REPO, "v1").digest == DIGEST
        assert len(issued) == 1
        assert issued[0] == {"service": ["fake.registry"], "scope": [f"repository:{REPO}:pull"]}
        clock.advance(301)  # the token expired: one new token, then cached again
        client.get_manifest(server.host, REPO, DIGEST)
        client.get_manifest(server.host, REPO, DIGEST)
        assert len(issued) == 2
        challenged = len(server.requests)
        client.get_manifest(server.host, "team/other", DIGEST)  # another scope: its token asked first
        assert issued[2]["scope"] == ["repository:team/other:pull"]
        assert server.requests[challenged].headers.get("authorization") == "Bearer tok-3"
    bearer = [r.headers.get("authorization") for r in server.requests if r.headers.get("authorization")]
    assert set(bearer) == {"Bearer tok-1", "Bearer tok-2", "Bearer tok-3"}
    assert sum(1 for r in server.requests if not r.headers.get("authorization")) == 1  # one 401 in all


def test_a_token_endpoint_refusing_is_permanent(fake: list[FakeRegistry]) -> None:
    tokens = serve(fake, lambda request: Reply(401, b"no"))
    challenge = f'Bearer realm="{tokens.url}/token",service="s"'
    server = serve(fake, lambda request: Reply(401, b"", {"WWW-Authenticate": challenge}))
    with client_for(server.host) as client, pytest.raises(RegistryError, match="token request") as info:
        client.get_manifest(server.host, REPO, DIGEST)
    assert info.value.status == 401 and not info.value.temporary


# ---- a registry that lies, throttles, fails or floods -----------------------------------------------


def test_a_registry_that_lies_about_a_digest_is_refused(fake: list[FakeRegistry]) -> None:
    other = MANIFEST.replace(b'"layers":[]', b'"layers": []')
    routes = {
        f"/v2/{REPO}/manifests/{DIGEST}": manifest_reply(other, None),  # other bytes for the digest asked
        f"/v2/{REPO}/manifests/lying-header": manifest_reply(MANIFEST, sha256(other)),
        f"/v2/{REPO}/blobs/{DIGEST}": Reply(200, other),
    }
    server = serve(fake, lambda request: routes.get(request.path, Reply(404)))
    with client_for(server.host) as client:
        with pytest.raises(RegistryError, match="lies about a digest") as info:
            client.get_manifest(server.host, REPO, DIGEST)
        assert not info.value.temporary
        with pytest.raises(RegistryError, match="Docker-Content-Digest says"):
            client.get_manifest(server.host, REPO, "lying-header")
        with pytest.raises(RegistryError, match="lies about a digest"):
            client.get_blob(server.host, REPO, DIGEST)


def test_head_answering_another_digest_is_refused(fake: list[FakeRegistry]) -> None:
    server = serve(fake, lambda request: manifest_reply(MANIFEST, sha256(b"something else")))
    with client_for(server.host) as client, pytest.raises(RegistryError, match="lies about a digest"):
        client.resolve(server.host, REPO, DIGEST)


def test_resolve_falls_back_to_get_and_recomputes_the_digest(fake: list[FakeRegistry]) -> None:
    server = serve(fake, lambda request: Reply(405) if request.method == "HEAD"
                   else manifest_reply(digest=None))
    with client_for(server.host) as client:
        found = client.resolve(server.host, REPO, "v1")
    assert found.digest == DIGEST and found.media_type == OCI_MANIFEST
    assert [r.method for r in server.requests] == ["HEAD", "GET"]


def test_an_endless_manifest_is_refused_while_streaming(fake: list[FakeRegistry]) -> None:
    def endless() -> Iterator[bytes]:
        chunk = b" " * 65536
        for _ in range(16 * 1024):  # 1 GiB if nobody stopped reading
            yield chunk

    server = serve(fake, lambda request: Reply(200, endless(), {"Content-Type": OCI_MANIFEST}))
    client = RegistryClient({server.host: RegistryOptions(plain_http=True)}, max_manifest_bytes=1024 * 1024)
    with client, pytest.raises(RegistryError, match="larger than 1048576 bytes") as info:
        client.get_manifest(server.host, REPO, "v1")
    assert not info.value.temporary


def test_429_is_temporary_with_retry_after(fake: list[FakeRegistry]) -> None:
    clock = ManualClock(start=1_800_000_000.0)
    when = format_datetime(datetime.fromtimestamp(1_800_000_000 + 90, tz=UTC), usegmt=True)
    answers = iter([Reply(429, b"", {"Retry-After": "42"}), Reply(429, b"", {"Retry-After": when}),
                    Reply(429, b"")])
    server = serve(fake, lambda request: next(answers))
    client = RegistryClient({server.host: RegistryOptions(plain_http=True)}, clock=clock)
    with client:
        for expected in (42.0, 90.0, None):
            with pytest.raises(RegistryError, match="429 \\(rate limited\\)") as info:
                client.get_manifest(server.host, REPO, DIGEST)
            assert info.value.temporary and info.value.retry_after == expected
    assert len(server.requests) == 3  # no retry inside the client


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_temporary(fake: list[FakeRegistry], status: int) -> None:
    body = b'{"errors":[{"code":"UNAVAILABLE","message":"down"}]}'
    server = serve(fake, lambda request: Reply(status, body))
    with client_for(server.host) as client, pytest.raises(RegistryError) as info:
        client.get_manifest(server.host, REPO, DIGEST)
    assert info.value.temporary and info.value.status == status and "UNAVAILABLE: down" in str(info.value)
    assert isinstance(info.value, GitOpsError)


def test_connection_refused_is_temporary() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{sock.getsockname()[1]}"
        with client_for(host) as client, pytest.raises(RegistryError, match="cannot reach") as info:
            client.resolve(host, REPO, "v1")
    assert info.value.temporary


def test_referrers_api_when_the_registry_has_it(fake: list[FakeRegistry]) -> None:
    index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(OCI_MANIFEST, b"one", artifactType=SIGSTORE_BUNDLE),
        descriptor(OCI_MANIFEST, b"two", artifactType="application/example.sbom")]})
    server = serve(fake, lambda request: Reply(200, index, {"Content-Type": OCI_INDEX})
                   if "/referrers/" in request.path else Reply(404))
    with client_for(server.host) as client:
        found = client.referrers(server.host, REPO, DIGEST, artifact_type=SIGSTORE_BUNDLE)
    assert [d.digest for d in found] == [sha256(b"one")]  # filtered here: no OCI-Filters-Applied
    assert server.paths() == [f"/v2/{REPO}/referrers/{DIGEST}?artifactType="
                              f"{SIGSTORE_BUNDLE.replace('/', '%2F').replace('+', '%2B')}"]


def test_tag_pages_follow_link_on_the_same_registry(fake: list[FakeRegistry]) -> None:
    def route(request: Request) -> Reply:
        if "last=" in request.path:
            return Reply(200, b'{"name":"team/app","tags":["c"]}')
        return Reply(200, b'{"name":"team/app","tags":["a","b"]}',
                     {"Link": f'</v2/{REPO}/tags/list?n=2&last=b>; rel="next"'})

    server = serve(fake, route)
    with client_for(server.host) as client:
        assert client.list_tags(server.host, REPO, page_size=2) == ["a", "b", "c"]


# ---- the transport policy, before any request -------------------------------------------------------


def test_plain_http_to_a_non_loopback_host_is_refused_before_any_request() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404)

    transport = httpx.MockTransport(record)
    client = RegistryClient({"registry.example.com": RegistryOptions(plain_http=True),
                             "169.254.169.254": RegistryOptions()}, transport=transport)
    with client:
        with pytest.raises(RegistryError, match="plain http is only allowed to loopback") as info:
            client.resolve("registry.example.com", REPO, "v1")
        assert not info.value.temporary
        with pytest.raises(RegistryError, match="link-local"):
            client.get_manifest("169.254.169.254", REPO, DIGEST)
        with pytest.raises(RegistryError, match="invalid"):
            client.get_manifest("registry.example.com", "../etc", DIGEST)
    assert sent == []
    insecure = RegistryOptions(plain_http=True, allow_insecure_http=True)
    allowed = RegistryClient({"registry.example.com": insecure}, transport=transport)
    with allowed, pytest.raises(RegistryError, match="404"):
        allowed.resolve("registry.example.com", REPO, "v1")
    assert [str(r.url) for r in sent] == ["http://registry.example.com/v2/team/app/manifests/v1"]


def test_https_is_the_default(fake: list[FakeRegistry]) -> None:
    sent: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(404)

    with RegistryClient(transport=httpx.MockTransport(record)) as client, pytest.raises(RegistryError):
        client.resolve("registry.example.com:5443", REPO, "v1")
    assert sent == ["https://registry.example.com:5443/v2/team/app/manifests/v1"]


def test_a_static_token_is_sent_as_bearer(fake: list[FakeRegistry], monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(fake, lambda request: manifest_reply()
                   if request.headers.get("authorization") == "Bearer static-token" else Reply(401))
    monkeypatch.setenv("REGISTRY_KIT_TOKEN", "static-token")
    with client_for(server.host, credentials=RegistryCredentials(token_env="REGISTRY_KIT_TOKEN")) as client:
        assert client.get_manifest(server.host, REPO, DIGEST).digest == DIGEST
    assert os.environ["REGISTRY_KIT_TOKEN"] == "static-token"


def test_redirects_are_checked_and_do_not_carry_credentials(fake: list[FakeRegistry],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    blob = b"signature layer"
    storage = serve(fake, lambda request: Reply(200, blob))
    redirects = {
        f"/v2/{REPO}/blobs/{sha256(blob)}": f"{storage.url}/object?sig=1",
        f"/v2/{REPO}/blobs/{sha256(b'x')}": "http://storage.example.com/object",
        f"/v2/{REPO}/blobs/{sha256(b'y')}": "file:///etc/passwd",
    }

    def route(request: Request) -> Reply:
        if request.headers.get("authorization") != "Bearer static-token":
            return Reply(401)
        return Reply(307, b"", {"Location": redirects[request.path]})

    server = serve(fake, route)
    monkeypatch.setenv("REGISTRY_KIT_TOKEN", "static-token")
    with client_for(server.host, credentials=RegistryCredentials(token_env="REGISTRY_KIT_TOKEN")) as client:
        assert client.get_blob(server.host, REPO, sha256(blob)) == blob
        with pytest.raises(RegistryError, match="plain http is only allowed to loopback"):
            client.get_blob(server.host, REPO, sha256(b"x"))
        with pytest.raises(RegistryError, match="not http"):
            client.get_blob(server.host, REPO, sha256(b"y"))
    assert storage.paths() == ["/object?sig=1"]
    assert "authorization" not in storage.requests[0].headers


# ---- the bearer token flow against the real registry ------------------------------------------------


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory,
                   missing: object) -> Iterator[TokenWorld]:
    if not REGISTRY_BINARY.exists():
        missing(f"{REGISTRY_BINARY} is absent (Debian's docker-registry)")  # type: ignore[operator]
    issuer = TokenIssuer(USER, PASSWORD)
    service = FakeRegistry(issuer.route)
    root = tmp_path_factory.mktemp("token-registry")
    running = start_registry(root, token=(issuer, f"{service.url}/token"))
    yield running, issuer, service
    running.stop()
    service.close()


TokenWorld = tuple[Registry, TokenIssuer, FakeRegistry]


def test_bearer_token_flow_against_the_real_registry(token_registry: TokenWorld,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    registry, issuer, _ = token_registry
    push = Pusher(registry)
    image = push.image(REPO, "behind-tokens")
    push.close()
    monkeypatch.setenv("REGISTRY_KIT_PASSWORD", PASSWORD)
    refs = RegistryCredentials(username=USER, password_env="REGISTRY_KIT_PASSWORD")
    issuer.issued.clear()
    with client_for(registry.host, credentials=refs) as client:
        assert client.resolve(registry.host, REPO, "behind-tokens").digest == image.digest
        manifest = client.get_manifest(registry.host, REPO, image.digest)
        parsed = manifest.parse()
        assert isinstance(parsed, ImageManifest)
        client.get_blob(registry.host, REPO, parsed.layers[0].digest)
        assert client.referrers(registry.host, REPO, image.digest) == []
    assert issuer.issued == [f"repository:{REPO}:pull"]  # one token for every request of the scope
    monkeypatch.setenv("REGISTRY_KIT_PASSWORD", "wrong")
    with client_for(registry.host, credentials=refs) as client, \
            pytest.raises(RegistryError, match="token request") as info:
        client.resolve(registry.host, REPO, "behind-tokens")
    assert info.value.status == 401 and not info.value.temporary
    no_secret(info.value)


def test_tls_with_the_registry_ca_file(fake: list[FakeRegistry], tmp_path: Path) -> None:
    context, ca = tls_context(tmp_path)
    server = serve(fake, lambda request: manifest_reply(), tls=context)
    with RegistryClient() as client, pytest.raises(RegistryError, match="certificate is not trusted") as info:
        client.get_manifest(server.host, REPO, DIGEST)
    assert not info.value.temporary
    with RegistryClient({server.host: RegistryOptions(ca_file=str(ca))}) as client:
        assert client.get_manifest(server.host, REPO, DIGEST).digest == DIGEST
    assert server.url.startswith("https://")


def test_a_docker_schema1_manifest_is_refused(fake: list[FakeRegistry]) -> None:
    schema1 = b'{"schemaVersion": 1, "name": "team/app", "tag": "v1", "fsLayers": []}'
    server = serve(fake, lambda request: Reply(
        200, schema1, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}))
    with client_for(server.host) as client, pytest.raises(RegistryError, match="schema 1 is not supported"):
        client.get_manifest(server.host, REPO, "v1")


# ---- the pieces, without a registry -----------------------------------------------------------------


def test_parse_challenge() -> None:
    assert parse_challenge('Bearer realm="https://auth.example/token",service="registry.example",'
                           'scope="repository:a/b:pull,push"') == \
        ("bearer", {"realm": "https://auth.example/token", "service": "registry.example",
                    "scope": "repository:a/b:pull,push"})
    assert parse_challenge('Basic realm="x \\"quoted\\""') == ("basic", {"realm": 'x "quoted"'})
    assert parse_challenge("") == ("", {})


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0), ("0", 0.0), ("1.5", 1.5), (None, None), ("", None), ("soon", None), ("-5", None),
    ("Thu, 01 Jan 2027 00:00:10 GMT", 10.0), ("Thu, 01 Jan 2026 00:00:00 GMT", 0.0),
])
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, datetime(2027, 1, 1, tzinfo=UTC).timestamp()) == expected


@pytest.mark.parametrize("kwargs", [
    {"username": "u", "password_env": "A", "password_file": "/f"},
    {"token_env": "A", "token_file": "/f"},
    {"password_env": "A"},
    {"username": "u", "password_env": "A", "token_env": "B"},
])
def test_credentials_are_checked(kwargs: dict[str, str]) -> None:
    with pytest.raises(RegistryError, match="registry credentials"):
        RegistryCredentials(**kwargs)


def test_docker_config_entries(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    auth = base64.b64encode(b"hub-user:hub-pass").decode()
    config.write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": auth},
        "ghcr.io": {"username": "gh", "password": "gh-pass"},
        "bad.example": {"auth": "%%%"},
        "nocolon.example": {"auth": base64.b64encode(b"justuser").decode()},
        "helper.example": {}}, "credsStore": "desktop"}))
    assert docker_config_auth(str(config), "docker.io") == ("hub-user", "hub-pass")
    assert docker_config_auth(str(config), "ghcr.io") == ("gh", "gh-pass")
    assert docker_config_auth(str(config), "quay.io") is None
    assert docker_config_auth(str(config), "helper.example") is None
    for host in ("bad.example", "nocolon.example"):
        with pytest.raises(RegistryError, match="not base64 of user:password"):
            docker_config_auth(str(config), host)
    config.write_text('{"auths": {"ghcr.io": {"password": "' + PASSWORD + '"')
    with pytest.raises(RegistryError, match="not JSON") as info:
        docker_config_auth(str(config), "ghcr.io")
    no_secret(info.value)
    config.write_text(json.dumps({"auths": {"ghcr.io": {"auth": base64.b64encode(
        b"\xff" + PASSWORD.encode()).decode()}}}))
    with pytest.raises(RegistryError, match="not base64 of user:password") as info:
        docker_config_auth(str(config), "ghcr.io")
    no_secret(info.value)
    with pytest.raises(RegistryError, match="cannot read"):
        docker_config_auth(str(tmp_path / "absent.json"), "ghcr.io")


def test_a_secret_file_is_read_but_never_shown(tmp_path: Path) -> None:
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe" + PASSWORD.encode())
    refs = RegistryCredentials(username=USER, password_file=str(binary))
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(
        401, headers={"WWW-Authenticate": 'Basic realm="r"'}))
    options = {"registry.example": RegistryOptions(credentials=refs)}
    with RegistryClient(options, transport=transport) as client, \
            pytest.raises(RegistryError, match="not UTF-8 text") as info:
        client.resolve("registry.example", REPO, "v1")
    no_secret(info.value)


@pytest.mark.parametrize(("registry", "repository", "reference", "message"), [
    ("registry.example/path", REPO, "v1", "not a host name"),
    ("registry.example:99999", REPO, "v1", "not a host name"),
    ("registry.example", "Team/App", "v1", "repository name"),
    ("registry.example", "a//b", "v1", "repository name"),
    ("registry.example", REPO, "v1/../../x", "neither a tag nor a digest"),
    ("registry.example", REPO, "sha256:abc", "neither a tag nor a digest"),
    ("metadata.google.internal", REPO, "v1", "metadata host name"),
    ("[fe80::1]:5000", REPO, "v1", "link-local"),
])
def test_names_are_checked_before_any_request(registry: str, repository: str, reference: str,
                                              message: str) -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500))
    with RegistryClient(transport=transport) as client, pytest.raises(RegistryError, match=message):
        client.resolve(registry, repository, reference)
    assert sent == []


@pytest.mark.parametrize(("document", "message"), [
    (b"not json", "not JSON"),
    (b"[]", "not a JSON object"),
    (b'{"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": {}}',
     "manifests must be a list"),
    (b'{"mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {}, "layers": []}',
     "config.mediaType must be a string"),
    (b'{"mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": [], "config": '
     b'{"mediaType": "a", "digest": "sha256:00", "size": 1}}', "config.digest is not"),
    (b'{"mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": [], "config": '
     b'{"mediaType": "a", "digest": "sha256:' + b"0" * 64 + b'", "size": -1}}', "config.size"),
    (b'{"mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": {}, "config": {}}',
     "layers must be a list"),
    (b'{"mediaType": "application/x-other", "layers": []}', "unsupported manifest media type"),
    (b'{"annotations": {"a": 1}, "layers": []}', "annotations must map strings to strings"),
])
def test_malformed_manifests_are_refused(document: bytes, message: str) -> None:
    with pytest.raises(RegistryError, match=message) as info:
        parse_manifest(document)
    assert not info.value.temporary


def test_descriptors_are_frozen_with_their_platform_and_annotations() -> None:
    index = parse_manifest(canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(OCI_MANIFEST, b"amd64", platform={"architecture": "amd64", "os": "linux"},
                   annotations={"k": "v"})]}), "application/vnd.oci.image.index.v1+json; charset=utf-8")
    assert isinstance(index, ImageIndex)
    entry = index.manifests[0]
    assert entry.platform is not None and entry.platform.architecture == "amd64"
    with pytest.raises(TypeError):
        entry.annotations["k"] = "changed"  # type: ignore[index]
    assert hash(entry) == hash(entry) and entry == index.manifests[0]
    assert hasher(entry.digest).name == "sha256"
    with pytest.raises(RegistryError, match="not a sha256 or sha512 digest"):
        referrers_tag("md5:abc")
    with pytest.raises(RegistryError, match="differs from the content type"):
        parse_manifest(canonical({"mediaType": OCI_INDEX, "manifests": []}), OCI_MANIFEST)


@pytest.mark.parametrize(("answer", "message"), [
    (b'{"token": "' + PASSWORD.encode() + b'"', "has no token"),
    (b'{"token": "' + PASSWORD.encode() + b'", "expires_in": "soon"}', "malformed \\(expires_in\\)"),
    (b'{"access_token": ""}', "has no token"),
])
def test_a_malformed_token_answer_is_refused_without_showing_it(fake: list[FakeRegistry], answer: bytes,
                                                                message: str) -> None:
    tokens = serve(fake, lambda request: Reply(200, answer))
    challenge = f'Bearer realm="{tokens.url}/token",service="s"'
    server = serve(fake, lambda request: Reply(401, b"", {"WWW-Authenticate": challenge}))
    with client_for(server.host) as client, pytest.raises(RegistryError, match=message) as info:
        client.get_manifest(server.host, REPO, DIGEST)
    assert not info.value.temporary
    no_secret(info.value)


def test_a_token_realm_over_plain_http_elsewhere_is_refused_before_credentials_go(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(401, headers={
            "WWW-Authenticate": 'Bearer realm="http://auth.example.com/token",service="registry.example"'})

    monkeypatch.setenv("REGISTRY_KIT_PASSWORD", PASSWORD)
    refs = RegistryCredentials(username=USER, password_env="REGISTRY_KIT_PASSWORD")
    with RegistryClient({"registry.example": RegistryOptions(credentials=refs)},
                        transport=httpx.MockTransport(answer)) as client, \
            pytest.raises(RegistryError, match="plain http is only allowed to loopback") as info:
        client.get_manifest("registry.example", REPO, DIGEST)
    assert sent == [f"https://registry.example/v2/{REPO}/manifests/{DIGEST}"]
    no_secret(info.value)
