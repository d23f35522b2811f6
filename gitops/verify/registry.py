"""The OCI distribution client: read manifests, blobs, tags and referrers from a registry.

Used by the image verifiers (signatures and bundles are stored next to the image in its registry).
Synchronous, over ``httpx``. Key design choices, each refusing rather than guessing (fail closed):

- **Transport**: https with TLS verification by default (a per-registry CA file); plain http only to
  loopback hosts (:func:`gitops.sources.urls.is_loopback`, the sources' rule) unless a registry's
  :class:`RegistryOptions` says ``allow_insecure_http``; link-local and metadata addresses are refused.
  The check runs before any request, and again on every redirect (followed by hand, at most 5, the
  ``Authorization`` header dropped when the host changes). The environment is not trusted (no netrc,
  no proxy variables).
- **Limits**: every body is read while streaming and refused as soon as it passes its cap (manifests
  4 MiB, blobs 16 MiB by default, a token answer 1 MiB); ``Content-Length`` only refuses earlier.
- **Digests**: a fetched manifest's digest is always recomputed from its bytes; a body whose digest
  differs from the digest asked for or from ``Docker-Content-Digest`` is refused (a registry that lies
  about a digest). A tag is resolved once (:meth:`RegistryClient.resolve`); callers then fetch by
  digest, the client never re-resolves a tag behind their back.
- **Auth**: anonymous, basic, a static bearer token, and the token flow of the ``WWW-Authenticate:
  Bearer`` challenge (realm, service, scope ``repository:NAME:pull``); tokens are cached per
  (registry, scope) until they expire. Credentials are references (:class:`RegistryCredentials`:
  environment variable names or files, or a Docker ``config.json``'s ``auths`` entry), read when
  needed and never put in a message, a log line or an exception.
- **Errors**: one :class:`gitops.errors.RegistryError`: temporary for timeouts, connection errors, 429
  and 5xx with ``retry_after`` from ``Retry-After`` (seconds or an HTTP date); permanent otherwise. The
  client never sleeps nor retries: the caller (the workers' backoff) decides.
- **Referrers**: the OCI referrers API, and when a registry does not have it (404, as Debian's
  docker-registry 2.8.2), the referrers tag ``sha256-<hex>`` holding an image index.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from gitops import secrets
from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.errors import RegistryError
from gitops.secrets import utf8
from gitops.sources.urls import METADATA_NAMES, forbidden_address, is_loopback
from gitops.verify.ocitypes import (
    INDEX_TYPES,
    MANIFEST_ACCEPT,
    MANIFEST_TYPES,
    OCI_INDEX,
    Descriptor,
    ImageIndex,
    Manifest,
    check_digest,
    cosign_signature_tag,
    digest_of,
    is_digest,
    parse_manifest,
    referrers_tag,
)

__all__ = ["DEFAULT_BLOB_LIMIT", "DEFAULT_MANIFEST_LIMIT", "RegistryClient", "RegistryCredentials",
           "RegistryOptions", "cosign_signature_tag", "referrers_tag"]

MiB = 1024 * 1024
DEFAULT_MANIFEST_LIMIT = 4 * MiB
DEFAULT_BLOB_LIMIT = 16 * MiB
TOKEN_LIMIT = 1 * MiB
TAGS_LIMIT = 4 * MiB
ERROR_BODY_LIMIT = 64 * 1024
MAX_SECRET_BYTES = 64 * 1024
MAX_REDIRECTS = 5
MAX_PAGES = 100
# Content types a registry may send for a manifest whose own mediaType field then says what it is.
GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain"})
DOCKER_CONFIG_LIMIT = 1 * MiB
DEFAULT_TOKEN_SECONDS = 60.0  # the Docker token spec's default and minimum
TOKEN_MARGIN = 5.0  # renew a token this many seconds before it expires
# Docker Hub's name and the host its API lives on.
REGISTRY_ALIASES = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}
DOCKER_HUB_AUTH_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")

_REGISTRY = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
                       r"(?::(?P<port>[0-9]{1,5}))?$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*,?')
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


# ---- configuration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCredentials:
    """Credentials by reference: a user with a password (``password_env`` names an environment
    variable, ``password_file`` a file), or a bearer token sent as is (``token_env``/``token_file``).
    The values are read when a request needs them and never shown."""

    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    token_env: str | None = None
    token_file: str | None = None

    def __post_init__(self) -> None:
        if self.password_env and self.password_file:
            raise RegistryError("registry credentials: give password_env or password_file, not both")
        if self.token_env and self.token_file:
            raise RegistryError("registry credentials: give token_env or token_file, not both")
        has_password = bool(self.password_env or self.password_file)
        if has_password and not self.username:
            raise RegistryError("registry credentials: a password needs a username")
        if has_password and (self.token_env or self.token_file):
            raise RegistryError("registry credentials: give a password or a token, not both")


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach one registry (``host[:port]``, as in an image reference)."""

    credentials: RegistryCredentials | None = None
    docker_config: str | None = None  # a config.json whose auths entry for this registry is used
    plain_http: bool = False  # http:// instead of https:// (loopback hosts only, unless the next)
    allow_insecure_http: bool = False  # plain http to a non-loopback host: explicitly allowed
    ca_file: str | None = None  # PEM bundle trusted for this registry (instead of the system's)


