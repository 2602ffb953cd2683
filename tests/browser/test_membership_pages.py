"""The membership programme on the member's pages, in a real browser: the wallet's member card
(tier, progress to the next tier, 保级, points, next expiry, history) and 积分兑换 on the claim
page (an exchange, and 积分不足). The data is made through the API as the mall would make it:
a tier policy, the programme, orders through checkout, an operator's adjustment."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_member_pages import claim_url, coupons_of, live_campaign

Auth = dict[str, dict[str, str]]
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: silver earns 1 point per yuan and has no member discount: the points are the yuan paid.
SILVER = {
    "percent_off": 0,
    "birthday_percent_off": 0,
    "points_per_yuan": 1,
    "coupons_on_member_price": True,
}
TIERS = {
    "silver": {"yearly_spend": 300000},
    "gold": {"yearly_spend": 500000},
    "diamond": {"yearly_spend": 1000000},
    "downgrade": "one_step",
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def put_programme(api: httpx.Client, admin: dict[str, str], pending_days: int = 0) -> None:
    body = {
        "points": {"expiry": {"mode": "end_of_next_year"}, "pending_days": pending_days},
        "tiers": TIERS,
    }
    answer = api.put("/v1/programme", json=body, headers=admin)
    assert answer.status_code == 200, answer.text


@pytest.fixture
def programme(api: httpx.Client, stack_auth: Auth) -> Iterator[None]:
    """The test sets the programme it needs; the defaults again afterwards."""
    yield
    assert api.put("/v1/programme", json={}, headers=stack_auth["admin"]).status_code == 200


def silver_member(api: httpx.Client, auth: Auth) -> tuple[str, str]:
    """A silver member (1 point per yuan) and a member token for it."""
    assert api.put("/v1/tiers/silver", json=SILVER, headers=auth["admin"]).status_code == 200
    member_id = unique("m")
    put = api.put(f"/v1/members/{member_id}", json={"tier": "silver"}, headers=auth["admin"])
    assert put.status_code == 200, put.text
    issued = api.post(f"/v1/members/{member_id}/tokens", headers=auth["front"])
    assert issued.status_code == 201, issued.text
    return member_id, issued.json()["token"]


def order(api: httpx.Client, auth: Auth, member_id: str, yuan: int) -> None:
    """An order of `yuan`, reserved and committed at the checkout."""
    order_id = unique("o")
    body: dict[str, Any] = {
        "member_id": member_id,
        "order_id": order_id,
        "channel": "online",
        "lines": [{"sku": "SKU-1", "category": "tops", "unit_price": yuan * 100, "qty": 1}],
        "coupon_codes": [],
    }
    reserved = api.post("/v1/checkout/redemptions", json=body, headers=auth["checkout"])
    assert reserved.status_code == 201, reserved.text
    committed = api.post(f"/v1/checkout/redemptions/{order_id}/commit", headers=auth["checkout"])
    assert committed.status_code == 200, committed.text


def adjust(api: httpx.Client, auth: Auth, member_id: str, points: int, reason: str) -> None:
    answer = api.post(
        f"/v1/members/{member_id}/points/adjustments",
        json={"points": points, "reason": reason},
        headers=auth["admin"],
    )
    assert answer.status_code == 201, answer.text


def test_the_wallet_shows_the_tier_its_progress_what_keeps_it_and_the_points(
    new_page: Callable[..., Page], api: httpx.Client, stack_auth: Auth, programme: None
) -> None:
    member_id, token = silver_member(api, stack_auth)
    put_programme(api, stack_auth["admin"])
    order(api, stack_auth, member_id, 1200)  # 1200 points, counting now
    put_programme(api, stack_auth["admin"], pending_days=7)
    order(api, stack_auth, member_id, 300)  # 300 points, pending for the return window
    adjust(api, stack_auth, member_id, -200, "goodwill correction")
    member = api.get(f"/v1/members/{member_id}", headers=stack_auth["admin"]).json()
    assert member["spend_12m"] == 150000
    assert member["next_tier"] == {"tier": "gold", "spend_needed": 350000}
    assert member["points"]["balance"] == 1000 and member["points"]["pending"] == 300
    expiry = f"{datetime.now(SHANGHAI).year + 1}-12-31"
    keep_until = datetime.fromisoformat(member["keep_tier"]["until"]).astimezone(SHANGHAI)

    page = new_page()
    page.goto(f"/wallet?m={token}")
    card = page.locator("#member-card")
    expect(card.locator("#tier-name")).to_have_text("银卡")
    expect(card.locator("#points-balance")).to_have_text("1000")
    expect(card.locator("#tier-next")).to_have_text("再消费 ¥3500 升级金卡")
    bar = card.locator("#tier-bar")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("150000", "500000")
    expect(card.locator("#tier-spend")).to_have_text("近12个月消费 ¥1500")
    expect(card.locator("#tier-keep")).to_have_text(f"保级：{keep_until:%Y-%m-%d} 前再消费 ¥1500")
    expect(card.locator("#points-pending")).to_have_text("待生效 300")
    expect(card.locator("#points-expiry")).to_have_text(f"1000 积分将于 {expiry} 过期")
    history = page.locator("#points-history li")
    expect(history).to_have_count(3)
    expect(history.nth(0)).to_contain_text("客服调整")
    expect(history.nth(0).locator(".history-points")).to_have_text("-200")
    expect(history.nth(1)).to_contain_text("消费获得（待生效）")
    expect(history.nth(1).locator(".history-points")).to_have_text("+300")
    expect(history.nth(2)).to_contain_text("消费获得")
    expect(history.nth(2).locator(".history-points")).to_have_text("+1200")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "wallet-member-card")

    english = new_page(locale="en-US")
    english.goto(f"/wallet?m={token}")
    expect(english.locator("#tier-name")).to_have_text("Silver")
    expect(english.locator("#tier-next")).to_have_text("Spend ¥3500 more for Gold")
    expect(english.locator("#points-expiry")).to_have_text(f"1000 points expire on {expiry}")


def test_a_member_at_a_reached_threshold_and_a_member_without_points(
    page: Page, api: httpx.Client, stack_auth: Auth, programme: None
) -> None:
    put_programme(api, stack_auth["admin"])
    member_id, token = silver_member(api, stack_auth)
    page.goto(f"/wallet?m={token}")
    expect(page.locator("#points-balance")).to_have_text("0")
    expect(page.locator("#tier-next")).to_have_text("再消费 ¥5000 升级金卡")
    expect(page.locator("#points-history")).to_contain_text("暂无积分记录")
    expect(page.locator("#points-expiry")).to_have_count(0)

    order(api, stack_auth, member_id, 6000)  # crosses gold's yearly spend: gold at the commit
    page.reload()
    expect(page.locator("#tier-name")).to_have_text("金卡")
    expect(page.locator("#member-card")).to_have_class("member-card tier-gold")
    expect(page.locator("#tier-next")).to_have_text("再消费 ¥4000 升级钻石卡")
    expect(page.locator("#tier-keep")).to_contain_text("已达保级标准")


def test_the_claim_page_exchanges_points_for_a_coupon_and_says_when_points_are_short(
    new_page: Callable[..., Page],
    expect_refusal: Callable[[int, str], None],
    api: httpx.Client,
    stack_auth: Auth,
) -> None:
    expect_refusal(409, "/claim/")  # 积分不足
    admin = stack_auth["admin"]
    campaign = live_campaign(
        api,
        admin,
        name="积分兑换 无门槛20元",
        kind="amount",
        amount_off=2000,
        min_spend=0,
        points_price=500,
        stock=20,
    )
    rich_id, rich_token = silver_member(api, stack_auth)
    adjust(api, stack_auth, rich_id, 800, "welcome points")
    page = new_page()
    page.goto(claim_url(campaign, rich_token))
    expect(page.locator("#offer")).to_have_text("无门槛20元")
    expect(page.locator("#points-price")).to_have_text("兑换价 500 积分")
    button = page.locator("#claim-button")
    expect(button).to_have_text("500 积分兑换")
    expect(button).to_be_enabled()
    screenshot(page, "claim-page-exchange")

    button.dblclick()  # a double tap: one exchange, one coupon, 500 points once
    expect(page.locator("#coupon")).to_be_visible()
    expect(page.locator("#coupon-done")).to_have_text("兑换成功，已使用 500 积分")
    code = page.locator("#coupon-code").inner_text()
    assert [c["code"] for c in coupons_of(api, admin, rich_id, campaign["id"])] == [code]
    points = api.get(f"/v1/members/{rich_id}/points", headers=admin).json()
    assert points["balance"] == 300
    screenshot(page, "claim-page-exchanged")

    poor_id, poor_token = silver_member(api, stack_auth)
    adjust(api, stack_auth, poor_id, 100, "welcome points")
    poor = new_page()
    poor.goto(claim_url(campaign, poor_token))
    poor.locator("#claim-button").click()
    expect(poor.locator("#status")).to_have_text("积分不足")
    expect(poor.locator("#claim-button")).to_have_text("积分不足")
    expect(poor.locator("#claim-button")).to_be_disabled()
    assert coupons_of(api, admin, poor_id, campaign["id"]) == []
    assert api.get(f"/v1/members/{poor_id}/points", headers=admin).json()["balance"] == 100
    screenshot(poor, "claim-page-insufficient-points")

    # The wallet shows the exchange in the history.
    wallet = new_page()
    wallet.goto(f"/wallet?m={rich_token}")
    expect(wallet.locator("#points-history li").first).to_contain_text("积分兑换")
    expect(wallet.locator("#points-history li .history-points").first).to_have_text("-500")

    english = new_page(locale="en-US")
    english.goto(claim_url(campaign, poor_token))
    expect(english.locator("#claim-button")).to_have_text("Exchange for 500 points")
