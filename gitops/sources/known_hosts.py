"""SSH host-key pinning against an OpenSSH ``known_hosts`` file.

Called by :mod:`gitops.sources.auth` from the certificate check of every SSH connection. Key design
choice: we compare the SHA-256 fingerprint libgit2 reports for the server's key with the keys listed
for that host (plain, ``[host]:port``, ``*``/``?`` wildcards, ``!negations`` and hashed
``|1|salt|hash`` entries); ``@revoked`` entries reject, ``@cert-authority`` entries are ignored (we
do not validate SSH certificates). No match means the connection is refused; there is no
trust-on-first-use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from gitops.errors import UnsafeSource

MAX_KNOWN_HOSTS_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class HostKey:
    """One usable line of a known_hosts file."""

    patterns: tuple[str, ...]
    key_type: str
    fingerprint: bytes  # SHA-256 of the decoded key blob
    revoked: bool = False


def host_names(host: str, port: int | None) -> tuple[str, ...]:
    """The names a known_hosts entry may use for ``host`` on ``port`` (OpenSSH conventions)."""
    if port is None or port == 22:
        return (host, f"[{host}]:22")
    return (f"[{host}]:{port}",)


def _hashed_match(pattern: str, names: tuple[str, ...]) -> bool:
    try:
        _, _, salt_b64, digest_b64 = pattern.split("|", 3)
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except (ValueError, binascii.Error):
        return False
    return any(hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)
               for name in names)


def _glob(pattern: str) -> re.Pattern[str]:
    """OpenSSH host patterns: ``*`` and ``?`` are wildcards, everything else is literal."""
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), re.IGNORECASE)


def _matches(entry: HostKey, names: tuple[str, ...]) -> bool:
    positive = False
    for pattern in entry.patterns:
        negated = pattern.startswith("!")
        bare = pattern[1:] if negated else pattern
        hit = _hashed_match(bare, names) if bare.startswith("|1|") else \
            any(_glob(bare).fullmatch(name) for name in names)
        if hit and negated:
            return False
        positive = positive or hit
    return positive


def _parse_line(line: str) -> HostKey | None:
    fields = line.split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = ""
    if fields[0].startswith("@"):
        marker, fields = fields[0], fields[1:]
    if len(fields) < 3 or marker == "@cert-authority":
        return None
    try:
        blob = base64.b64decode(fields[2], validate=True)
    except binascii.Error:
        return None
    return HostKey(tuple(fields[0].split(",")), fields[1], hashlib.sha256(blob).digest(),
                   revoked=marker == "@revoked")


def load(path: Path) -> list[HostKey]:
    """Parse ``path``; unreadable or oversized files raise :class:`UnsafeSource` (fail closed)."""
    try:
        if path.stat().st_size > MAX_KNOWN_HOSTS_BYTES:
            raise UnsafeSource(f"known_hosts file {path} is larger than {MAX_KNOWN_HOSTS_BYTES} bytes")
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UnsafeSource(f"cannot read known_hosts file {path}: {exc.strerror}") from exc
    return [entry for entry in map(_parse_line, text.splitlines()) if entry is not None]


def check(entries: list[HostKey], host: str, port: int | None, fingerprint: bytes) -> None:
    """Accept the server key only if a non-revoked entry for the host has the same fingerprint."""
    names = host_names(host, port)
    candidates = [e for e in entries if _matches(e, names)]
    shown = "SHA256:" + base64.b64encode(fingerprint).decode().rstrip("=")
    if any(e.revoked and hmac.compare_digest(e.fingerprint, fingerprint) for e in candidates):
        raise UnsafeSource(f"SSH host key {shown} of {names[0]} is marked @revoked")
    if any(not e.revoked and hmac.compare_digest(e.fingerprint, fingerprint) for e in candidates):
        return
    if not candidates:
        raise UnsafeSource(f"SSH host {names[0]} is not in known_hosts (server key {shown})")
    raise UnsafeSource(f"SSH host key of {names[0]} does not match known_hosts (server key {shown}); "
                       "possible man-in-the-middle")
