"""The Go test tools of tools/go/ (the real cosign, a Notation signer), built by scripts/build-go-tools.

``go_tool("cosign")`` returns the path of the binary, building it on first use into the cache outside
the repository (warm: no work). When Go is absent or the build fails, the test skips with the reason,
and under ``CI=true`` fails instead (.ci/run builds every tool before the tests).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from tests.conftest import missing_reference

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "build-go-tools"


@functools.cache
def _build(name: str) -> tuple[Path | None, str]:
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        return None, "Go is not installed"
    proc = subprocess.run(["bash", str(SCRIPT), name], capture_output=True, text=True, timeout=1800,
                          check=False)
    if proc.returncode != 0:
        return None, f"scripts/build-go-tools {name} failed: {proc.stderr[-1500:]}"
    path = Path(proc.stdout.split()[-1])
    return path, ""


def go_tool(name: str) -> Path:
    """The built tool ``name`` (a directory of tools/go/), or a skip (a failure under CI)."""
    path, reason = _build(name)
    if path is None:
        missing_reference(f"the Go tool {name}: {reason}")
    assert path is not None
    return path
