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
    annotates each object with the file it came from, relative to ``root`` (kyaml's
    ``internal.config.kubernetes.io/path``; the engine's renders ask for it, ``kubectl kustomize``
    output never has it)."""

    load_restrictor: str = ROOT_ONLY
    root: Path | None = None
    remote_loader: Callable[[str], Path] | None = None
    locations: bool = False
