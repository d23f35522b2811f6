"""Fixtures for the configuration tests: write YAML trees into tmp_path and collect problems."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.config import load_config
from gitops.errors import ConfigError, Problem

BASE = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata:
  name: demo
spec:
  url: https://git.example.com/org/demo.git
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata:
  name: prod
spec:
  kubeconfig: prod.kubeconfig
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write("dir/file.yaml", text)`` writes dedented ``text`` under tmp_path and returns its path."""

    def _write(rel: str, text: str) -> Path:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return _write


@pytest.fixture
def problems() -> Callable[[Path], list[Problem]]:
    """The problems ``load_config(path)`` raises (fails the test if it loads cleanly)."""

    def _problems(path: Path) -> list[Problem]:
        with pytest.raises(ConfigError) as info:
            load_config(path)
        return info.value.problems

    return _problems


@pytest.fixture
def base_text() -> str:
    return BASE
