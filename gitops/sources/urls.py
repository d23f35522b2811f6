"""The one URL policy: which Git URLs may be used, from where, and how a URL is shown in a message.

Called by the configuration (``gitops.config.models`` through the thin adapter ``gitops.config.urls``),
by :class:`gitops.sources.RepoSpec` when a spec is built, and by Kustomize remote bases
(:mod:`gitops.sources.remote_bases`), whose URLs come from repository content and are untrusted. One
module, so configuration and remote bases can never disagree about what is safe.

Rules for every Git URL (:func:`check_url`), each refusal naming its rule and never the URL:

- transports are an allow-list: ``https``, ``http``, ``ssh`` (``git+ssh``, ``ssh+git``, scp-like
  ``user@host:path``), ``git`` and local repositories (``file://`` or a path, only with ``allow_local``);
  Git's remote helpers (``ext::``, ``fd::``, any ``name::``) run commands and are always refused;
- no inline secrets: any userinfo in http(s) and git:// URLs (``user:password@`` and ``token@``), a
  password in ssh URLs; the ssh user (``git@``) is fine;
- no query string and no fragment: they mean nothing to Git and are where tokens get pasted;
- plain ``http://`` and ``git://`` (no TLS) only to loopback (test servers);
- link-local (169.254.0.0/16, fe80::/10) and cloud metadata addresses and names are refused;
- hosts, users and URLs starting with ``-`` (option injection into git/ssh), whitespace and control
  characters, malformed ports and hosts are refused.

Remote bases additionally pass :func:`check_remote_host`: the host must be on an allow-list (patterns
from :func:`host_pattern`), and the addresses it *resolves to* are checked again (link-local, metadata,
loopback-only for plain transports). :func:`redact` / :func:`redact_text` are the one redaction helper
for every message and log line that shows a URL. Cluster API server URLs are checked by
:func:`check_server_url`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from gitops.errors import SourceUnavailable, UnsafeSource


class Transport(StrEnum):
    HTTPS = "https"
    HTTP = "http"
    SSH = "ssh"
    GIT = "git"
    LOCAL = "local"


ALLOWED_SCHEMES = frozenset({"https", "http", "ssh", "git+ssh", "ssh+git", "git", "file"})
_BY_SCHEME = {"https": Transport.HTTPS, "http": Transport.HTTP, "ssh": Transport.SSH,
              "git+ssh": Transport.SSH, "ssh+git": Transport.SSH, "git": Transport.GIT}
DEFAULT_PORTS = {Transport.HTTPS: 443, Transport.HTTP: 80, Transport.SSH: 22, Transport.GIT: 9418}
PLAIN = frozenset({Transport.HTTP, Transport.GIT})
MAX_URL_LENGTH = 2048

METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal", "metadata.azure.internal"})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

_HELPER = re.compile(r"^([A-Za-z0-9+._-]*)::")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP = re.compile(r"^(?:(?P<user>[^@/:]*)@)?(?P<host>\[[^\]/]*\]|[^@/:\[\]]*):(?P<path>.*)$", re.S)
_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?$")
_USER = re.compile(r"^[A-Za-z0-9._~+-]+$")
_SAFE_QUERY_KEYS = frozenset({"ref", "version", "timeout", "submodules", "service"})

SECRET_RULE = ("the URL contains credentials (user:password@ or token@); inline secrets are not allowed, "
               "reference them under spec.credentials (tokenEnv, passwordFile, ...)")
PLAIN_RULE = ("plain http:// and git:// are only allowed to loopback hosts (test servers); "
              "use https:// or ssh://")
LOCAL_RULE = "local repositories (file:// URLs and paths) are refused unless spec.allowLocal is true"
METADATA_RULE = "the host is a link-local or metadata address"
_USER_RULE = "the user name in the URL must not start with '-' or contain special characters"


@dataclass(frozen=True)
class GitUrl:
    """A URL that passed :func:`check_url`. ``host`` is lower case, without brackets or trailing dot."""

    url: str
    transport: Transport
    host: str = ""
    port: int | None = None
    user: str | None = None

    @property
    def effective_port(self) -> int | None:
        return self.port or DEFAULT_PORTS.get(self.transport)


# ---- redaction ------------------------------------------------------------------------------------


def _mask_query(query: str) -> str:
    parts = []
    for item in query.split("&"):
        key, eq, _ = item.partition("=")
        parts.append(item if eq and key.lower() in _SAFE_QUERY_KEYS else f"{key}=***" if eq else "***")
    return "&".join(parts)


def _mask_tail(tail: str) -> str:
    """Mask the query values and the fragment of ``path?query#fragment``."""
    tail, hash_, fragment = tail.partition("#")
    path, question, query = tail.partition("?")
    shown = path + (f"?{_mask_query(query)}" if question else "")
    return shown + ("#***" if hash_ and fragment else hash_)


