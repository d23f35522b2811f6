"""The Go test tools of tools/go/ (the real cosign, a Notation signer, the Kubernetes control plane),
built by scripts/build-go-tools.

``go_tool("cosign")`` returns the path of the binary, ``go_tool("kube", "kube-apiserver")`` one binary of
a module that builds several, building the module on first use into the cache outside the repository
(warm: no work). When Go is absent or the build fails, the test skips with the reason,
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
    return Path(proc.stdout.split()[-1]), ""


def go_tool(name: str, binary: str | None = None) -> Path:
    """The binary ``binary`` (default: ``name``) of the tool module ``name`` (a directory of tools/go/),
    or a skip (a failure under CI)."""
    directory, reason = _build(name)
    if directory is None:
        missing_reference(f"the Go tool {name}: {reason}")
    assert directory is not None
    path = directory / (binary or name)
    if not path.is_file():
        missing_reference(f"the Go tool {name} has no binary {binary or name}")
    return path
