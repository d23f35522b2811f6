"""Options of a kustomize build (the library twin of ``kubectl kustomize`` flags).

Callers: :func:`renderers.kustomize.build`, the ``gitops kustomize`` CLI and the renderer facade. A
frozen dataclass so a build can never alter the options it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT_ONLY = "RootOnly"
NO_RESTRICTION = "None"


@dataclass(frozen=True)
class KustomizeOptions:
    """``load_restrictor``: ``RootOnly`` keeps every file read inside ``root`` (default: the build
    directory); ``None`` allows reading anywhere. ``remote_loader`` turns a remote base URL into a local
    directory (the engine provides one; without it remote resources are rejected). ``locations``
    annotates each object with the file it came from, relative to ``root`` (a remote base's file: the
    base's redacted reference with the file in its path), and its document in that file, from 0 (kyaml's
    ``internal.config.kubernetes.io/path`` and ``index``; the engine's renders ask for them, ``kubectl
    kustomize`` output never has them)."""

    load_restrictor: str = ROOT_ONLY
    root: Path | None = None
    remote_loader: Callable[[str], Path] | None = None
    locations: bool = False
