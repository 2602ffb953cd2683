"""The back office (/console) in a real browser: an operator's and a clerk's journeys.

Each test drives Debian's chromium against the stack's gateway (real Redis and Postgres); the
`new_page` fixture fails a test on any console error or uncaught page error.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, key_of, screenshot

XSS = "<script>alert(1)</script>"
Auth = dict[str, dict[str, str]]


def campaign_body(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "name": "Double 11",
        "kind": "threshold",
        "amount_off": 10000,
        "min_spend": 50000,
        "channels": ["online", "store"],
        "claim_starts_at": (now - timedelta(hours=1)).isoformat(),
        "claim_ends_at": (now + timedelta(days=3)).isoformat(),
        "validity": {"mode": "relative", "days": 7},
        "stock": 500,
        "per_member_limit": 1,
        "transferable": True,
    }
    body.update(overrides)
    return body


def create(api: httpx.Client, auth: Auth, publish: bool = True, **overrides: Any) -> dict[str, Any]:
    created = api.post("/v1/campaigns", json=campaign_body(**overrides), headers=auth["admin"])
    assert created.status_code == 201, created.text
    campaign: dict[str, Any] = created.json()
    if publish:
        published = api.post(f"/v1/campaigns/{campaign['id']}/publish", headers=auth["admin"])
        assert published.status_code == 200, published.text
        campaign = published.json()
    return campaign


def test_an_operator_signs_in_creates_a_threshold_campaign_publishes_it_and_opens_its_poster(
    console: Callable[..., Page], api: httpx.Client, stack_auth: Auth
) -> None:
    xss = create(api, stack_auth, name=XSS, kind="percent", amount_off=None, min_spend=None,
           percent_off=1500, max_discount=5000)  # fmt: skip
    create(api, stack_auth, publish=False, name="新会员 无门槛10元", kind="amount",
           amount_off=1000, min_spend=0)  # fmt: skip
    for n in range(23):
        claimed = api.post(
            f"/v1/campaigns/{xss['id']}/claims",
            json={"member_id": f"list-{n}", "channel": "online"},
            headers=stack_auth["front"],
        )
        assert claimed.status_code == 201, claimed.text
    page = console(key_of(stack_auth["admin"]))
    expect(page.locator("#view-campaigns")).to_be_visible()
    # The campaign named like a script is text in the list, nothing ran (the dialog handler).
    expect(page.get_by_role("link", name=XSS).first).to_be_visible()
    expect(page.locator("#campaign-table")).to_contain_text("8.5折")
    screenshot(page, "console-list")
    assert key_of(stack_auth["admin"]) not in page.url
    assert page.context.cookies() == []

    page.click("#nav a[data-nav=new]")
    name = f"双11 满500减100 {uuid.uuid4().hex[:4]}"
    page.fill("#f-name", name)
    page.select_option("#f-kind", "threshold")
    page.fill("#f-amount_off", "100")
    page.fill("#f-min_spend", "500")
    page.fill("#f-scope-categories", "shoes, bags")
    page.fill("#f-stock", "1000")
    page.check("input[name=transferable]")
    page.click("#create-form button[type=submit]")
    expect(page.locator("#c-name")).to_have_text(name)
    expect(page.locator("#c-status")).to_have_text("草稿")
    expect(page.locator("#c-offer")).to_have_text("满500减100")
    campaign_id = page.locator("#c-id").inner_text()
    stored = api.get(f"/v1/campaigns/{campaign_id}", headers=stack_auth["admin"]).json()
    assert (stored["kind"], stored["amount_off"], stored["min_spend"]) == (
        "threshold",
        10000,
        50000,
    )
    assert stored["scope"]["categories"] == ["shoes", "bags"] and stored["transferable"] is True

    page.click("#c-actions [data-move=publish]")
    expect(page.locator("#c-status")).to_have_text("进行中")
    page.fill("#stock-delta", "-100")
    page.click("#stock-form button[type=submit]")
    expect(page.locator("#stock-confirm-text")).to_contain_text("900")
    page.click("#stock-yes")
    expect(page.locator("#c-stats")).to_contain_text("900")
    page.fill("#e-validity-days", "14")
    page.fill("#e-low_stock_threshold", "100")
    page.click("#edit-form button[type=submit]")
    expect(page.locator("#c-validity")).to_contain_text("14")
    page.click("#c-link-show")
    expect(page.locator("#c-link")).to_contain_text(f"/claim/{campaign_id}?token=")
    expect(page.locator("#c-qr")).to_be_visible()
    screenshot(page, "console-campaign")

    page.click("#c-poster-link")
    expect(page.locator("#poster-offer")).to_have_text("满500减100")
    expect(page.locator("#poster-name")).to_have_text(name)
    expect(page.locator("#poster-validity")).to_contain_text("14")
    expect(page.locator("#poster-qr")).to_have_attribute(
        "src", re.compile(r"^data:image/svg\+xml;base64,")
    )
    page.wait_for_function("() => document.getElementById('poster-qr').naturalWidth > 0")
    screenshot(page, "console-poster")
    page.emulate_media(media="print")
    expect(page.locator(".bar")).to_be_hidden()
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # the poster fills one A4 sheet
    page.emulate_media(media="screen")

    # The script-named campaign's own page and poster show the name as text too.
    xss_id = api.get("/v1/campaigns", params={"q": "script"}, headers=stack_auth["admin"]).json()
    page.goto(f"/console#/poster/{xss_id['campaigns'][0]['id']}")
    expect(page.locator("#poster-name")).to_have_text(XSS)

    page.click("#sign-out")
    expect(page.locator("#view-signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_api_400_detail_appears_beside_the_field_it_names(
    console: Callable[..., Page], stack_auth: Auth, expect_refusal: Callable[[int, str], None]
) -> None:
    expect_refusal(400, "/v1/campaigns")
    page = console(key_of(stack_auth["admin"]))
    page.goto("/console#/new")
    page.fill("#f-name", "满减 without a threshold")
    page.fill("#f-amount_off", "100")
    page.click("#create-form button[type=submit]")
    error = page.locator("[data-field=min_spend] .field-error")
    expect(error).to_contain_text("min_spend")
    expect(page.locator("[data-field=min_spend]")).to_have_class("field invalid")
    screenshot(page, "console-create-error")
    # Fixed, the same form creates the campaign.
    page.fill("#f-min_spend", "500")
    page.click("#create-form button[type=submit]")
    expect(page.locator("#c-offer")).to_have_text("满500减100")


@pytest.fixture
def storm(api: httpx.Client, stack_auth: Auth) -> Iterator[Callable[[str], None]]:
    """Starts background claimers hitting POST /v1/campaigns/{id}/claims with a front key
    (some members claiming twice, so refusals are counted too); stops them at the end."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def claimer(campaign_id: str) -> None:
        with httpx.Client(base_url=str(api.base_url), timeout=10) as client:
            n = 0
            while not stop.is_set():
                member = f"storm-{uuid.uuid4().hex[:10]}" if n % 3 else "storm-repeat"
                client.post(
                    f"/v1/campaigns/{campaign_id}/claims",
                    json={"member_id": member, "channel": "online"},
                    headers=stack_auth["front"],
                )
                n += 1

    def start(campaign_id: str) -> None:
        for _ in range(4):
            thread = threading.Thread(target=claimer, args=(campaign_id,), daemon=True)
            thread.start()
            threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def test_the_live_view_counter_moves_while_a_storm_claims(
    console: Callable[..., Page],
    api: httpx.Client,
    stack_auth: Auth,
    storm: Callable[[str], None],
) -> None:
    campaign = create(api, stack_auth, name="秒杀 8.5折", kind="percent", amount_off=None,
                      min_spend=None, percent_off=1500, stock=100_000)  # fmt: skip
    page = console(key_of(stack_auth["admin"]))
    page.goto(f"/console#/live/{campaign['id']}")
    expect(page.locator("#live-name")).to_have_text("秒杀 8.5折")
    expect(page.locator("#live-claimed")).to_have_text("0")
    storm(campaign["id"])
    claimed = page.locator("#live-claimed")
    expect(claimed).not_to_have_text("0")
    expect(claimed).not_to_have_text(claimed.inner_text())  # it keeps moving, every second
    expect(page.locator("#live-rate")).not_to_have_text(re.compile(r"^0(\.0)?$"))
    expect(page.locator("#live-refusals tr[data-reason=limit_reached]")).to_contain_text(
        "已达领取上限"
    )
    remaining = int(page.locator("#live-remaining").inner_text())
    assert remaining < 100_000
    # A few seconds of samples for the picture (a wait for data, not for time).
    expect(page.locator("#live-chart rect")).to_have_count(5, timeout=15_000)
    screenshot(page, "console-live")


