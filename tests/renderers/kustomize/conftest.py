"""Fixtures for the kustomize renderer tests: a tree builder and the shared corpus location."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def corpus(shared: Callable[[str], Path]) -> Path:
    """The shared corpus of Kustomize builds (skipped when absent, a failure under CI)."""
    return shared("kustomize-corpus/cases")


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[dict[str, str | bytes]], Path]:
    """Write ``{relative path: content}`` under a temp dir and return the dir."""
    def make(files: dict[str, str | bytes]) -> Path:
        for rel, content in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        return tmp_path
    return make
