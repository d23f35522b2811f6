"""Repository URL policy: which transports may be used, redaction, and cache keys.

Called by :mod:`gitops.sources.spec` when a :class:`RepoSpec` is built, and by every error path that
mentions a URL. Key design choice: an allow-list of transports (https, http, ssh, git+ssh, git,
file and scp-like ``user@host:path``), never a deny-list; it matches :mod:`gitops.config.urls` and
is checked again here because specs can also be built without the configuration. Git's transport
helpers (``ext::``, ``fd::``, any ``helper::address``) can run commands, so any ``::`` form is
refused; so are option-looking hosts (``-oProxyCommand=...``), control characters, and passwords
embedded in the URL (secrets belong in ``password_env``/``password_file``). Local paths and
``file://`` need ``allow_local``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gitops.errors import UnsafeSource

ALLOWED_SCHEMES = frozenset({"https", "http", "ssh", "git+ssh", "ssh+git", "git", "file"})
_SCP_LIKE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._~-]+)@)?(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])"
                       r":(?P<path>.*)$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_MAX_URL = 2048


def redact(url: str) -> str:
    """Return ``url`` without secrets in its userinfo (safe for logs and error messages).

    A password is always masked; for http(s) the whole userinfo is masked because tokens are often
    passed as the user name. SSH user names (``git@``) are kept: they are not secret.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if "@" not in parts.netloc or not parts.scheme:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    if parts.password is None and parts.scheme.lower() not in ("http", "https"):
        return url
    masked = "***" if parts.scheme.lower() in ("http", "https") else f"{userinfo.split(':', 1)[0]}:***"
    return urlunsplit((parts.scheme, f"{masked}@{host}", parts.path, parts.query, parts.fragment))


def url_key(url: str) -> str:
    """A short stable directory name for ``url`` (hash: URLs may contain any character)."""
    return hashlib.sha256(url.encode()).hexdigest()[:24]


def _reject(url: str, why: str) -> UnsafeSource:
    return UnsafeSource(f"repository url {redact(url)!r} refused: {why}")


def _check_chars(url: str) -> None:
    if not url:
        raise UnsafeSource("repository url is empty")
    if len(url) > _MAX_URL:
        raise _reject(url[:80], f"longer than {_MAX_URL} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url) or " " in url:
        raise _reject(url, "contains whitespace or control characters")
    if url.startswith("-"):
        raise _reject(url, "starts with '-' (looks like a command-line option)")


def _check_scheme_url(url: str, scheme: str, allow_local: bool) -> str:
    if scheme not in ALLOWED_SCHEMES:
        raise _reject(url, f"transport {scheme!r} is not one of {sorted(ALLOWED_SCHEMES)}")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError as exc:
        raise _reject(url, f"malformed url ({exc})") from exc
    if scheme == "file":
        if not allow_local:
            raise _reject(url, "file:// repositories need allow_local: true")
        return url
    host = parts.hostname or ""
    if not host or host.startswith("-"):
        raise _reject(url, "missing or invalid host")
    if parts.password is not None:
        raise _reject(url, "passwords in the url are not allowed; use password_env or password_file")
    return url


def validate_url(url: str, *, allow_local: bool = False, base: Path | None = None) -> str:
    """Check ``url`` against the transport policy; return the URL libgit2 should use.

    Plain local paths are made absolute (relative to ``base`` when given) and only accepted with
    ``allow_local``. Raises :class:`UnsafeSource` naming the reason, with any secret redacted.
    """
    _check_chars(url)
    if re.match(r"^[A-Za-z0-9+._-]*::", url):
        raise _reject(url, "git transport helpers (ext::, fd::, ...) are not allowed")
    scheme = _SCHEME.match(url)
    if scheme:
        return _check_scheme_url(url, scheme.group("scheme").lower(), allow_local)
    scp = _SCP_LIKE.match(url)
    if scp:
        if scp.group("host").startswith("-"):
            raise _reject(url, "invalid host")
        return url
    if not allow_local:
        raise _reject(url, "local paths need allow_local: true (or use https://, ssh://, git://)")
    path = Path(url)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return str(path.resolve())


def is_local(url: str) -> bool:
    """True for ``file://`` URLs and plain paths (the local transport: no shallow fetch)."""
    return url.startswith(("file://", "/"))
