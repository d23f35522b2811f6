"""Fixtures for the sandbox API server tests: a running sandbox and a tiny raw HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesandbox import Sandbox
from kubesandbox.client import Client


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox.start(kubeconfig=tmp_path / "kubeconfig", controller_delay=0.05) as sbx:
        yield sbx


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[Client]:
    c = Client(sandbox.url)
    yield c
    c.close()