def redact(url: str) -> str:
    """``url`` safe for messages and logs: userinfo, query values and fragment masked.

    http(s) and git:// lose their whole userinfo (a token is often passed as the user name); ssh
    keeps its user (``git@``) and loses a password; query values are masked except Kustomize's and
    Git's harmless keys (``ref``, ``version``, ``timeout``, ``submodules``, ``service``).
    """
    scheme = _SCHEME.match(url)
    if not scheme:
        return _mask_tail(url)  # scp-like or a path: only a query or fragment can hide a secret
    rest = url[scheme.end():]
    cut = min([i for i in (rest.find("?"), rest.find("#")) if i >= 0] or [len(rest)])
    head, tail = rest[:cut], rest[cut:]
    if "@" in head:  # the last '@' before any query: a token may itself contain '/'
        userinfo, after = head.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        ssh = _BY_SCHEME.get(scheme.group(1).lower()) is Transport.SSH and _USER.match(user) is not None
        masked = (f"{user}:***" if ":" in userinfo else user) if ssh else "***"
        head = f"{masked}@{after}"
    return f"{scheme.group(0)}{head}{_mask_tail(tail)}"


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (for messages from libgit2 and other libraries)."""
    return _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)


# ---- the policy -----------------------------------------------------------------------------------


def _check_text(url: str) -> None:
    if not url:
        raise UnsafeSource("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeSource(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if url.startswith("-"):
        raise UnsafeSource("the URL must not start with '-' (it would be read as a git option)")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UnsafeSource("the URL must not contain whitespace or control characters")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _embedded_v4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Link-local, metadata, unspecified or multicast: never a Git server."""
    inner = _embedded_v4(ip)
    if inner is not None:
        return forbidden_address(inner)
    return ip.is_link_local or ip in METADATA_ADDRESSES or ip.is_unspecified or ip.is_multicast


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1, ::ffff:127.x)."""
    if host.rstrip(".") == "localhost":
        return True
    ip = _ip(host)
    if ip is None:
        return False
    inner = _embedded_v4(ip)
    return (inner or ip).is_loopback


def _check_host(host: str) -> str:
    """Normalise and check a host taken from a URL (brackets already removed)."""
    if not host:
        raise UnsafeSource("the URL has no host")
    if host.startswith("-"):
        raise UnsafeSource("the host in the URL must not start with '-' (it would be read as an ssh option)")
    host = host.lower()
    ip = _ip(host)
    if ip is None and not _HOSTNAME.match(host):
        raise UnsafeSource("the host in the URL is not a valid host name or IP address")
    host = host.rstrip(".")
    if (ip is not None and forbidden_address(ip)) or host in METADATA_NAMES:
        raise UnsafeSource(METADATA_RULE)
    return host


def _no_query_or_fragment(url: str) -> None:
    if "?" in url:
        raise UnsafeSource("a query string ('?...') has no meaning in a Git URL and may carry a token; "
                           "remove it")
    if "#" in url:
        raise UnsafeSource("a fragment ('#...') has no meaning in a Git URL and may carry a token; remove it")


def _check_file_url(url: str) -> None:
    _no_query_or_fragment(url)
    rest = url[len("file://"):]
    if not (rest.startswith(("/", "./", "../", "~", "localhost/")) or rest in (".", "..")):
        raise UnsafeSource("a file:// URL must name a local path (file:///abs/path or file://./rel/path)")


def _check_scheme_url(url: str, scheme: str) -> GitUrl:
    transport = _BY_SCHEME.get(scheme)
    if transport is None:
        raise UnsafeSource(f"unsupported URL scheme '{scheme[:32]}'; use https, http, ssh, git or file")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeSource("the URL is malformed (bad host or port)") from exc
    _no_query_or_fragment(url)
    netloc = parts.netloc
    user: str | None = None
    if "@" in netloc:
        if transport is not Transport.SSH or parts.password is not None:
            raise UnsafeSource(SECRET_RULE)
        user = parts.username or ""
        if not _USER.match(user) or user.startswith("-"):
            raise UnsafeSource(_USER_RULE)
    if port == 0:
        raise UnsafeSource("the URL is malformed (bad host or port)")
    host = _check_host(parts.hostname or "")
    if transport in PLAIN and not is_loopback(host):
        raise UnsafeSource(PLAIN_RULE)
    return GitUrl(url, transport, host, port, user)


def _check_scp(url: str, match: re.Match[str]) -> GitUrl:
    _no_query_or_fragment(url)
    user, host, path = match.group("user"), match.group("host"), match.group("path")
    if user is not None and (not _USER.match(user) or user.startswith("-")):
        raise UnsafeSource(_USER_RULE)
    if host.startswith("[") and _ip(host[1:-1]) is None:
        raise UnsafeSource("the host in the URL is not a valid host name or IP address")
    checked = _check_host(host.strip("[]"))
    if not path:
        raise UnsafeSource("scp-like URL has no repository path after ':'")
    return GitUrl(url, Transport.SSH, checked, None, user)


def check_url(url: str, *, allow_local: bool = False) -> GitUrl:
    """Check ``url`` against the policy; raises :class:`UnsafeSource` whose message names the rule only.

    Plain paths and ``file://`` URLs are local repositories, accepted only with ``allow_local``.
    """
    helper = _HELPER.match(url)
    if helper:
        raise UnsafeSource(f"the '{helper.group(1)[:32]}::' remote-helper transport is not allowed (it can "
                           "run arbitrary commands); use https://, ssh:// or git@host:path")
    _check_text(url)
    scheme = _SCHEME.match(url)
    if scheme:
        name = scheme.group(1).lower()
        if name == "file":
            _check_file_url(url)
            if not allow_local:
                raise UnsafeSource(LOCAL_RULE)
            return GitUrl(url, Transport.LOCAL)
        return _check_scheme_url(url, name)
    colon, slash = url.find(":"), url.find("/")
    if colon > 0 and (slash < 0 or colon < slash):  # git reads this as scp-like ssh, so do we
        scp = _SCP.match(url)
        if scp is None:
            raise UnsafeSource("the scp-like URL is malformed (use user@host:path)")
        return _check_scp(url, scp)
    if not allow_local:
        raise UnsafeSource(LOCAL_RULE)
    return GitUrl(url, Transport.LOCAL)


def validate_url(url: str, *, allow_local: bool = False, base: Path | None = None) -> str:
    """:func:`check_url` for the Git layer: the URL libgit2 should use, or :class:`UnsafeSource`
    naming the (redacted) URL and the rule. Plain local paths are made absolute (against ``base``)."""
    try:
        checked = check_url(url, allow_local=allow_local)
    except UnsafeSource as exc:
        shown = redact(url)
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        raise UnsafeSource(f"repository url {shown!r} refused: {exc.message}") from None
    if checked.transport is Transport.LOCAL and not url.lower().startswith("file://"):
        path = Path(url)
        return str(((base or Path.cwd()) / path).resolve() if not path.is_absolute() else path.resolve())
    return url


def is_local(url: str) -> bool:
    """True for ``file://`` URLs and plain paths (the local transport: no shallow fetch)."""
    return url.startswith(("file://", "/"))