def test_a_clerk_sees_only_the_in_store_page_and_grants_to_a_member(
    console: Callable[..., Page], api: httpx.Client, stack_auth: Auth
) -> None:
    campaign = create(api, stack_auth, name="门店 无门槛20元", kind="amount", amount_off=2000,
                      min_spend=0, channels=["store"])  # fmt: skip
    member = f"m-{uuid.uuid4().hex[:8]}"
    page = console(key_of(stack_auth["clerk"]))
    expect(page.locator("#view-store")).to_be_visible()
    for view in ("campaigns", "new", "members", "tiers", "programme"):
        expect(page.locator(f"#nav a[data-nav={view}]")).to_be_hidden()
    page.goto("/console#/campaigns")
    expect(page.locator("#view-store")).to_be_visible()
    expect(page.locator("#view-campaigns")).to_be_hidden()

    page.fill("#grant-campaign", campaign["id"])
    page.fill("#grant-member", member)
    page.click("#grant-form button[type=submit]")
    granted = page.locator("#grant-result .granted")
    expect(granted).to_contain_text(member)
    code = granted.inner_text().rsplit("：", 1)[-1].strip()
    page.fill("#grant-member", member)
    page.click("#grant-form button[type=submit]")
    expect(page.locator("#grant-result .rejected")).to_contain_text("已达领取上限")

    page.fill("#lookup-code", code)
    page.click("#lookup-form button[type=submit]")
    expect(page.locator("#lookup-coupon")).to_contain_text(member)
    expect(page.locator("#lookup-coupon")).to_contain_text("可用")
    screenshot(page, "console-clerk")
    page.fill("#desk-reason", "会员手机丢失")
    page.click("#desk-reissue")
    expect(page.locator("#flash")).to_contain_text("已补发新券")
    new_code = page.locator("#lookup-coupon dd").first.inner_text()
    assert new_code != code
    assert api.get(f"/v1/coupons/{code}", headers=stack_auth["admin"]).json()["state"] == "revoked"


