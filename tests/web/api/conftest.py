"""Fixtures of the API tests (helpers in api_kit.py, importable because this directory is put on
``sys.path`` here, as tests/workers does): ``world``, the app under test over real Redis state."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.redis_server import RedisServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Starlette 1.x warns once, on import, that its TestClient prefers the httpx2 package; the locked
# environment has httpx (the client it still supports), so that one notice is not a failure here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    import starlette.testclient  # noqa: F401

from api_kit import World, make_world  # found through the path set just above


@pytest.fixture
def world(redis_server: RedisServer, actions: object) -> Iterator[World]:
    with make_world(redis_server, actions) as found:
        yield found