def cache_key(url: str, identity: str = "") -> str:
    """A short stable directory name for (``url``, credential identity): a hash, URLs hold any character."""
    material = url if not identity else f"{url}\x00{identity}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _identity(url: str) -> tuple[str, str, int | None, str]:
    parsed = check_url(url, allow_local=True)
    if parsed.transport is Transport.LOCAL:
        return (str(parsed.transport), "", None, url.rstrip("/").removesuffix(".git"))
    scp = None if _SCHEME.match(url) else _SCP.match(url)
    path = scp.group("path") if scp else urlsplit(url).path
    return (str(parsed.transport), parsed.host, parsed.effective_port, path.strip("/").removesuffix(".git"))


def same_repository(a: str, b: str) -> bool:
    """Whether two URLs name the same repository (host case, default port, ``.git`` and ``/`` aside)."""
    try:
        return _identity(a) == _identity(b)
    except UnsafeSource:
        return False


# ---- remote bases: host allow-list and resolved addresses ----------------------------------------

Resolver = Callable[[str, int], Iterable[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (what libgit2 will connect to)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


_PATTERN = re.compile(r"^(?P<host>\*\.[^\[\]:/@]+|[^\[\]:/@*]+|\[[0-9A-Fa-f:.]+\])"
                      r"(?::(?P<port>[0-9]{1,5}))?$")


def host_pattern(entry: str) -> str:
    """Check and normalise one allow-list entry: ``host``, ``host:port``, ``*.domain[:port]``,
    ``[v6]:port``; raises :class:`UnsafeSource` naming the rule."""
    match = _PATTERN.match(entry.strip())
    if not match:
        raise UnsafeSource("must be a host name or IP address with an optional ':port' "
                           "(or '*.domain'), without scheme, user or path")
    host, port = match.group("host").lower(), match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise UnsafeSource("the port must be between 1 and 65535")
    bare = host[2:] if host.startswith("*.") else host.strip("[]")
    _check_host(bare)
    if host.startswith("*.") and "." not in bare.strip("."):
        raise UnsafeSource("a wildcard must name a domain with at least two labels ('*.corp.example')")
    if host.startswith("[") and not isinstance(_ip(bare), ipaddress.IPv6Address):
        raise UnsafeSource("brackets are only for IPv6 addresses")
    host = host.rstrip(".")
    return f"{host}:{int(port)}" if port is not None else host


def endpoint(url: str) -> str | None:
    """The allow-list entry that admits exactly ``url``'s host and port (None for local URLs)."""
    try:
        parsed = check_url(url, allow_local=True)
    except UnsafeSource:
        return None
    if parsed.transport is Transport.LOCAL:
        return None
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return host if parsed.port is None else f"{host}:{parsed.port}"


def host_allowed(url: GitUrl, patterns: Iterable[str]) -> bool:
    """Whether ``url``'s host and port match an allow-list entry (an entry without a port admits the
    transport's default port only)."""
    for pattern in patterns:
        host, port = pattern, None
        if not pattern.endswith("]") and ":" in pattern.rsplit("]", 1)[-1]:
            host, _, text = pattern.rpartition(":")
            port = int(text)
        host = host.strip("[]")
        if port is None:
            port_ok = url.port is None or url.port == DEFAULT_PORTS.get(url.transport)
        else:
            port_ok = url.effective_port == port
        if host.startswith("*."):
            host_ok = url.host.endswith(host[1:]) and url.host != host[2:]
        else:
            host_ok = url.host == host
        if host_ok and port_ok:
            return True
    return False


def check_remote_host(url: GitUrl, patterns: Iterable[str], resolver: Resolver) -> None:
    """Refuse ``url`` unless its host is allow-listed and every address it resolves to is acceptable
    (never link-local or metadata; loopback only for plain http:// and git://)."""
    patterns = list(patterns)
    shown = f"[{url.host}]" if ":" in url.host else url.host
    if url.port is not None:
        shown += f":{url.port}"
    if not host_allowed(url, patterns):
        allowed = ", ".join(patterns) or "none"
        raise UnsafeSource(f"host {shown} is not in the allowed hosts for remote bases ({allowed}); "
                           "list it under the Repository's spec.remoteBaseHosts")
    ip = _ip(url.host)
    try:
        addresses = [url.host] if ip is not None else list(resolver(url.host, url.effective_port or 0))
    except (OSError, UnicodeError) as exc:
        raise SourceUnavailable(f"host {shown} could not be resolved") from exc
    if not addresses:
        raise SourceUnavailable(f"host {shown} could not be resolved")
    for address in addresses:
        resolved = _ip(address)
        if resolved is None or forbidden_address(resolved):
            raise UnsafeSource(f"host {shown} resolves to a link-local or metadata address")
    if url.transport in PLAIN and not all(is_loopback(a) for a in addresses):
        raise UnsafeSource(f"host {shown}: {PLAIN_RULE}")


# ---- Kubernetes API servers ----------------------------------------------------------------------


def check_server_url(url: str) -> None:
    """A Cluster's ``server``: ``http(s)://host[:port][/path]``, no credentials, query or fragment."""
    _check_text(url)
    scheme = _SCHEME.match(url)
    if not scheme or scheme.group(1).lower() not in ("https", "http"):
        raise UnsafeSource("must be an http(s) URL of a Kubernetes API server")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeSource("the URL is malformed (bad host or port)") from exc
    if "@" in parts.netloc:
        raise UnsafeSource("the server URL must be given without credentials (inline secrets are not "
                           "allowed); use tokenEnv or tokenFile")
    if "?" in url or "#" in url:
        raise UnsafeSource("a query string or fragment is not allowed in the server URL (it may carry a "
                           "token); use tokenEnv or tokenFile")
    if port == 0:
        raise UnsafeSource("the URL is malformed (bad host or port)")
    host = parts.hostname or ""
    if not host:
        raise UnsafeSource("the URL has no host")
    if host.startswith("-") or (_ip(host) is None and not _HOSTNAME.match(host)):
        raise UnsafeSource("the host in the URL is not a valid host name or IP address")
