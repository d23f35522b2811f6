"""Classifies and checks Git repository URLs before anything hands them to Git.

Called by the ``Repository`` model (:mod:`gitops.config.models`) while validating ``spec.url``; the
sources engineer's ``RepoSpec`` trusts the result. Accepted: ``https://``, ``http://`` (for loopback
test servers), ``ssh://`` (also ``git+ssh://``), ``git://``, scp-like ``user@host:path``, and local
repositories (``file://`` or a path) which are resolved to an absolute ``file://`` URL. Rejected, each
with a message naming the rule: remote-helper transports (``ext::``, ``fd::`` and any ``name::``, which
run commands), anything starting with ``-`` (option injection into ``git``/``ssh``), hosts starting with
``-``, whitespace and control characters, passwords inside the URL (credentials are references, see
``spec.credentials``) and unknown schemes. Messages never repeat the URL, which may hold a secret.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit


class Transport(StrEnum):
    HTTPS = "https"
    HTTP = "http"
    SSH = "ssh"
    GIT = "git"
    LOCAL = "local"


_HELPER = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)::")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP = re.compile(r"^(?:(?P<user>[^@/:\s]+)@)?(?P<host>[^@/:\s\[\]]+|\[[0-9A-Fa-f:.]+\]):(?P<path>.*)$")
_REMOTE = {"https": Transport.HTTPS, "http": Transport.HTTP, "ssh": Transport.SSH,
           "git+ssh": Transport.SSH, "ssh+git": Transport.SSH, "git": Transport.GIT}
MAX_URL_LENGTH = 2048


def classify(url: str) -> Transport:
    """The transport of ``url``; raises ValueError naming the rule it breaks."""
    helper = _HELPER.match(url)
    if helper:
        raise ValueError(f"the '{helper.group(1)[:32]}::' remote-helper transport is not allowed "
                         "(it can run arbitrary commands); use https://, ssh:// or git@host:path")
    _check_text(url)
    scheme = _SCHEME.match(url)
    if scheme:
        return _classify_scheme(url, scheme.group(1).lower())
    scp = _SCP.match(url)
    if scp and "/" not in url.split(":", 1)[0]:
        _check_host(scp.group("host"))
        if scp.group("user") and scp.group("user").startswith("-"):
            raise ValueError("the user name in the URL must not start with '-'")
        if not scp.group("path"):
            raise ValueError("scp-like URL has no repository path after ':'")
        return Transport.SSH
    return Transport.LOCAL


def _check_text(url: str) -> None:
    if not url:
        raise ValueError("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if url.startswith("-"):
        raise ValueError("the URL must not start with '-' (it would be read as a git option)")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValueError("the URL must not contain whitespace or control characters")


def _classify_scheme(url: str, scheme: str) -> Transport:
    if scheme == "file":
        return Transport.LOCAL
    transport = _REMOTE.get(scheme)
    if transport is None:
        raise ValueError(f"unsupported URL scheme '{scheme}'; use https, http, ssh, git or file")
    try:
        parts = urlsplit(url)
        password = parts.password
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError("the URL is malformed (bad host or port)") from exc
    if password is not None:
        raise ValueError("the URL contains a password; inline secrets are not allowed, "
                         "reference them under spec.credentials (passwordEnv, tokenFile, ...)")
    if not host:
        raise ValueError("the URL has no host")
    _check_host(host)
    if parts.username and parts.username.startswith("-"):
        raise ValueError("the user name in the URL must not start with '-'")
    return transport


def _check_host(host: str) -> None:
    if host.startswith("-"):
        raise ValueError("the host in the URL must not start with '-' (it would be read as an ssh option)")


def local_url(url: str, base_dir: Path) -> str:
    """The absolute ``file://`` URL of a local repository URL or path, relative to ``base_dir``."""
    path = url
    if url.lower().startswith("file://"):
        rest = url[len("file://"):]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost"):]
        elif not rest.startswith(("/", "./", "../", "~")) and rest not in (".", ".."):
            raise ValueError("a file:// URL must name a local path (file:///abs/path or file://./rel/path)")
        path = rest
    resolved = os.path.normpath(base_dir / Path(path).expanduser())
    return "file://" + Path(resolved).as_posix()
