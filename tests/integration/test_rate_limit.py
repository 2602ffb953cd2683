"""The per-member claim limit (API v1.1, "Flash-sale protection") on both ways a claim is served:
the hot lane, and Litestar's router in a second app built with `GATEWAY_HOT_LANES=0`.

The limiter's clock is stopped during a test so that "a burst" means the same thing on a slow
machine: no test waits for time to pass, it moves the limiter's clock instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.ops.ratelimit import ClaimLimits
from gateway.settings import get_settings
from tests.conftest import live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def router_client(client: Client) -> AsyncIterator[Client]:
    """A second app whose claims go through the router (`GATEWAY_HOT_LANES=0`)."""
    settings = dataclasses.replace(get_settings(), hot_lanes=False)
    async with AsyncTestClient(app=create_app(settings)) as router:
        yield router


@pytest.fixture(params=["lane", "router"])
def way(request: pytest.FixtureRequest, client: Client, router_client: Client) -> Client:
    return client if request.param == "lane" else router_client


@pytest.fixture
def now(way: Client) -> Iterator[list[float]]:
    """The limiter's clock, stopped: `now[0] += 1` moves it one second on."""
    limits: ClaimLimits = way.app.state.claim_limits
    stopped = [time.monotonic()]
    limits.now = lambda: stopped[0]
    yield stopped
    limits.now = time.monotonic


async def claim(way: Client, auth: Auth, campaign_id: str, member: str, **headers: str) -> Any:
    return await way.post(
        f"/v1/campaigns/{campaign_id}/claims",
        json={"member_id": member, "channel": "online"},
        headers={**auth["front"], **headers},
    )


async def stats(client: Client, auth: Auth, campaign_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/campaigns/{campaign_id}", headers=auth["admin"])
    return dict(response.json()["stats"])


async def test_one_member_hammering_gets_429_with_retry_after_after_the_burst_and_no_stock(
    client: Client, way: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=100, per_member_limit=100)
    member = unique()
    responses = await asyncio.gather(*(claim(way, auth, campaign["id"], member) for _ in range(30)))
    granted = [r for r in responses if r.status_code == 201]
    limited = [r for r in responses if r.status_code == 429]
    assert len(granted) == 10 and len(limited) == 20  # the default burst: 5/s, burst 10
    for response in limited:
        assert response.json().keys() == {"code", "detail"}
        assert response.json()["code"] == "rate_limited"
        assert response.headers["retry-after"].isdigit()
        assert int(response.headers["retry-after"]) >= 1
    # A 429 took no stock.
    assert (await stats(client, auth, campaign["id"]))["claimed"] == 10
    assert (await stats(client, auth, campaign["id"]))["remaining"] == 90

    # After Retry-After the member is admitted again: a second refills 5 presses.
    now[0] += int(limited[-1].headers["retry-after"])
    again = await asyncio.gather(*(claim(way, auth, campaign["id"], member) for _ in range(6)))
    assert sorted(r.status_code for r in again) == [201] * 5 + [429]
    assert (await stats(client, auth, campaign["id"]))["claimed"] == 15


async def test_a_member_over_the_limit_is_throttled_even_when_every_answer_would_be_a_refusal(
    client: Client, way: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=100, per_member_limit=1)
    member = unique()
    responses = [await claim(way, auth, campaign["id"], member) for _ in range(12)]
    codes = [201 if r.status_code == 201 else r.json()["code"] for r in responses]
    assert codes == [201] + ["limit_reached"] * 9 + ["rate_limited"] * 2


async def test_thousands_of_distinct_members_are_never_throttled(
    client: Client, way: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=600, per_member_limit=1)
    members = [unique() for _ in range(1000)]
    responses = await asyncio.gather(*(claim(way, auth, campaign["id"], m) for m in members))
    assert not [r for r in responses if r.status_code == 429]
    assert sum(r.status_code == 201 for r in responses) == 600
    assert {r.json()["code"] for r in responses if r.status_code != 201} == {"sold_out"}


async def test_one_member_claiming_many_campaigns_at_once_is_not_throttled(
    client: Client, way: Client, auth: Auth, now: list[float]
) -> None:
    # A coupon centre's "claim all" (一键领取): one member, many campaigns, one instant.
    campaigns = [await live_campaign(client, auth["admin"]) for _ in range(15)]
    member = unique()
    responses = await asyncio.gather(*(claim(way, auth, c["id"], member) for c in campaigns))
    assert [r.status_code for r in responses] == [201] * 15


async def test_retries_with_the_same_idempotency_key_are_one_press(
    client: Client, way: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=100, per_member_limit=50)
    member = unique()
    key = unique("press")
    first = await claim(way, auth, campaign["id"], member, **{"Idempotency-Key": key})
    assert first.status_code == 201
    retries = await asyncio.gather(
        *(claim(way, auth, campaign["id"], member, **{"Idempotency-Key": key}) for _ in range(30))
    )
    assert all(r.status_code == 201 and r.json() == first.json() for r in retries)
    # New presses still count: nine more fit in the burst of ten.
    presses = [
        await claim(way, auth, campaign["id"], member, **{"Idempotency-Key": unique("press")})
        for _ in range(10)
    ]
    assert [r.status_code for r in presses] == [201] * 9 + [429]
    assert (await stats(client, auth, campaign["id"]))["claimed"] == 10


async def test_refusals_that_cost_nothing_are_answered_before_the_limit(
    client: Client, way: Client, auth: Auth, now: list[float]
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=100, per_member_limit=100)
    member = unique()
    for _ in range(10):
        assert (await claim(way, auth, campaign["id"], member)).status_code == 201
    bad_token = await way.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": member, "channel": "online", "token": "nope"},
        headers=auth["front"],
    )
    assert bad_token.status_code == 403 and bad_token.json()["code"] == "invalid_token"
    limited = await claim(way, auth, campaign["id"], member)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
