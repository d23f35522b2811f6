"""Fixtures for the kustomize renderer tests: a tree builder and the shared corpus location."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CORPUS_CANDIDATES = (REPO / "../shared/kustomize-corpus/cases", Path("/work/shared/kustomize-corpus/cases"))


def corpus_dir() -> Path | None:
    for candidate in CORPUS_CANDIDATES:
        if candidate.is_dir():
            return candidate.resolve()
    return None


@pytest.fixture
def corpus() -> Path:
    """The shared corpus of Kustomize builds; the test is skipped when it is absent."""
    found = corpus_dir()
    if found is None:
        pytest.skip("shared kustomize corpus not available")
    return found


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
