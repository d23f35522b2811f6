"""The configuration's face of the one URL policy (:mod:`gitops.sources.urls`), for pydantic validators.

Called by the ``Repository`` and ``Cluster`` models (:mod:`gitops.config.models`). There is no URL
logic here beyond adapting: the policy raises ``UnsafeSource`` naming the rule it applies, and pydantic
validators need ``ValueError``, so :func:`classify`, :func:`check_server` and :func:`host_pattern`
translate. The same rules therefore guard configured repositories and Kustomize remote bases.
:func:`local_url` resolves a local repository (already accepted by the policy) against the directory of
the file that declared it. Messages never repeat the URL, which may hold a secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from gitops.errors import UnsafeSource
from gitops.sources import urls as policy
from gitops.sources.urls import Transport

__all__ = ["Transport", "check_endpoint", "check_server", "classify", "host_pattern", "local_url"]


def classify(url: str) -> Transport:
    """The transport of ``url`` (local repositories included); raises ValueError naming the rule."""
    try:
        return policy.check_url(url, allow_local=True).transport
    except UnsafeSource as exc:
        raise ValueError(exc.message) from None


def check_server(url: str) -> str:
    """A Cluster's ``server`` URL, checked; raises ValueError naming the rule."""
    try:
        policy.check_server_url(url)
    except UnsafeSource as exc:
        raise ValueError(exc.message) from None
    return url


def check_endpoint(url: str) -> str:
    """An HTTP endpoint the engine posts to (a notification webhook, a Git host's API): the server-URL
    rules, and https unless the host is loopback; raises ValueError naming the rule."""
    check_server(url)
    host = (urlsplit(url).hostname or "").lower()
    if url[:8].lower() != "https://" and not policy.is_loopback(host):
        raise ValueError("must be an https URL (plain http only to a loopback address)")
    return url


def host_pattern(entry: str) -> str:
    """One ``remoteBaseHosts`` entry, normalised; raises ValueError naming the rule."""
    try:
        return policy.host_pattern(entry)
    except UnsafeSource as exc:
        raise ValueError(exc.message) from None


def local_url(url: str, base_dir: Path) -> str:
    """The absolute ``file://`` URL of a local repository URL or path (one :func:`classify` accepted as
    local), relative to ``base_dir``."""
    path = url
    if url.lower().startswith("file://"):
        rest = url[len("file://"):]
        path = rest[len("localhost"):] if rest.startswith("localhost/") else rest
    try:
        expanded = Path(path).expanduser()
    except RuntimeError:
        raise ValueError("'~user' names no known user's home directory") from None
    resolved = os.path.normpath(base_dir / expanded)
    return "file://" + Path(resolved).as_posix()
