"""Fixtures of the verification tests: ``pusher`` writes images, signatures and referrers to the
module's ``registry`` (tests/conftest.py) the way the tools do (registry_kit.Pusher)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry_kit import Pusher  # found through the path set just above


@pytest.fixture
def pusher(registry: Any) -> Iterator[Pusher]:
    push = Pusher(registry)
    yield push
    push.close()
