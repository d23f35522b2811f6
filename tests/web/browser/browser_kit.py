"""Playwright helpers of the browser tests: Debian's chromium, a guarded page, logging in, screenshots.

Used by tests/web/browser/conftest.py and the tests next to it. Key design choices: the browser is
always the machine's ``/usr/bin/chromium`` (never a downloaded one), headless, without sandbox, GPU
or background networking, and only ever pointed at the loopback URL ``gitops up`` printed; every page
records dialogs (a hostile text that ran would open one), uncaught script errors and main-frame
navigations, so a test can assert that nothing ran and that a live update happened without a reload.
Screenshots go to docs/images only when ``GITOPS_SCREENSHOTS=1`` (a developer refreshing the README's
pictures), so a CI run never rewrites tracked files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"
SCREENSHOTS_ENV = "GITOPS_SCREENSHOTS"
VIEWPORT = {"width": 1360, "height": 900}
UI_WAIT_MS = 30_000  # Playwright's auto-wait bound for a live update (a hang guard, not a measurement)
expect.set_options(timeout=UI_WAIT_MS)  # for every expect(...) of these tests (Playwright's default: 5 s)


def need_chromium() -> Path:
    """The browser, or a skip where it is missing on a developer machine; under CI (``CI`` set, as
    .ci/run sets it) a missing chromium fails, so the browser tests can never silently not run."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing on CI: .ci/run installs Debian's chromium for the browser tests")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs these tests")


@dataclass
class Watched:
    """A page with what happened on it: dialogs, uncaught errors, main-frame navigations."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)

    def assert_inert(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.errors == [], f"uncaught script errors: {self.errors}"


def watch(page: Page) -> Watched:
    watched = Watched(page)

    def on_dialog(dialog: object) -> None:
        watched.dialogs.append(getattr(dialog, "message", "?"))
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    page.on("framenavigated", lambda frame: watched.navigations.append(frame.url)
            if frame == page.main_frame else None)
    page.set_default_timeout(UI_WAIT_MS)
    return watched


def new_context(browser: Browser) -> BrowserContext:
    return browser.new_context(viewport=VIEWPORT, locale="en-GB", timezone_id="UTC")  # type: ignore[arg-type]


def log_in(context: BrowserContext, url: str, user: str, password: str) -> Watched:
    """A new page of ``context`` logged in through the login form as ``user``, on the overview."""
    watched = watch(context.new_page())
    page = watched.page
    page.goto(f"{url}/login")
    page.fill("#name", user)
    page.fill("#password", password)
    page.click("form.login-form button[type=submit]")
    expect(page.get_by_test_id("user")).to_contain_text(user)
    return watched


def csrf_of(page: Page) -> str:
    """The session's CSRF token, as the page's own forms carry it (the logout form has one)."""
    token = page.locator("form[action='/logout'] input[name=csrf]").get_attribute("value")
    assert token, "the page carries no CSRF token"
    return token


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path | None:
    """Save ``docs/images/<name>.png`` when ``GITOPS_SCREENSHOTS=1``; otherwise nothing."""
    if os.environ.get(SCREENSHOTS_ENV) != "1":
        return None
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
