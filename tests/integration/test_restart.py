"""A gateway restarted in the middle of a sale listens at once, whatever the ledger's size, and
each campaign takes no claim until its own state is right (issue 10, item 10)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as redis

from loadtests.ledger_fixture import generate_ledger
from tests.stack import Stack

CAMPAIGNS, COUPONS_EACH, STOCK_EACH = 200, 500, 1000


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack("restart")
    s.services("start")
    s.cli("migrate")
    yield s
    s.destroy()


async def test_serve_listens_without_rebuilding_every_campaign_and_rebuilds_lazily(
    stack: Stack,
) -> None:
    ids = await generate_ledger(stack.database_url, "big", CAMPAIGNS, COUPONS_EACH, STOCK_EACH)
    # Redis holds none of them: a Redis that lost its data, then a gateway restart.
    stack.start_gateway(workers="2")  # returns once /readyz answers
    client = redis.Redis.from_url(stack.redis_url)
    admin = {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'admin')}"}
    try:
        assert await client.keys("*:meta") == [], "serve rebuilt campaigns before it listened"
        target = ids[len(ids) // 2]
        statuses = []
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
            for n in range(200):
                r = await http.post(
                    f"/v1/campaigns/{target}/claims",
                    json={"member_id": f"late-{n}", "channel": "online"},
                    headers=admin,
                )
                statuses.append(r.status_code)
                if r.status_code == 201:
                    break
                assert (r.status_code, r.json()["code"]) == (503, "unavailable"), r.text
                await asyncio.sleep(0.02)
            assert statuses[-1] == 201
            # A member who already holds the campaign's coupon in the ledger is at the limit.
            again = await http.post(
                f"/v1/campaigns/{target}/claims",
                json={"member_id": "g-1", "channel": "online"},
                headers=admin,
            )
            assert (again.status_code, again.json()["code"]) == (409, "limit_reached")
            stats = (await http.get(f"/v1/campaigns/{target}", headers=admin)).json()["stats"]
        assert stats["remaining"] == STOCK_EACH - COUPONS_EACH - 1
        # Only the campaign that was claimed was rebuilt.
        assert await client.keys("*:meta") == [f"{{c:{target}}}:meta".encode()]
    finally:
        await client.aclose()
        stack.stop_gateway()
