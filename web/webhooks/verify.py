"""Is this delivery from the Git host? Secrets by reference, signatures compared in constant time.

Called by :mod:`web.webhooks.receive` before anything in the body is read. Per provider (the headers
each documents):

- GitHub, generic: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body;
- Gitea: the same header, or ``X-Gitea-Signature: <hex>`` (Gitea sends both);
- Bitbucket Server and Bitbucket Cloud: ``X-Hub-Signature: sha256=<hex>`` (what both send; Cloud only
  when the webhook has a secret); ``X-Hub-Signature-256`` is accepted too;
- GitLab: ``X-Gitlab-Token`` equal to the secret (GitLab sends the token itself, it does not sign).

Key design choices: the signature is computed over the raw body bytes, before any parsing; every
receiver of the provider is checked, each in constant time (``hmac.compare_digest``; for GitLab over
SHA-256 digests, so not even the token's length leaks), and the secret is read from its environment
variable or file at each verification (a rotated secret needs no restart) and never logged, returned
or put in a message: a secret that cannot be read is a reason naming the receiver and the reference.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gitops.domain import SecretRef, WebhookReceiver

MAX_SECRET_FILE = 64 * 1024
_SHA256 = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
SIGNATURE_HEADERS = {"bitbucket-server": ("x-hub-signature", "x-hub-signature-256"),
                     "bitbucket-cloud": ("x-hub-signature", "x-hub-signature-256")}


class SecretUnavailable(Exception):
    """The secret a receiver references cannot be read (the message names the reference only)."""


def read_secret(ref: SecretRef) -> bytes:
    """The secret's bytes (a file's trailing newline dropped); SecretUnavailable naming why not."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            state = "empty" if value == "" else "not set"
            raise SecretUnavailable(f"environment variable {ref.env} is {state}")
        return value.encode()
    path = ref.file or ""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SECRET_FILE + 1)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise SecretUnavailable(f"file {path} cannot be read ({why})") from None
    if len(raw) > MAX_SECRET_FILE:
        raise SecretUnavailable(f"file {path} is larger than {MAX_SECRET_FILE} bytes")
    secret = raw.rstrip(b"\r\n")
    if not secret:
        raise SecretUnavailable(f"file {path} is empty")
    return secret


@dataclass(frozen=True)
class Presented:
    """What the delivery presents: a hex HMAC-SHA256 or a token; ``problem`` when it presents nothing
    usable (then no receiver is asked)."""

    digest: str | None = None
    token: bytes | None = None
    problem: str | None = None


def presented(provider: str, headers: Mapping[str, str]) -> Presented:
    """The signature (or token) headers of ``provider``, checked for shape."""
    if provider == "gitlab":
        token = headers.get("x-gitlab-token")
        if not token:
            return Presented(problem="missing X-Gitlab-Token header")
        # header values arrive decoded as latin-1: encoding back gives the bytes GitLab sent (UTF-8)
        return Presented(token=token.encode("latin-1", errors="replace"))
    for name in SIGNATURE_HEADERS.get(provider, ("x-hub-signature-256",)):
        value = headers.get(name)
        if value is None:
            continue
        match = _SHA256.match(value.strip())
        if match is None:
            shown = "-".join(part.capitalize() for part in name.split("-"))
            return Presented(problem=f"malformed {shown} header: expected sha256=<64 hex digits>")
        return Presented(digest=match.group(1).lower())
    if provider == "gitea":
        value = headers.get("x-gitea-signature")
        if value is not None:
            if not _HEX.match(value.strip()):
                return Presented(problem="malformed X-Gitea-Signature header: expected 64 hex digits")
            return Presented(digest=value.strip().lower())
        return Presented(problem="missing X-Hub-Signature-256 (or X-Gitea-Signature) header")
    wanted = "X-Hub-Signature" if provider.startswith("bitbucket") else "X-Hub-Signature-256"
    if provider == "github" and headers.get("x-hub-signature"):
        return Presented(problem="missing X-Hub-Signature-256 header (SHA-1 X-Hub-Signature is not accepted)")
    bitbucket = provider.startswith("bitbucket")
    hint = " (set a secret on the Bitbucket webhook so that it signs)" if bitbucket else ""
    return Presented(problem=f"missing {wanted} header{hint}")


def matches(given: Presented, secret: bytes, body: bytes) -> bool:
    """Whether ``given`` was made with ``secret`` over ``body`` (constant time)."""
    if given.token is not None:
        return hmac.compare_digest(hashlib.sha256(given.token).digest(), hashlib.sha256(secret).digest())
    if given.digest is None:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.digest.encode())


@dataclass(frozen=True)
class Verdict:
    """Which receivers verified the delivery; ``problems``: why each other one did not (one line each,
    never a secret); ``public``: the same without configuration details, for the sender."""

    verified: tuple[WebhookReceiver, ...]
    problems: tuple[str, ...] = ()
    public: str = ""


def verify(receivers: Sequence[WebhookReceiver], headers: Mapping[str, str], body: bytes) -> Verdict:
    """Check ``body`` against every receiver (all of the same provider): each one, in constant time."""
    if not receivers:
        return Verdict((), ("no receiver",), "no receiver")
    given = presented(receivers[0].provider, headers)
    if given.problem is not None:
        return Verdict((), (given.problem,), given.problem)
    verified, problems, unavailable = [], [], []
    for receiver in receivers:
        try:
            secret = read_secret(receiver.secret)
        except SecretUnavailable as exc:
            problems.append(f"receiver {receiver.name}: secret not available: {exc}")
            unavailable.append(receiver.name)
            continue
        if matches(given, secret, body):
            verified.append(receiver)
        else:
            what = "token" if given.token is not None else "signature"
            problems.append(f"receiver {receiver.name}: {what} does not match")
    if verified:
        return Verdict(tuple(verified))
    public = ("the token does not match" if given.token is not None else "the signature does not match") \
        + " any receiver's secret"
    if unavailable:
        public += f"; receiver {', '.join(unavailable)}: secret not available"
    return Verdict((), tuple(problems), public)
