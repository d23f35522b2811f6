"""Conformance cases of our own (tests/renderers/kustomize/cases/*): expectations printed by
``kubectl kustomize`` (v5.5.0), compared byte for byte with our output, or both failing (then, when the
case has ``error_contains.txt``, our message must contain kubectl's text given there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from renderers.errors import RenderError
from renderers.kustomize import build
from renderers.kustomize.output import dump_all

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_matches_kubectl(case: Path) -> None:
    build_dir = case / (case / "BUILD_DIR").read_text().strip() if (case / "BUILD_DIR").exists() else case
    if (case / "expected_error.txt").exists():
        with pytest.raises(RenderError) as failure:
            build(build_dir)
        if (case / "error_contains.txt").exists():
            assert (case / "error_contains.txt").read_text().strip() in str(failure.value)
        return
    assert dump_all(build(build_dir)) == (case / "expected.yaml").read_text()
