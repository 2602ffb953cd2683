"""The member's pages' API side, in process: the page's claim is the v1 claim (limits, expiry of
member tokens, idempotency), rate limited per client address, and the exchange of a campaign
with a points price; the wallet sees time pass and shows the member's card."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from gateway.clock import clock
from gateway.ops.ratelimit import ClaimLimits, Limiter
from tests.conftest import live_campaign, unique
from tests.integration.points_helpers import (
    line,
    order,
    points_of,
    programme,
    programme_body,
    silver_member,
)

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


@pytest.fixture
def now(client: Client) -> Iterator[list[float]]:
    """The limiters' clock, stopped (no test waits for a bucket to refill), and buckets of
    this test's own (another test's clock may have run far ahead)."""
    limits: ClaimLimits = client.app.state.claim_limits
    saved = limits.per_member, limits.per_address
    settings = client.app.state.settings
    limits.per_member = Limiter(settings.claim_rate_per_member)
    limits.per_address = Limiter(settings.claim_rate_per_ip)
    stopped = [time.monotonic()]
    limits.now = lambda: stopped[0]
    yield stopped
    limits.now = time.monotonic
    limits.per_member, limits.per_address = saved


async def member_token(client: Client, auth: Auth) -> tuple[str, str]:
    member = unique()
    put = await client.put(
        f"/v1/members/{member}", json={"tier": "standard"}, headers=auth["admin"]
    )
    assert put.status_code == 200
    issued = await client.post(f"/v1/members/{member}/tokens", headers=auth["front"])
    assert issued.status_code == 201, issued.text
    return member, str(issued.json()["token"])


async def page_claim(client: Client, campaign_id: str, token: str, request_id: str) -> Any:
    return await client.post(
        f"/claim/{campaign_id}", json={"member_token": token, "request_id": request_id}
    )


async def test_the_page_claim_keeps_the_per_member_limit_and_one_coupon_per_request_id(
    client: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=10, per_member_limit=1)
    member, token = await member_token(client, auth)
    first = await page_claim(client, campaign["id"], token, "r-1")
    again = await page_claim(client, campaign["id"], token, "r-1")
    other = await page_claim(client, campaign["id"], token, "r-2")
    assert first.status_code == again.status_code == 201
    assert first.json()["code"] == again.json()["code"]
    assert first.json()["member_id"] == member
    assert other.status_code == 409 and other.json()["code"] == "limit_reached"


async def test_an_expired_member_token_never_claims(
    client: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=10)
    _, token = await member_token(client, auth)
    clock.advance(30 * 60 + 1)
    expired = await page_claim(client, campaign["id"], token, "late")
    assert expired.status_code == 401 and expired.json()["code"] == "unauthorized"


async def test_one_address_is_limited_on_the_page_claim_and_a_429_takes_no_stock(
    client: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=500, per_member_limit=1)
    tokens = [(await member_token(client, auth))[1] for _ in range(110)]
    answers = [
        await page_claim(client, campaign["id"], token, f"r-{n}") for n, token in enumerate(tokens)
    ]
    granted = [a for a in answers if a.status_code == 201]
    limited = [a for a in answers if a.status_code == 429]
    assert len(granted) == 100 and len(limited) == 10  # GATEWAY_CLAIM_RATE_PER_IP 50/100
    assert limited[0].json()["code"] == "rate_limited"
    assert int(limited[0].headers["retry-after"]) >= 1
    # A retry of an admitted request (same request_id) is not counted again.
    assert (await page_claim(client, campaign["id"], tokens[99], "r-99")).status_code == 201
    stats = (await client.get(f"/v1/campaigns/{campaign['id']}", headers=auth["admin"])).json()
    assert stats["stats"]["claimed"] == 100
    now[0] += 1.0  # a second later: 50 more tokens for the address
    assert (await page_claim(client, campaign["id"], tokens[100], "r-100")).status_code == 201


async def test_the_stock_endpoint_reads_the_live_counters(
    client: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=7)
    _, token = await member_token(client, auth)
    assert (await page_claim(client, campaign["id"], token, "s")).status_code == 201
    stock = (await client.get(f"/claim/{campaign['id']}/stock")).json()
    assert stock["remaining"] == 6 and stock["status"] == "live"
    assert (await client.get("/claim/no-such-campaign/stock")).json()["remaining"] is None


async def test_the_wallet_shows_a_coupon_past_its_validity_as_expired(
    client: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=5, name="过期测试")
    _, token = await member_token(client, auth)
    claimed = await page_claim(client, campaign["id"], token, "e")
    code = claimed.json()["code"]
    page = (await client.get(f"/wallet?m={token}")).text
    assert 'data-state="active"' in page and code in page
    clock.advance(8 * 86400)  # validity: 7 days
    fresh = await client.post(
        f"/v1/members/{claimed.json()['member_id']}/tokens", headers=auth["front"]
    )
    page = (await client.get(f"/wallet?m={fresh.json()['token']}")).text
    assert 'data-state="expired"' in page and 'data-state="active"' not in page


async def test_the_claim_page_says_what_the_campaign_offers_now(
    client: Client, auth: Auth, now: list[float]
) -> None:
    admin = auth["admin"]
    campaign = await live_campaign(client, admin, stock=3, name="状态")
    assert 'data-state="open"' in (await client.get(f"/claim/{campaign['id']}")).text
    paused = await client.post(f"/v1/campaigns/{campaign['id']}/pause", headers=admin)
    assert paused.status_code == 200
    closed = await live_campaign(client, admin, stock=3, name="已关")
    assert (await client.post(f"/v1/campaigns/{closed['id']}/close", headers=admin)).is_success
    clock.advance(3)  # past the page's 2 s cache
    page = (await client.get(f"/claim/{campaign['id']}")).text
    assert 'data-state="not_live"' in page
    assert 'data-state="ended"' in (await client.get(f"/claim/{closed['id']}")).text
    english = await client.get(f"/claim/{campaign['id']}", headers={"Accept-Language": "en"})
    assert "This offer is not available" in english.text and 'lang="en"' in english.text


async def _token_of(client: Client, auth: Auth, member_id: str) -> str:
    issued = await client.post(f"/v1/members/{member_id}/tokens", headers=auth["front"])
    assert issued.status_code == 201, issued.text
    return str(issued.json()["token"])


async def _adjust(client: Client, auth: Auth, member_id: str, points: int) -> None:
    adjusted = await client.post(
        f"/v1/members/{member_id}/points/adjustments",
        json={"points": points, "reason": "test"},
        headers=auth["admin"],
    )
    assert adjusted.status_code == 201, adjusted.text


async def test_the_page_exchanges_a_campaign_with_a_points_price_once_per_request_id(
    client: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(
        client, auth["admin"], stock=10, per_member_limit=1, points_price=300
    )
    member = await silver_member(client, auth)
    await _adjust(client, auth, member, 700)
    token = await _token_of(client, auth, member)
    first = await page_claim(client, campaign["id"], token, "x-1")
    again = await page_claim(client, campaign["id"], token, "x-1")
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["code"] == again.json()["code"]
    assert first.json()["points_spent"] == 300
    # Over the per-member limit: refused, and the points of the refused exchange come back.
    over = await page_claim(client, campaign["id"], token, "x-2")
    assert over.status_code == 409 and over.json()["code"] == "limit_reached"
    assert (await points_of(client, auth, member))["balance"] == 400

    short = await silver_member(client, auth)
    await _adjust(client, auth, short, 100)
    refused = await page_claim(client, campaign["id"], await _token_of(client, auth, short), "s")
    assert refused.status_code == 409 and refused.json()["code"] == "insufficient_points"
    assert (await points_of(client, auth, short))["balance"] == 100
    # The API's claim of such a campaign stays exchange_only; the page's is the exchange.
    claim = await client.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": short, "channel": "online"},
        headers=auth["front"],
    )
    assert claim.status_code == 409 and claim.json()["code"] == "exchange_only"


async def test_the_claim_page_of_a_campaign_with_a_points_price_offers_an_exchange(
    client: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=3, points_price=1000)
    page = (await client.get(f"/claim/{campaign['id']}")).text
    assert "1000 积分兑换" in page and "兑换价 1000 积分" in page
    assert 'data-points-price="1000"' in page
    plain = await live_campaign(client, auth["admin"], stock=3)
    page = (await client.get(f"/claim/{plain['id']}")).text
    assert "立即领取" in page and 'data-points-price=""' in page


async def test_the_wallet_card_shows_the_tier_progress_points_and_history(
    client: Client, auth: Auth, db: asyncpg.Pool, now: list[float]
) -> None:
    tiers = {"silver": {"yearly_spend": 300000}, "gold": {"yearly_spend": 500000}}
    async with programme(db, {**programme_body(), "tiers": tiers}):
        member = await silver_member(client, auth)
        await order(client, auth, member, [line(1200)])
        await _adjust(client, auth, member, -200)
        token = await _token_of(client, auth, member)
        page = (await client.get(f"/wallet?m={token}")).text
        english = await client.get(f"/wallet?m={token}", headers={"Accept-Language": "en"})
    assert 'id="tier-name">银卡<' in page
    assert 'id="points-balance">1000<' in page
    assert "再消费 ¥3800 升级金卡" in page
    assert 'value="120000" max="500000"' in page
    assert "保级：" in page and "再消费 ¥1800" in page
    assert "1000 积分将于" in page
    assert page.count('<li data-kind="') == 2
    assert "客服调整" in page and "-200" in page and "+1200" in page
    assert "Spend ¥3800 more for Gold" in english.text
