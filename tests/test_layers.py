"""The architecture, checked with import-linter: every contract in pyproject.toml holds.

The layers renderers <- (gitops | kubesandbox) <- workers <- web (the core and the sandbox never
import each other), the layers inside gitops, the independence of the pipeline's stages and of its
edges, each third-party client (kubernetes, pygit2, redis) confined to its adapter, and no import
cycle at any level. docs/architecture.md explains each one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert len(contracts) == 10
    assert f"Contracts: {len(contracts)} kept, 0 broken" in result.stdout


def test_every_module_has_a_docstring() -> None:
    import ast

    missing = []
    for pkg in ("gitops", "renderers", "kubesandbox", "workers", "web"):
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text())
            if not ast.get_docstring(tree) and path.stat().st_size > 0:
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"modules without a docstring: {missing}"
