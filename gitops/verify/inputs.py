"""Bounded reading of what verification takes from outside: the files the configuration names (keys,
trusted roots, Notation trust policies and trust stores) and the base64 fields of signatures, bundles
and log entries.

Who calls it: every module of gitops/verify that reads such a file or decodes such a field. Key
choice: one bound and one error shape for all of them. A file is read up to its limit plus one byte
(never whole) and a larger one is an InputError naming it; base64 is decoded strictly (no stray
characters, padding checked) or not at all (None), so a hostile field becomes a refusal by the
caller, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat

from gitops.errors import InputError


def b64decode_strict(value: object, *, limit: int | None = None) -> bytes | None:
    """The bytes of standard base64 ``value``, or None when it is not a string, is longer than
    ``limit`` characters, or is not strictly valid base64."""
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def read_bounded(path: str | os.PathLike[str], limit: int, what: str, *, regular_only: bool = False) -> bytes:
    """The content of the file ``path`` (a ``what``: "public key", "trust policy"...), at most ``limit``
    bytes; InputError naming the file when it cannot be read or is larger. ``regular_only``: refuse
    symlinks, directories and devices (opened without following a link)."""
    where = os.fspath(path)
    try:
        if regular_only:
            if not stat.S_ISREG(os.lstat(where).st_mode):
                raise InputError(f"the {what} is not a regular file (no symlinks or directories)", file=where)
            handle = os.fdopen(os.open(where, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
        else:
            handle = open(where, "rb")  # noqa: SIM115 (closed just below)
        with handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"cannot read the {what}: {reason}", file=where) from None
    if len(data) > limit:
        raise InputError(f"the {what} is larger than {limit} bytes", file=where)
    return data
