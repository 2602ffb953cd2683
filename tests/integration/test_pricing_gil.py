"""A slow quote does not hold back a claim: the pricing engine runs with the GIL released, so
a claim served by the app completes while a long pricing call is still running on another
thread (ordering only, no timings)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from litestar.testing import AsyncTestClient

from gateway import _native
from tests.conftest import live_campaign, unique
from tests.native.pricing_families import mixed_percent

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

#: mixed_percent(4) searched exactly, without the work budget: about 2.6e8 line operations
#: (docs/PRICING.md, "Worst cases"), a call far longer than a claim's round trip.
SLOW_CART = mixed_percent(4)
NO_BUDGET = 2_000_000_000


async def claim(client: Client, auth: Auth, campaign_id: str) -> int:
    response = await client.post(
        f"/v1/campaigns/{campaign_id}/claims",
        json={"member_id": unique(), "channel": "online"},
        headers=auth["front"],
    )
    return response.status_code


async def test_a_claim_completes_while_a_slow_quote_is_being_priced(
    client: Client, auth: Auth
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=10)
    assert await claim(client, auth, campaign["id"]) == 201  # warm: the campaign is loaded

    started, priced = threading.Event(), threading.Event()
    quotes: list[Any] = []

    def slow_quote() -> None:
        started.set()
        quotes.append(_native._price_quote_within(SLOW_CART, NO_BUDGET))
        priced.set()

    pricing = threading.Thread(target=slow_quote)
    pricing.start()
    await asyncio.to_thread(started.wait)
    status = await claim(client, auth, campaign["id"])
    # Had the engine held the GIL, the app could not have answered before it returned.
    claimed_while_pricing = not priced.is_set()
    await asyncio.to_thread(pricing.join)
    assert status == 201
    assert claimed_while_pricing
    assert quotes[0].search == "exact"
    assert quotes[0].work > 10 * 6_000_000  # a long call: ten work budgets


def test_the_engine_entry_points_answer_from_threads() -> None:
    # price, price_quote and price_json release the GIL around the engine; several threads
    # pricing at once still get the answers one thread gets.
    req = mixed_percent(7)
    expected = _native.price(req)
    results: list[Any] = []

    def work() -> None:
        results.append(_native.price(req))
        results.append(_native.price_quote(req).to_dict())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 8