def test_the_console_speaks_english_and_admits_only_admin_and_clerk_keys(
    new_page: Callable[..., Page], stack_auth: Auth, expect_refusal: Callable[[int, str], None]
) -> None:
    expect_refusal(401, "/v1/whoami")
    page = new_page(locale="en-US", viewport=DESKTOP)
    page.goto("/console")
    expect(page.locator("#view-signin h1")).to_have_text("Sign in")
    page.fill("#signin-key", "gw_not-a-key")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_have_text("Unknown key")
    page.fill("#signin-key", key_of(stack_auth["front"]))
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("front")
    expect(page.locator("#nav")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_an_operator_reads_a_member_wallet_and_transfer_path_and_sets_a_tier(
    console: Callable[..., Page], api: httpx.Client, stack_auth: Auth
) -> None:
    giver, friend = f"m-{uuid.uuid4().hex[:8]}", f"m-{uuid.uuid4().hex[:8]}"
    for member in (giver, friend):
        registered = api.put(
            f"/v1/members/{member}",
            json={"tier": "gold", "birthday": "05-12"},
            headers=stack_auth["admin"],
        )
        assert registered.status_code == 200, registered.text
    campaign = create(api, stack_auth, name="转赠有礼 满300减50", min_spend=30000, amount_off=5000)
    coupon = api.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": giver, "channel": "online"},
        headers=stack_auth["front"],
    ).json()
    given = api.post(
        f"/v1/coupons/{coupon['code']}/transfer",
        json={"from_member_id": giver, "to_member_id": friend},
        headers=stack_auth["front"],
    )
    assert given.status_code == 201, given.text

    page = console(key_of(stack_auth["admin"]))
    page.click("#nav a[data-nav=members]")
    page.fill("#member-id", friend)
    page.click("#member-form button[type=submit]")
    expect(page.locator("#member-profile")).to_contain_text("05-12")
    row = page.locator("#member-coupons tr", has_text=given.json()["code"])
    expect(row).to_contain_text(coupon["code"])  # received from the giver's code
    row.get_by_role("button").click()
    path = page.locator("#member-path li")
    expect(path).to_have_count(2)
    expect(path.first).to_contain_text(giver)
    expect(path.last).to_contain_text(friend)
    screenshot(page, "console-member")

    page.click("#nav a[data-nav=tiers]")
    gold = page.locator(".tier-form[data-tier=gold]")
    gold.locator("input[name=percent_off]").fill("8.8")
    gold.locator("input[name=birthday_percent_off]").fill("7.5")
    gold.locator("input[name=points_per_yuan]").fill("2")
    gold.locator("input[name=coupons_on_member_price]").check()
    gold.get_by_role("button").click()
    expect(gold.locator(".tier-updated")).not_to_be_empty()
    expect(page.locator("#flash")).to_contain_text("金卡")
    policies = api.get("/v1/tiers", headers=stack_auth["admin"]).json()["tiers"]
    saved = next(p for p in policies if p["tier"] == "gold")
    assert (saved["percent_off"], saved["birthday_percent_off"], saved["points_per_yuan"]) == (
        1200,
        2500,
        2,
    )
    screenshot(page, "console-tiers")
