"""Fixtures of the access-control tests: ``site`` (the web app over a real Redis with the production
authenticator, see auth_kit.py) and ``make_site`` for other settings (anonymous viewer, plain HTTP)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workers.redis_server import RedisServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auth_kit import Site, build_site  # found through the path set just above


@pytest.fixture
def make_site(redis_server: RedisServer) -> Iterator[Callable[..., Site]]:
    sites: list[Site] = []

    def build(**kw: object) -> Site:
        found = build_site(redis_server, **kw)  # type: ignore[arg-type]
        found.client.__enter__()
        sites.append(found)
        return found

    yield build
    for found in sites:
        found.client.__exit__(None, None, None)


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site()