@dataclass
class _Token:
    value: str
    expires: float  # monotonic


@dataclass
class _Auth:
    """What a registry asked for: ``scheme`` of its last challenge and the challenge's parameters."""

    scheme: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def _secret(env: str | None, file: str | None, what: str, limit: int = MAX_SECRET_BYTES) -> str | None:
    """Read a secret from the environment variable ``env`` or ``file``; messages name the variable or
    the file, never the value."""
    return secrets.read_secret(env=env, file=file, what=what, error=RegistryError, limit=limit)


def _json(text: str | bytes) -> Any:
    """``text`` parsed, or ``_INVALID``; never an exception, whose ``doc`` would hold the text (a
    credential file, a token answer) in the chain of the error raised next."""
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return _INVALID


_INVALID = object()


def docker_config_auth(path: str, registry: str) -> tuple[str, str] | None:
    """(username, password) from a Docker ``config.json``'s ``auths`` entry for ``registry`` (its
    ``auth`` field, base64 of ``user:password``, or ``username``/``password``); None when there is no
    entry. Credential helpers (``credsStore``, ``credHelpers``) are not run."""
    what = f"docker config {path}"
    document = _json(_secret(None, path, what, DOCKER_CONFIG_LIMIT) or "")
    if document is _INVALID:
        raise RegistryError(f"{what}: not JSON")
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        return None
    keys = [registry, f"https://{registry}", f"http://{registry}"]
    if registry in REGISTRY_ALIASES or registry in DOCKER_HUB_AUTH_KEYS:
        keys += list(DOCKER_HUB_AUTH_KEYS)
    entry = next((auths[k] for k in keys if isinstance(auths.get(k), dict)), None)
    if entry is None:
        return None
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            raw = base64.b64decode(entry["auth"], validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        user, sep, password = (utf8(raw) or "").partition(":")
        if not sep:
            raise RegistryError(f"{what}: the auth entry for {registry} is not base64 of user:password")
        return user, password
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str):
        return user, password
    return None


# ---- small helpers ----------------------------------------------------------------------------------


def check_registry(registry: str) -> tuple[str, int | None]:
    """(host, port) of ``host[:port]``; a permanent RegistryError when it is not one."""
    match = _REGISTRY.match(registry)
    port = int(match.group("port")) if match and match.group("port") else None
    if not match or (port is not None and not 0 < port < 65536):
        raise RegistryError(f"registry {registry[:100]!r} is not a host name or address with an "
                            "optional port")
    return match.group("host").strip("[]").lower(), port


def check_repository(repository: str) -> str:
    if len(repository) > 255 or not _REPOSITORY.match(repository):
        raise RegistryError(f"repository name {repository[:100]!r} is invalid")
    return repository


