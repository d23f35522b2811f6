"""Credentials, host-key checking and deadlines for one remote operation (pygit2 callbacks).

Created by :mod:`gitops.sources.remote` for every ``list_heads``/``fetch`` call. Key design choices:
secrets are read from the environment or files only when libgit2 asks for them, and never appear in
an exception or log line (messages name the variable or file, not its content); a rejected
credential is never retried (libgit2 would otherwise ask again forever); SSH host keys are checked
against a known_hosts file by default (``insecure_ignore_host_key`` turns that off); the operation's
overall deadline is enforced from the progress callbacks, while socket-level stalls are bounded by
libgit2's server timeouts (see :mod:`gitops.sources.remote`).
"""

from __future__ import annotations

import struct
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType

from gitops import secrets
from gitops.domain import Credentials
from gitops.errors import AuthError, SourceUnavailable, UnsafeSource
from gitops.sources import known_hosts
from gitops.sources.spec import RepoSpec

MAX_SECRET_BYTES = secrets.MAX_SECRET_BYTES
# Layout of libgit2's git_cert_hostkey (pygit2's cdef for it is incomplete): int parent.cert_type,
# int type, md5[16], sha1[20], sha256[32], ...
_HOSTKEY_SHA256 = slice(44, 76)
_SSH_SHA256_FLAG = 1 << 2
_CERT_HOSTKEY_LIBSSH2 = 2


def read_secret(*, env: str | None, file: str | None, what: str) -> str | None:
    """Read a secret from ``env`` (a variable name) or ``file``; the value is never put in errors."""
    return secrets.read_secret(env=env, file=file, what=what, error=AuthError, limit=MAX_SECRET_BYTES)


def _ssh_port(url: str) -> int | None:
    if "://" in url:
        return urlsplit(url).port
    return None


def _host_fingerprint() -> tuple[int, bytes] | None:
    """Find libgit2's certificate in pygit2's callback frame (pygit2 passes ``None`` to us)."""
    frame = sys._getframe(2)
    cert = frame.f_locals.get("cert_i") if frame.f_code.co_name == "_certificate_check_cb" else None
    if cert is None:
        return None
    pointer = pygit2.ffi.cast("unsigned char *", cert)
    cert_type, ssh_flags = struct.unpack_from("<ii", bytes(pygit2.ffi.buffer(pointer, 8)), 0)
    if cert_type != _CERT_HOSTKEY_LIBSSH2:
        return (cert_type, b"")  # read no further: other certificate structs are smaller
    raw = bytes(pygit2.ffi.buffer(pointer, 76))
    if not ssh_flags & _SSH_SHA256_FLAG:
        return None
    return (cert_type, raw[_HOSTKEY_SHA256])


class Callbacks(pygit2.RemoteCallbacks):
    """pygit2 callbacks bound to one spec and one deadline (monotonic seconds)."""

    def __init__(self, spec: RepoSpec, deadline: float) -> None:
        super().__init__()
        self.spec = spec
        self.refs = spec.credentials or Credentials()
        self.deadline = deadline
        self.attempts = 0
        self.host_checked = False
        self.where = f"repository {spec.name!r} ({spec.display_url})"

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise SourceUnavailable(f"{self.where}: timed out after {self.spec.timeout:g}s")

    def credentials(self, url: str, username: str | None, allowed: CredentialType) -> Any:
        self._check_deadline()
        if allowed & CredentialType.USERNAME and not allowed & ~CredentialType.USERNAME:
            return pygit2.Username(self._user(username))
        self.attempts += 1
        if self.attempts > 1:
            raise AuthError(f"{self.where}: credentials were rejected")
        refs = self.refs
        if allowed & CredentialType.SSH_KEY and (refs.ssh_key_file or refs.ssh_key_env):
            return self._ssh_key(self._user(username))
        if allowed & CredentialType.USERPASS_PLAINTEXT:
            userpass = self._userpass()
            if userpass is not None:
                return userpass
        raise AuthError(f"{self.where}: the remote requires credentials that are not "
                        "configured (or not of an accepted kind)")

    def _user(self, offered: str | None) -> str:
        """The SSH user: from the URL (libgit2 offers it), else the configured username, else git."""
        return offered or self.refs.username or "git"

    def _ssh_key(self, username: str) -> Any:
        refs = self.refs
        if refs.ssh_key_env:
            key = read_secret(env=refs.ssh_key_env, file=None, what="ssh key")
            return pygit2.KeypairFromMemory(username, None, (key or "") + "\n", "")
        path = Path(refs.ssh_key_file or "").expanduser()
        if not path.is_file():
            raise AuthError(f"{self.where}: ssh key file {path} does not exist")
        return pygit2.Keypair(username, None, str(path), "")

    def _userpass(self) -> Any:
        refs = self.refs
        token = read_secret(env=refs.token_env, file=refs.token_file, what="token")
        if token is not None:
            return pygit2.UserPass(refs.username or "x-access-token", token)
        password = read_secret(env=refs.password_env, file=refs.password_file, what="password")
        if password is not None:
            return pygit2.UserPass(refs.username or "git", password)
        return None

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        if self.spec.url.lower().startswith("https://"):
            return bool(valid)  # TLS: libgit2 verified the chain against the system trust store
        if self.refs.insecure_ignore_host_key:
            return True
        found = _host_fingerprint()
        if found is None or found[0] != _CERT_HOSTKEY_LIBSSH2:
            raise UnsafeSource(f"{self.where}: cannot read the SSH host key to verify it")
        path = Path(self.refs.known_hosts_file or "~/.ssh/known_hosts").expanduser()
        try:
            known_hosts.check(known_hosts.load(path), host.decode(), _ssh_port(self.spec.url), found[1])
        except UnsafeSource as exc:
            raise UnsafeSource(f"{self.where}: {exc.message}") from None
        self.host_checked = True
        return True

    def transfer_progress(self, stats: Any) -> None:
        self._check_deadline()

    def sideband_progress(self, string: str) -> None:
        self._check_deadline()
