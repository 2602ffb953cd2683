"""Browser tests: Debian's chromium driven by Playwright against a real gateway.

One isolated stack per session (tests/stack.py: its own Redis, Postgres and a gateway served
by granian in a subprocess), one browser per session, a fresh context per test. The `page`
fixture fails the test on any console error or uncaught page error. `screenshot(page, name)`
writes docs/screenshots/<name>.png for the README.

The browser is /usr/bin/chromium (`make browser` installs it with a CJK font); Playwright's own
browser download (`playwright install`) is never used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.stack import ROOT, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
#: A phone: the member's pages are laid out for 375 px and up.
PHONE = {"width": 375, "height": 812}
#: The back office's screen.
DESKTOP = {"width": 1280, "height": 860}
ROLES = ("admin", "clerk", "front", "checkout")


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The gateway under test (one per session) with its own Redis and Postgres."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    s = Stack("browser")
    s.data.mkdir(parents=True, exist_ok=True)
    try:
        s.services("start")
        s.cli("migrate")
        s.start_gateway(member_token_secret="browser-test-member-secret")
        yield s
    finally:
        s.destroy()


@pytest.fixture(scope="session")
def stack_auth(stack: Stack) -> dict[str, dict[str, str]]:
    """Headers per role for the stack's gateway: `stack_auth["admin"]`."""
    return {
        role: {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', role)}"}
        for role in ROLES
    }


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client of the stack's gateway (for setting up and checking what pages did)."""
    with httpx.Client(base_url=stack.base_url, timeout=10) as client:
        yield client


# Package scope, not session: Playwright's sync API runs an event loop on the main thread
# while it is open, and pytest-asyncio cannot start the async tests that come after
# tests/browser in one run ("Runner.run() cannot be called from a running event loop").
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class PageErrors(list[str]):
    """Console errors and uncaught exceptions seen by a page."""

    def __init__(self) -> None:
        super().__init__()
        #: (status, path) of the refusals a test provokes on purpose: Chromium logs every 4xx
        #: answer to a fetch as a console error ("Failed to load resource").
        self.expected: list[tuple[int, str]] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.append(f"pageerror: {error}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url") or "")
        for status, path in self.expected:
            if f"status of {status} " in message.text and path in url:
                return
        self.append(f"console.error: {message.text} at {url}")


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def expect_refusal(page_errors: PageErrors) -> Callable[[int, str], None]:
    """`expect_refusal(409, "/claim/")`: an answer of that status from a URL containing that
    path is the test's point, not a page error (every other console error still fails)."""
    return lambda status, path: page_errors.expected.append((status, path))


@pytest.fixture
def new_page(
    browser: Browser, stack: Stack, page_errors: PageErrors
) -> Iterator[Callable[..., Page]]:
    """Opens pages in fresh contexts (phone-sized, Chinese unless `locale` says otherwise);
    the test fails if any of them logs a console error or throws."""
    errors = page_errors
    contexts: list[Any] = []

    def open_page(locale: str = "zh-CN", viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(
            base_url=stack.base_url,
            locale=locale,
            viewport=viewport or PHONE,
            device_scale_factor=2,
            extra_http_headers={"Accept-Language": locale},
        )
        contexts.append(context)
        return errors.watch(context.new_page())

    yield open_page
    for context in contexts:
        context.close()
    if errors:
        pytest.fail("errors in the browser:\n" + "\n".join(errors))


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A phone-sized page in Chinese; any console error or page error fails the test."""
    return new_page()


def key_of(headers: dict[str, str]) -> str:
    """The API key of a role's headers (`stack_auth["admin"]`), as typed into the console."""
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def console(new_page: Callable[..., Page], page_errors: PageErrors) -> Callable[..., Page]:
    """Opens /console on a desktop-sized page and signs in with `key`. Besides console and
    page errors (`new_page`), a dialog (an alert that escaped) fails the test."""

    def open_console(key: str, locale: str = "zh-CN") -> Page:
        page = new_page(locale=locale, viewport=DESKTOP)
        page.on("dialog", lambda dialog: page_errors.append(f"dialog: {dialog.message}"))
        page.goto("/console")
        page.fill("#signin-key", key)
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#nav")).to_be_visible()
        return page

    return open_console


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """Saves the page as docs/screenshots/<name>.png (for the README) and returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
