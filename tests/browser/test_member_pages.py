"""The member's journeys in a real browser: claim through a link, sold out, the wallet and a
transfer, refusals in plain words, escaping. Each against the real gateway, Redis and Postgres
(one isolated stack per session, tests/browser/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.conftest import campaign_body


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def admin(stack_auth: dict[str, dict[str, str]]) -> dict[str, str]:
    return stack_auth["admin"]


@pytest.fixture(scope="module")
def front(stack_auth: dict[str, dict[str, str]]) -> dict[str, str]:
    return stack_auth["front"]


def live_campaign(api: httpx.Client, admin: dict[str, str], **overrides: Any) -> dict[str, Any]:
    created = api.post("/v1/campaigns", json=campaign_body(**overrides), headers=admin)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    published = api.post(f"/v1/campaigns/{campaign_id}/publish", headers=admin)
    assert published.status_code == 200, published.text
    link = api.get(f"/v1/campaigns/{campaign_id}/link", headers=admin).json()
    return {**published.json(), "link_token": link["token"], "url": link["url"]}


def member(api: httpx.Client, admin: dict[str, str], front: dict[str, str]) -> tuple[str, str]:
    """A registered member and a member token for it (as the mall's server would get it)."""
    member_id = unique("m")
    assert api.put(f"/v1/members/{member_id}", json={"tier": "standard"}, headers=admin).is_success
    issued = api.post(f"/v1/members/{member_id}/tokens", headers=front)
    assert issued.status_code == 201, issued.text
    return member_id, issued.json()["token"]


def claim_url(campaign: dict[str, Any], token: str | None = None) -> str:
    url = f"/claim/{campaign['id']}?token={campaign['link_token']}"
    return url + (f"&m={token}" if token else "")


def coupons_of(
    api: httpx.Client, admin: dict[str, str], member_id: str, campaign_id: str
) -> list[dict[str, Any]]:
    held = api.get(f"/v1/members/{member_id}/coupons", headers=admin).json()["coupons"]
    return [c for c in held if c["campaign_id"] == campaign_id]


def test_member_claims_through_the_link_sees_the_qr_code_and_a_double_tap_gives_one_coupon(
    page: Page, api: httpx.Client, admin: dict[str, str], front: dict[str, str]
) -> None:
    campaign = live_campaign(api, admin, name="双11 满500减100", stock=50, per_member_limit=2)
    member_id, token = member(api, admin, front)
    page.goto(claim_url(campaign, token))
    expect(page.locator("#offer")).to_have_text("满500减100")
    expect(page.locator("#remaining")).to_have_text("剩余 50 张")
    expect(page.locator("#member")).to_contain_text(member_id)
    button = page.locator("#claim-button")
    expect(button).to_be_enabled()
    # Laid out for a 375 px phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "claim-page")

    button.dblclick()  # a double tap; the limit (2) would allow a second coupon
    expect(page.locator("#coupon")).to_be_visible()
    code = page.locator("#coupon-code").inner_text()
    qr_loaded = page.locator("#coupon-qr").evaluate("img => img.complete && img.naturalWidth > 0")
    assert qr_loaded
    screenshot(page, "claim-page-claimed")

    held = coupons_of(api, admin, member_id, campaign["id"])
    assert [c["code"] for c in held] == [code]
    # The live stock follows the claim (one Redis read, polled).
    stock = api.get(f"/claim/{campaign['id']}/stock").json()
    assert stock["remaining"] == 49


def test_a_retried_page_claim_with_the_same_request_id_gives_the_same_coupon(
    api: httpx.Client, admin: dict[str, str], front: dict[str, str]
) -> None:
    campaign = live_campaign(api, admin, stock=10, per_member_limit=5)
    member_id, token = member(api, admin, front)
    body = {"token": campaign["link_token"], "member_token": token, "request_id": "tap-1"}
    first = api.post(f"/claim/{campaign['id']}", json=body)
    again = api.post(f"/claim/{campaign['id']}", json=body)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json()["code"] == again.json()["code"]
    assert len(coupons_of(api, admin, member_id, campaign["id"])) == 1


def test_when_the_stock_reaches_zero_the_next_member_sees_sold_out(
    new_page: Callable[..., Page], api: httpx.Client, admin: dict[str, str], front: dict[str, str]
) -> None:
    campaign = live_campaign(
        api,
        admin,
        name="限量抢购 8.5折",
        kind="percent",
        amount_off=None,
        min_spend=0,
        percent_off=1500,
        stock=1,
    )
    first_id, first_token = member(api, admin, front)
    page = new_page()
    page.goto(claim_url(campaign, first_token))
    expect(page.locator("#offer")).to_have_text("8.5折")
    page.locator("#claim-button").click()
    expect(page.locator("#coupon")).to_be_visible()
    assert len(coupons_of(api, admin, first_id, campaign["id"])) == 1

    _, next_token = member(api, admin, front)
    late = new_page()
    late.goto(claim_url(campaign, next_token))
    expect(late.locator("#claim-button")).to_have_text("已抢光", timeout=5000)
    expect(late.locator("#claim-button")).to_be_disabled()
    expect(late.locator("#remaining")).to_have_text("剩余 0 张")
    screenshot(late, "claim-page-sold-out")
    refused = api.post(
        f"/claim/{campaign['id']}",
        json={"token": campaign["link_token"], "member_token": next_token, "request_id": "x"},
    )
    assert refused.status_code == 409 and refused.json()["code"] == "sold_out"


def test_the_wallet_shows_the_coupon_and_transfers_it_to_a_registered_friend(
    new_page: Callable[..., Page],
    expect_refusal: Callable[[int, str], None],
    api: httpx.Client,
    admin: dict[str, str],
    front: dict[str, str],
) -> None:
    expect_refusal(422, "/wallet/transfers")  # the friend who is not a member
    campaign = live_campaign(
        api,
        admin,
        name="母亲节 无门槛券",
        kind="amount",
        amount_off=1000,
        min_spend=0,
        transferable=True,
    )
    giver_id, giver_token = member(api, admin, front)
    friend_id, friend_token = member(api, admin, front)
    claimed = api.post(
        f"/claim/{campaign['id']}",
        json={"token": campaign["link_token"], "member_token": giver_token, "request_id": "w1"},
    )
    assert claimed.status_code == 201, claimed.text
    code = claimed.json()["code"]

    page = new_page()
    page.goto(f"/wallet?m={giver_token}")
    coupon = page.locator(f"article[data-code='{code}']")
    expect(coupon).to_be_visible()
    expect(coupon.locator(".offer")).to_have_text("无门槛10元")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert coupon.locator("img.qr").evaluate("img => img.complete && img.naturalWidth > 0")
    screenshot(page, "wallet")

    # A friend who is not a member: refused in plain words, the coupon stays.
    coupon.locator("input[name=to_member_id]").fill(unique("stranger"))
    coupon.locator("button[type=submit]").click()
    expect(page.locator("#wallet-status")).to_have_text("好友还不是会员，请先注册")

    coupon.locator("input[name=to_member_id]").fill(friend_id)
    coupon.locator("button[type=submit]").click()
    expect(page.locator("#wallet-status")).to_have_text(f"已转赠给 {friend_id}")
    expect(page.locator("section[data-state=transferred]")).to_contain_text(code, timeout=5000)

    held = api.get(f"/v1/coupons/{code}", headers=admin).json()
    assert held["state"] == "transferred"
    received = coupons_of(api, admin, friend_id, campaign["id"])
    assert len(received) == 1 and received[0]["transferred_from"] == code

    friend = new_page()
    friend.goto(f"/wallet?m={friend_token}")
    gift = friend.locator(f"article[data-code='{received[0]['code']}']")
    expect(gift).to_be_visible()
    expect(gift.locator(".path")).to_contain_text(f"{giver_id} → {friend_id}")
    expect(gift).to_contain_text("不可转赠")
    screenshot(friend, "wallet-received")


def test_a_campaign_named_like_a_script_is_shown_as_text(
    page: Page, api: httpx.Client, admin: dict[str, str], front: dict[str, str]
) -> None:
    name = "<script>alert(1)</script>"
    campaign = live_campaign(api, admin, name=name)
    _, token = member(api, admin, front)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(claim_url(campaign, token))
    expect(page.locator("#campaign-name")).to_have_text(name)
    page.locator("#claim-button").click()
    expect(page.locator("#coupon")).to_be_visible()
    page.goto(f"/wallet?m={token}")
    expect(page.locator(".wallet-coupon .name").first).to_have_text(name)
    assert dialogs == []
    html = api.get(claim_url(campaign)).text
    assert "<script>alert(1)</script>" not in html


def test_refusals_and_states_in_plain_words(
    new_page: Callable[..., Page],
    expect_refusal: Callable[[int, str], None],
    api: httpx.Client,
    admin: dict[str, str],
    front: dict[str, str],
) -> None:
    expect_refusal(401, "/claim/")  # the forged member token
    now = datetime.now(UTC)
    later = live_campaign(
        api,
        admin,
        name="整点开抢 · 兑换爆款",
        kind="exchange",
        amount_off=None,
        min_spend=None,
        sku="SKU-BRA-01",
        claim_starts_at=(now + timedelta(hours=2)).isoformat(),
    )
    _, token = member(api, admin, front)
    page = new_page()
    page.goto(claim_url(later, token))
    expect(page.locator("#offer")).to_have_text("兑换 SKU-BRA-01")
    expect(page.locator("#claim-button")).to_have_text("未开始")
    expect(page.locator("#status")).to_contain_text("距开抢还有 01:59:")
    screenshot(page, "claim-page-countdown")

    # Without a member token: open it from the mall's app.
    anonymous = new_page()
    anonymous.goto(claim_url(later))
    expect(anonymous.locator("#open-in-app")).to_be_visible()

    # A forged member token never claims; the page says to open the link again.
    live = live_campaign(api, admin, kind="points", amount_off=None, min_spend=None, points=200)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = api.post(
        f"/claim/{live['id']}",
        json={"token": live["link_token"], "member_token": forged, "request_id": "f"},
    )
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    bad = new_page()
    bad.goto(claim_url(live, forged))
    expect(bad.locator("#offer")).to_have_text("积分 200")
    bad.locator("#claim-button").click()
    expect(bad.locator("#status")).to_have_text("登录已过期，请从商城App重新打开")

    # A wrong link token.
    wrong = api.post(
        f"/claim/{live['id']}",
        json={"token": "not-the-token", "member_token": token, "request_id": "w"},
    )
    assert wrong.status_code == 403 and wrong.json()["code"] == "invalid_token"

    # English when the browser prefers it.
    english = new_page(locale="en-US")
    english.goto(claim_url(live, token))
    expect(english.locator("#claim-button")).to_have_text("Claim now")
    expect(english.locator("#offer")).to_have_text("200 points")


def test_member_tokens_are_for_registered_members_only(
    api: httpx.Client, admin: dict[str, str], front: dict[str, str]
) -> None:
    missing = api.post(f"/v1/members/{unique('ghost')}/tokens", headers=front)
    assert missing.status_code == 404 and missing.json()["code"] == "member_not_found"
    assert api.post(f"/v1/members/{unique('m')}/tokens").status_code == 401
    member_id, token = member(api, admin, front)
    issued = api.post(f"/v1/members/{member_id}/tokens", headers=front).json()
    expires = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    assert token != issued["token"] or True  # same second: same token; both name the member


def test_pages_carry_the_security_headers(api: httpx.Client, admin: dict[str, str]) -> None:
    campaign = live_campaign(api, admin)
    for path in (claim_url(campaign), "/wallet?m=x"):
        response = api.get(path)
        assert "script-src 'self';" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert api.get("/claim/nope-nope").status_code == 404
