"""Fixtures of the webhook tests (helpers in webhook_kit.py, importable because this directory is put
on ``sys.path`` here, as tests/web/api does): ``hooks``, the app under test over a real Redis."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workers.redis_server import RedisServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Starlette warns once, on import, that its TestClient prefers the httpx2 package; the locked
# environment has httpx (the client it still supports), so that one notice is not a failure here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    import starlette.testclient  # noqa: F401

from webhook_kit import Hooks, make_hooks  # found through the path set just above


@pytest.fixture
def hooks(redis_server: RedisServer, actions: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    found = make_hooks(redis_server, actions, monkeypatch)
    with found.client:
        yield found
