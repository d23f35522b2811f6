"""The structured-merge-diff oracle (``ssaoracle``) for differential tests.

Builds ../shared/ssa-oracle once per machine into a cache keyed by the hash of the oracle's sources,
and skips cleanly when ../shared, Go or the Debian SMD sources are absent (never installs anything;
under CI a missing piece is a failure: .ci/run installs them).
Requests carry a schema trimmed to the types reachable from the requested type (about 10 ms a call).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from filelock import FileLock

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "ssa-oracle"
SMD_SOURCES = Path("/usr/share/gocode/src/sigs.k8s.io/structured-merge-diff")
UNTYPED = ("__untyped_atomic_", "__untyped_deduced_")


def _go() -> str | None:
    """The machine's Go (``PATH``); Debian's old golang-go is never looked for."""
    return shutil.which("go")


class Oracle:
    """Runs one SMD Apply or Update per call; see ../shared/ssa-oracle/README.md for the format."""

    def __init__(self, binary: Path, schema: dict[str, Any]) -> None:
        self.binary = binary
        self.types = {t["name"]: t for t in schema["types"]}
        self._trimmed: dict[str, str] = {}
        self.calls = 0

    def add_types(self, types: list[dict[str, Any]]) -> None:
        """Register extra named types (a custom resource's schema)."""
        for t in types:
            self.types[t["name"]] = t
        self._trimmed.clear()

    def schema_for(self, type_name: str) -> str:
        if type_name not in self._trimmed:
            seen = {type_name, *UNTYPED}
            todo = list(seen)
            while todo:
                for ref in _refs(self.types[todo.pop()]):
                    if ref not in seen:
                        seen.add(ref)
                        todo.append(ref)
            self._trimmed[type_name] = json.dumps({"types": [self.types[n] for n in sorted(seen)]})
        return self._trimmed[type_name]

    def run(self, type_name: str, *, live: Any, config: Any, managed: list[dict[str, Any]], manager: str,
            op: str, force: bool = False) -> dict[str, Any]:
        request = {"schema": self.schema_for(type_name), "type": type_name, "live": live,
                   "config": config, "managed": managed, "manager": manager, "op": op, "force": force}
        self.calls += 1
        proc = subprocess.run([str(self.binary)], input=json.dumps(request), capture_output=True,
                              text=True, timeout=60, check=False)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip()}
        result: dict[str, Any] = json.loads(proc.stdout)
        return result


def _refs(x: Any) -> Iterator[str]:
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "namedType":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(x, list):
        for v in x:
            yield from _refs(v)


def _source_hash() -> str:
    h = hashlib.sha256()
    for name in ("main.go", "build.sh", "smd_schema.py"):
        h.update((SHARED / name).read_bytes())
    h.update(str((SHARED.parent / "kubernetes" / "swagger.json").stat().st_size).encode())
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def oracle(shared: Callable[[str], Path], missing: Callable[[str], NoReturn]) -> Oracle:
    shared("ssa-oracle/build.sh")
    if _go() is None or not SMD_SOURCES.is_dir():
        missing("go or the structured-merge-diff sources (golang-k8s-sigs-structured-merge-diff-dev) "
                "are not installed")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gitops-ssa-oracle"
    out = cache / _source_hash()
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / ".lock")):
        if not (out / "ssaoracle").exists() or not (out / "schema.yaml").exists():
            proc = subprocess.run(["bash", str(SHARED / "build.sh"), str(out)], capture_output=True,
                                  text=True, timeout=600, check=False)
            if proc.returncode != 0:
                pytest.fail(f"ssaoracle did not build: {proc.stderr[-500:]}")
    return Oracle(out / "ssaoracle", json.loads((out / "schema.yaml").read_text()))
