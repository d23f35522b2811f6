"""Mutation fuzzing: corpus builds with random leaves replaced by garbage must fail cleanly.

Every failure must be a RenderError about the input, never an internal error (``build`` turns a bug
into a RenderError whose message starts with "internal error", which this test rejects). Skipped
when the shared corpus is absent.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import yaml

from renderers.errors import RenderError
from renderers.kustomize import KustomizeOptions, build

GARBAGE: list[Any] = [1, "x", None, True, 1.5, [], {}, [1], {"a": 1}, "../x", "a=b", [{"name": 1}]]


def _mutate(rng: random.Random, node: Any, depth: int = 0) -> None:
    if isinstance(node, (dict, list)) and node:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        if rng.random() < .4 or depth > 5:
            node[key] = rng.choice(GARBAGE)
        else:
            _mutate(rng, node[key], depth + 1)


def _copy(case: Path, dst: Path) -> None:
    shutil.copytree(case / "files", dst)
    for path in dst.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def test_mutated_corpus_builds_fail_cleanly(corpus: Path, tmp_path: Path) -> None:
    rng = random.Random(20261122)
    cases = [c for c in sorted(corpus.iterdir()) if (c / "BUILD_DIR").exists()]
    built = 0
    for i in range(250):
        case = rng.choice(cases)
        dst = tmp_path / str(i)
        _copy(case, dst)
        files = sorted(dst.rglob("*.yaml"))
        if not files:
            continue
        target = rng.choice(files)
        try:
            docs = [d for d in yaml.safe_load_all(target.read_text()) if d is not None]
        except yaml.YAMLError:
            continue
        if not docs:
            continue
        _mutate(rng, rng.choice(docs))
        target.write_text(yaml.safe_dump_all(docs))
        build_dir = dst / (case / "BUILD_DIR").read_text().strip().removeprefix("files").lstrip("/")
        restrictor = "None" if (case / "LOAD_RESTRICTOR").exists() else "RootOnly"
        try:
            build(build_dir, KustomizeOptions(load_restrictor=restrictor))
            built += 1
        except RenderError as exc:
            assert "internal error" not in str(exc), f"{case.name}/{target.name}: {exc}"
    assert built > 20
