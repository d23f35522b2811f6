"""Reads an input file of another tool's YAML with the configuration loader's bounds.

Called by ``gitops import argocd`` before the pure conversion. Key design choice: the file is
untrusted input like a configuration file, so the same guards apply: a symlink or anything but a
regular file is refused (a FIFO would hang the reader), the size is checked before reading (4 MiB, as
a configuration file), and YAML is parsed by the bounded loader of :mod:`renderers.yamlio` (depth,
alias bombs, recursive aliases, plain types only). Every failure is one :class:`InputError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gitops.config import files as config_files
from gitops.config.yamldoc import MAX_DOCUMENTS, MAX_FILE_BYTES
from gitops.errors import InputError
from renderers import yamlio
from renderers.errors import RenderError


def read_documents(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> list[Any]:
    """The YAML documents of ``path`` (empty ones dropped); InputError when it cannot be read safely."""
    shown = os.fspath(path)
    target = Path(shown).expanduser()
    if target.is_symlink():
        raise InputError("is a symbolic link; give the file itself", file=shown)
    if not target.exists():
        raise InputError("no such file", file=shown)
    try:
        raw = config_files.read(config_files.ConfigFile(target, shown), max_bytes)
    except ValueError as exc:  # not a regular file, or too large
        raise InputError(str(exc), file=shown) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or type(exc).__name__}", file=shown) from None
    if len(raw) > max_bytes:
        raise InputError(f"file is over the limit of {max_bytes} bytes", file=shown)
    try:
        docs = yamlio.load_all(raw, shown, max_bytes=max_bytes, charge=False)
    except RenderError as exc:
        raise InputError(exc.message, file=shown, line=exc.line) from None
    if len(docs) > MAX_DOCUMENTS:
        raise InputError(f"more than {MAX_DOCUMENTS} YAML documents", file=shown)
    return docs
