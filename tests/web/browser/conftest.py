"""Fixtures of the end-to-end tests: the whole engine (``stack``) and Debian's chromium (``browser``).

``stack`` is one ``gitops up --demo`` for the session (tests/web/browser/stack_kit.py), stopped at the
end even when a test failed; ``browser`` is a headless /usr/bin/chromium driven by Playwright, skipped
only where chromium is missing and ``CI`` is unset (browser_kit.need_chromium). The kits are importable
because this directory is put on ``sys.path`` here, as tests/web/api does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_kit import CHROMIUM_ARGS, need_chromium  # found through the path set above
from playwright.sync_api import Browser, sync_playwright
from stack_kit import Stack, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("gitops-up")) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = need_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
