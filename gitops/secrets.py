"""Reading a secret by reference: an environment variable's name or a file's path, never a value.

Used by the Git sources' credentials (``gitops.sources.auth``) and the OCI registry client's
(``gitops.verify.registry``); each passes the error class of its own edge. Key design choice: the value
never reaches an error, a log line or an exception's context (a file that is not UTF-8 is reported
outside the decode handler, so the decode error holding its bytes is not chained), and a file is read
bounded before anything else.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitops.errors import GitOpsError

MAX_SECRET_BYTES = 64 * 1024


def read_secret(*, env: str | None, file: str | None, what: str, error: type[GitOpsError],
                limit: int = MAX_SECRET_BYTES) -> str | None:
    """The secret in the variable ``env`` or the ``file`` (stripped), None when neither is named; raises
    ``error`` naming the variable or the file (never the value) when it cannot be read."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise error(f"{what}: environment variable {env} is not set")
        return value.strip()
    if not file:
        return None
    path = Path(file).expanduser()
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"{what}: cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise error(f"{what}: {path} is larger than {limit} bytes")
    text = utf8(data)
    if text is None:  # raised outside the handler: the decode error (it holds the bytes) is not kept
        raise error(f"{what}: {path} is not UTF-8 text")
    return text.strip()


def utf8(data: bytes) -> str | None:
    """``data`` decoded as UTF-8, or None."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
