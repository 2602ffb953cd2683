"""The pages' shared parts: static files and their headers, the offline API docs page."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot


def test_static_files_carry_the_security_headers(api: httpx.Client) -> None:
    response = api.get("/static/app.css")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_api_docs_page_works_offline_and_shows_the_claim_operation(page: Page) -> None:
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith(("http://127.0.0.1", "data:"))
            else None
        ),
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/schema/swagger")
    expect(page.locator("#operations-claims-claimCoupon")).to_be_visible(timeout=15_000)
    assert outside == [], f"the docs page loaded from outside: {outside}"
    screenshot(page, "swagger", full_page=False)