def check_reference(reference: str) -> str:
    if not (is_digest(reference) or _TAG.match(reference)):
        raise RegistryError(f"reference {reference[:100]!r} is neither a tag nor a digest")
    return reference


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (epoch seconds): a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value)) if value.replace(".", "", 1).isdigit() else \
            max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(scheme, params) of a ``WWW-Authenticate`` header (the first challenge)."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _CHALLENGE_PARAM.match(rest, position)
        if not match:
            break
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        position = match.end()
    return scheme.lower(), params


def _certificate_refused(error: BaseException) -> bool:
    """Whether a certificate verification failure is behind ``error`` (permanent: retrying the same
    certificate cannot help)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(error)


def _basic(user: str, password: str | None) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password or ''}".encode()).decode()


def _registry_message(data: bytes) -> str:
    """The registry's own error code and message (the distribution spec's ``errors`` list), short."""
    try:
        errors = json.loads(data).get("errors")
        first = errors[0]
        text = f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        return ""
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return f" ({text[:200]})" if text else ""


# ---- the client -------------------------------------------------------------------------------------


class RegistryClient:
    """A read-only client of OCI distribution registries (see the module docstring).

    ``registries`` maps ``host[:port]`` to its :class:`RegistryOptions` (a registry not listed is
    reached anonymously over https, or with ``docker_config``'s entry for it). ``transport`` replaces
    httpx's network transport (tests). Close it (or use it as a context manager) to close connections.
    Threads may share one client (httpx's clients are thread-safe; at worst two threads fetch the same
    token).
    """

    def __init__(self, registries: Mapping[str, RegistryOptions] | None = None, *,
                 docker_config: str | None = None, timeout: float = 30.0,
                 max_manifest_bytes: int = DEFAULT_MANIFEST_LIMIT, max_blob_bytes: int = DEFAULT_BLOB_LIMIT,
                 clock: Clock = SYSTEM_CLOCK, transport: httpx.BaseTransport | None = None) -> None:
        self.registries = dict(registries or {})
        self.docker_config = docker_config
        self.timeout = timeout
        self.max_manifest_bytes = max_manifest_bytes
        self.max_blob_bytes = max_blob_bytes
        self.clock = clock
        self._transport = transport
        self._clients: dict[str, httpx.Client] = {}
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._auth: dict[str, _Auth] = {}
        self._lock = threading.Lock()  # one httpx client per registry, even when threads share this one

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    # ---- public operations ----------------------------------------------------------------------

    def resolve(self, registry: str, repository: str, reference: str) -> Descriptor:
        """The descriptor ``reference`` (a tag or a digest) points at now: a HEAD request, and a GET
        (digest recomputed from the bytes) when the registry's HEAD answer does not say the digest."""
        check_reference(reference)
        path = f"/v2/{check_repository(repository)}/manifests/{reference}"
        where = f"{registry}/{repository}:{reference}" if not is_digest(reference) else \
            f"{registry}/{repository}@{reference}"
        with self._request("HEAD", registry, repository, path, {"Accept": MANIFEST_ACCEPT}, where,
                           allow_status=(405, 400)) as response:
            header = response.headers.get("Docker-Content-Digest", "")
            media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
            length = response.headers.get("Content-Length", "")
            if response.status_code == 200 and is_digest(header) and media_type in MANIFEST_TYPES \
                    and length.isdigit():
                if is_digest(reference) and header != reference:
                    raise RegistryError(f"{where}: the registry answered digest {header} for {reference}: "
                                        "a registry that lies about a digest is not trusted")
                if int(length) > self.max_manifest_bytes:
                    raise RegistryError(f"{where}: the manifest is larger than "
                                        f"{self.max_manifest_bytes} bytes")
                return Descriptor(media_type, header, int(length))
        return self.get_manifest(registry, repository, reference).descriptor

    def get_manifest(self, registry: str, repository: str, reference: str) -> Manifest:
        """The manifest ``reference`` names, its digest recomputed from the bytes; refused when it
        differs from the digest asked for or from the registry's ``Docker-Content-Digest``."""
        check_reference(reference)
        path = f"/v2/{check_repository(repository)}/manifests/{reference}"
        where = f"{registry}/{repository}@{reference}" if is_digest(reference) else \
            f"{registry}/{repository}:{reference}"
        algorithm = reference.split(":", 1)[0] if is_digest(reference) else "sha256"
        with self._request("GET", registry, repository, path, {"Accept": MANIFEST_ACCEPT}, where) as response:
            data = self._read(response, self.max_manifest_bytes, where, "manifest")
            media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
            header = response.headers.get("Docker-Content-Digest")
        digest = digest_of(data, algorithm)
        if is_digest(reference) and digest != reference:
            raise RegistryError(f"{where}: the manifest served has digest {digest}: a registry that lies "
                                "about a digest is not trusted")
        if header and header.split(":", 1)[0] == algorithm and header != digest:
            raise RegistryError(f"{where}: Docker-Content-Digest says {header[:80]} but the bytes served "
                                f"have digest {digest}: a registry that lies about a digest is not trusted")
        if media_type not in MANIFEST_TYPES:
            if media_type not in GENERIC_TYPES:
                raise RegistryError(f"{where}: unsupported manifest media type {media_type[:100]!r} "
                                    "(Docker schema 1 is not supported)")
            parsed = parse_manifest(data)  # the document's own mediaType (or its shape) says
            media_type = parsed.media_type
        return Manifest(data, media_type, digest)

    def get_blob(self, registry: str, repository: str, digest: str, max_bytes: int | None = None) -> bytes:
        """The blob ``digest`` (at most ``max_bytes``, the client's blob limit by default), its digest
        recomputed while it streams."""
        check_digest(digest)
        limit = self.max_blob_bytes if max_bytes is None else max_bytes
        where = f"{registry}/{repository}@{digest}"
        path = f"/v2/{check_repository(repository)}/blobs/{digest}"
        with self._request("GET", registry, repository, path, {}, where) as response:
            data = self._read(response, limit, where, "blob")
        actual = digest_of(data, digest.split(":", 1)[0])
        if actual != digest:
            raise RegistryError(f"{where}: the blob served has digest {actual}: a registry that lies about "
                                "a digest is not trusted")
        return data

    def list_tags(self, registry: str, repository: str, *, page_size: int = 1000) -> list[str]:
        """Every tag of ``repository`` (following the ``Link`` pages, at most 100 of them)."""
        path: str | None = f"/v2/{check_repository(repository)}/tags/list?{urlencode({'n': page_size})}"
        where = f"{registry}/{repository}"
        tags: list[str] = []
        pages = 0
        while path is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise RegistryError(f"{where}: the tag list has more than {MAX_PAGES} pages")
            with self._request("GET", registry, repository, path, {"Accept": "application/json"},
                               where) as response:
                data = self._read(response, TAGS_LIMIT, where, "tag list")
                path = self._next_page(response, registry, where)
            try:
                listed = json.loads(data).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{where}: the tag list is not JSON") from None
            if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
                raise RegistryError(f"{where}: the tag list is malformed")
            tags.extend(listed)
        return tags

    def referrers(self, registry: str, repository: str, digest: str,
                  artifact_type: str | None = None) -> list[Descriptor]:
        """The manifests whose ``subject`` is ``digest``: the OCI referrers API, or, when the registry
        does not have it (404), the referrers tag ``sha256-<hex>`` (an image index; none: no
        referrers). ``artifact_type`` filters them (here when the registry did not)."""
        check_digest(digest)
        where = f"{registry}/{repository}@{digest} referrers"
        query = f"?{urlencode({'artifactType': artifact_type})}" if artifact_type else ""
        path: str | None = f"/v2/{check_repository(repository)}/referrers/{digest}{query}"
        found: list[Descriptor] = []
        filtered = False
        pages = 0
        while path is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise RegistryError(f"{where}: more than {MAX_PAGES} pages")
            with self._request("GET", registry, repository, path, {"Accept": OCI_INDEX}, where,
                               allow_status=(404, 400, 405, 406)) as response:
                if response.status_code != 200:
                    if pages > 1:
                        raise RegistryError(f"{where}: a later page answered {response.status_code}",
                                            status=response.status_code)
                    return self._referrers_tag(registry, repository, digest, artifact_type)
                data = self._read(response, self.max_manifest_bytes, where, "referrers index")
                filtered = filtered or "artifacttype" in response.headers.get(
                    "OCI-Filters-Applied", "").lower()
                path = self._next_page(response, registry, where)
            index = parse_manifest(data, OCI_INDEX)
            assert isinstance(index, ImageIndex)
            found.extend(index.manifests)
        return [d for d in found if artifact_type is None or filtered or d.artifact_type == artifact_type]

    def _referrers_tag(self, registry: str, repository: str, digest: str,
                       artifact_type: str | None) -> list[Descriptor]:
        try:
            manifest = self.get_manifest(registry, repository, referrers_tag(digest))
        except RegistryError as exc:
            if exc.status == 404:
                return []
            raise
        if manifest.media_type not in INDEX_TYPES:
            raise RegistryError(f"{registry}/{repository}:{referrers_tag(digest)}: the referrers tag is a "
                                f"{manifest.media_type}, not an image index")
        index = manifest.parse()
        assert isinstance(index, ImageIndex)
        return [d for d in index.manifests if artifact_type is None or d.artifact_type == artifact_type]

    # ---- transport ------------------------------------------------------------------------------

    def _options(self, registry: str) -> RegistryOptions:
        return self.registries.get(registry) or RegistryOptions()

    def _base_url(self, registry: str) -> str:
        """``scheme://host[:port]`` of ``registry``, after the transport policy."""
        options = self._options(registry)
        host, port = check_registry(registry)
        api_host = REGISTRY_ALIASES.get(host, host)
        self._check_host(registry, api_host, options.plain_http, options)
        shown = f"[{api_host}]" if ":" in api_host else api_host
        return f"{'http' if options.plain_http else 'https'}://{shown}{f':{port}' if port else ''}"

    @staticmethod
    def _check_host(registry: str, host: str, plain: bool, options: RegistryOptions) -> None:
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and forbidden_address(ip):
            raise RegistryError(f"registry {registry}: {host} is a link-local, metadata or unspecified "
                                "address")
        if host.rstrip(".") in METADATA_NAMES:
            raise RegistryError(f"registry {registry}: {host} is a metadata host name")
        if plain and not is_loopback(host) and not options.allow_insecure_http:
            raise RegistryError(f"registry {registry}: plain http is only allowed to loopback hosts unless "
                                "the registry's options allow_insecure_http; use https")

    def _client(self, registry: str) -> httpx.Client:
        with self._lock:
            return self._client_locked(registry)

    def _client_locked(self, registry: str) -> httpx.Client:
        client = self._clients.get(registry)
        if client is None:
            options = self._options(registry)
            verify: ssl.SSLContext | bool = True
            if options.ca_file:
                try:  # the system's roots and the registry's CA (its token service may be public)
                    verify = ssl.create_default_context()
                    verify.load_verify_locations(cafile=options.ca_file)
                except (OSError, ssl.SSLError) as exc:
                    raise RegistryError(f"registry {registry}: cannot load the CA file {options.ca_file}: "
                                        f"{exc}") from None
            client = httpx.Client(verify=verify, timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                                  trust_env=False, transport=self._transport,
                                  headers={"User-Agent": "gitops-verify", "Accept-Encoding": "identity"})
            self._clients[registry] = client
        return client

    def _credentials(self, registry: str) -> tuple[str | None, str | None, str | None]:
        """(username, password, static token) for ``registry``: its options, else a Docker config."""
        options = self._options(registry)
        refs = options.credentials
        what = f"registry {registry} credentials"
        if refs is not None:
            token = _secret(refs.token_env, refs.token_file, what)
            if token is not None:
                return None, None, token
            return refs.username, _secret(refs.password_env, refs.password_file, what), None
        config = options.docker_config or self.docker_config
        if config:
            found = docker_config_auth(config, registry)
            if found is not None:
                return found[0], found[1], None
        return None, None, None

    def _authorization(self, registry: str, scope: str, where: str) -> str | None:
        """The Authorization header for a request: a static token, the cached token of ``scope`` (a
        new one when the registry is known to want tokens and it expired), basic credentials once the
        registry asked for them; None: anonymous."""
        auth = self._auth.get(registry)
        user, password, static = self._credentials(registry)
        if static is not None:
            return f"Bearer {static}"
        if auth is None:
            return None
        if auth.scheme == "bearer":
            token = self._tokens.get((registry, scope))
            if token is None or token.expires <= self.clock.monotonic():
                self._fetch_token(registry, scope, auth.params, where)
                token = self._tokens[(registry, scope)]
            return f"Bearer {token.value}"
        if auth.scheme == "basic" and user is not None:
            return _basic(user, password)
        return None

    def _fetch_token(self, registry: str, scope: str, params: dict[str, str], where: str) -> None:
        realm = params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryError(f"{where}: the registry's token realm is not an http(s) URL")
        options = self._options(registry)
        self._check_host(registry, parts.hostname.lower(), parts.scheme == "http", options)
        query = {k: v for k, v in (("service", params.get("service")), ("scope", scope)) if v}
        url = realm + ("&" if parts.query else "?") + urlencode(query)
        user, password, _ = self._credentials(registry)
        headers = {"Accept": "application/json"}
        if user is not None:
            headers["Authorization"] = _basic(user, password)
        try:
            with self._client(registry).stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    self._raise_status(response, f"{where}: token request to {parts.hostname}")
                data = self._read(response, TOKEN_LIMIT, where, "token answer")
        except httpx.TimeoutException as exc:
            raise RegistryError(f"{where}: the token service timed out", temporary=True) from exc
        except httpx.TransportError as exc:
            raise RegistryError(f"{where}: cannot reach the token service ({type(exc).__name__})",
                                temporary=True) from exc
        answer = _json(data)
        value = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
        expires = answer.get("expires_in") if isinstance(answer, dict) else None
        if not isinstance(expires, int | float | None) or isinstance(expires, bool):
            raise RegistryError(f"{where}: the token answer is malformed (expires_in)")
        expires_in = float(expires or DEFAULT_TOKEN_SECONDS)
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{where}: the token answer has no token")
        lifetime = max(0.0, max(expires_in, DEFAULT_TOKEN_SECONDS) - TOKEN_MARGIN)
        self._tokens[(registry, scope)] = _Token(value, self.clock.monotonic() + lifetime)

    @contextmanager
    def _request(self, method: str, registry: str, repository: str, path: str, headers: dict[str, str],
                 where: str, allow_status: tuple[int, ...] = ()) -> Iterator[httpx.Response]:
        """A streamed response with status 200 (or one of ``allow_status``), after the auth
        challenge and redirects; any other status raises."""
        scope = f"repository:{repository}:pull"
        base = self._base_url(registry)
        client = self._client(registry)
        challenged = False
        while True:
            authorization = self._authorization(registry, scope, where)
            url = base + path
            with self._send(client, registry, method, url, headers, authorization, where) as response:
                if response.status_code == 401 and not challenged:
                    challenged = True
                    scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
                    user, _, static = self._credentials(registry)
                    if static is None and scheme == "bearer" and params.get("realm"):
                        self._auth[registry] = _Auth("bearer", params)
                        self._fetch_token(registry, params.get("scope") or scope, params, where)
                        if params.get("scope") and params["scope"] != scope:
                            # the registry named its own scope: use its token for ours as well
                            self._tokens[(registry, scope)] = self._tokens[(registry, params["scope"])]
                        continue
                    if static is None and scheme == "basic" and user is not None:
                        self._auth[registry] = _Auth("basic", params)
                        continue
                if response.status_code == 200 or response.status_code in allow_status:
                    yield response
                    return
                self._raise_status(response, where, authorized=authorization is not None)

    @contextmanager
    def _send(self, client: httpx.Client, registry: str, method: str, url: str, headers: dict[str, str],
              authorization: str | None, where: str) -> Iterator[httpx.Response]:
        """One request, following redirects by hand: each target passes the transport policy, and
        the Authorization header is not sent to another host."""
        origin = urlsplit(url).netloc
        options = self._options(registry)
        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers)
            if authorization is not None and urlsplit(url).netloc == origin:
                sent["Authorization"] = authorization
            try:
                with client.stream(method, url, headers=sent) as response:
                    if response.status_code in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        target = urljoin(url, response.headers["Location"])
                        parts = urlsplit(target)
                        if parts.scheme not in ("http", "https") or not parts.hostname:
                            raise RegistryError(f"{where}: redirected to a URL that is not http(s)")
                        self._check_host(registry, parts.hostname.lower(), parts.scheme == "http", options)
                        url = target
                        method = "GET" if response.status_code == 303 else method
                        continue
                    yield response
                    return
            except httpx.TimeoutException as exc:
                raise RegistryError(f"{where}: the registry timed out", temporary=True) from exc
            except httpx.TransportError as exc:
                if _certificate_refused(exc):
                    raise RegistryError(f"{where}: the registry's TLS certificate is not trusted (set the "
                                        "registry's ca_file for a private CA)") from exc
                raise RegistryError(f"{where}: cannot reach the registry ({type(exc).__name__})",
                                    temporary=True) from exc
        raise RegistryError(f"{where}: more than {MAX_REDIRECTS} redirects")

    def _raise_status(self, response: httpx.Response, where: str, *, authorized: bool = False) -> None:
        status = response.status_code
        try:
            detail = _registry_message(self._read(response, ERROR_BODY_LIMIT, where, "error", strict=False))
        except RegistryError:
            detail = ""
        if status == 429 or status >= 500:
            retry = retry_after_seconds(response.headers.get("Retry-After"), self.clock.now())
            what = "rate limited" if status == 429 else "server error"
            raise RegistryError(f"{where}: the registry answered {status} ({what}){detail}", status=status,
                                temporary=True, retry_after=retry)
        if status == 401:
            said = "credentials rejected" if authorized else "authentication required"
            raise RegistryError(f"{where}: the registry answered 401 ({said}){detail}", status=status)
        if status == 403:
            raise RegistryError(f"{where}: the registry answered 403 (access denied){detail}", status=status)
        if status == 404:
            raise RegistryError(f"{where}: not found (404){detail}", status=status)
        raise RegistryError(f"{where}: the registry answered {status}{detail}", status=status)

    @staticmethod
    def _read(response: httpx.Response, limit: int, where: str, what: str, *, strict: bool = True) -> bytes:
        """The body, at most ``limit`` bytes, refused as soon as it passes them (``strict``; else cut)."""
        length = response.headers.get("Content-Length", "")
        if strict and length.isdigit() and int(length) > limit:
            raise RegistryError(f"{where}: the {what} is larger than {limit} bytes (Content-Length {length})")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    if not strict:
                        chunks.append(chunk[: limit - (size - len(chunk))])
                        break
                    raise RegistryError(f"{where}: the {what} is larger than {limit} bytes")
                chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise RegistryError(f"{where}: the registry timed out while sending the {what}",
                                temporary=True) from exc
        except httpx.TransportError as exc:
            raise RegistryError(f"{where}: the connection broke while reading the {what} "
                                f"({type(exc).__name__})", temporary=True) from exc
        return b"".join(chunks)

    def _next_page(self, response: httpx.Response, registry: str, where: str) -> str | None:
        """The path of the ``Link: <...>; rel="next"`` page, which must stay on the same registry."""
        match = _LINK_NEXT.search(response.headers.get("Link", ""))
        if not match:
            return None
        base = self._base_url(registry)
        target = urljoin(base + response.url.path, match.group(1))
        if not target.startswith(base + "/"):
            raise RegistryError(f"{where}: the next page link leaves the registry")
        return str(target[len(base):])
