"""Idle cost flat in the number of campaigns (issue 11, item 4; DESIGN.md "Idle cost"): ledger
recovery visits only the campaigns a claim round trip marked, and still drains what a dead
worker left."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as redis

from gateway.store.ledger import recover, recover_all
from gateway.store.redis import LEDGER_ACTIVE_KEY, create_client, ledger_key
from loadtests.ledger_fixture import generate_ledger
from tests.stack import Stack

LIVE_CAMPAIGNS = 10_000
AGE_MS = 5000


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack("idle")
    s.services("start")
    s.cli("migrate")
    yield s
    s.destroy()


@pytest_asyncio.fixture
async def pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=2)
    yield p
    await p.close()


class CountingRedis:
    """The stack's Redis client, counting each command it sends by name."""

    def __init__(self, url: str) -> None:
        self.client = create_client(url)
        self.sent: Counter[str] = Counter()
        send = self.client.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            self.sent[str(args[0]).upper()] += 1
            return await send(*args, **options)

        self.client.execute_command = counted  # type: ignore[method-assign]  # a test's spy


@pytest_asyncio.fixture
async def counting(stack: Stack) -> AsyncIterator[CountingRedis]:
    spy = CountingRedis(stack.redis_url)
    yield spy
    await spy.client.aclose()


async def hand_written_entry(client: redis.Redis, campaign_id: str, code: str, age_ms: int) -> None:
    """What a worker killed between its script call and its ledger write leaves behind: the
    stream entry and the campaign's mark, both `age_ms` old."""
    seconds, micros = await client.time()
    at = int(seconds) * 1000 + int(micros) // 1000 - age_ms
    await client.xadd(
        ledger_key(campaign_id),
        {
            "c": code,
            "m": "dead-1",
            "t": at,
            "f": at,
            "u": at + 86_400_000,
            "h": "online",
            "s": "claim",
        },
        id=f"{at}-0",
    )
    await client.zadd(LEDGER_ACTIVE_KEY, {campaign_id: at})


async def test_an_idle_recovery_tick_sends_two_commands_with_10000_live_campaigns(
    stack: Stack, pool: asyncpg.Pool, counting: CountingRedis
) -> None:
    await generate_ledger(stack.database_url, "idle", LIVE_CAMPAIGNS, 0, 100)
    assert await pool.fetchval("SELECT count(*) FROM campaigns WHERE status = 'live'") >= 10_000
    await counting.client.delete(LEDGER_ACTIVE_KEY)
    for _ in range(3):  # three ticks of the background task
        counting.sent.clear()
        assert await recover(pool, counting.client, AGE_MS) == 0
        assert counting.sent == Counter({"TIME": 1, "ZRANGE": 1}), counting.sent


async def test_entries_a_dead_worker_left_are_drained_and_the_campaign_forgotten(
    stack: Stack, pool: asyncpg.Pool, counting: CountingRedis
) -> None:
    campaign_id = (await generate_ledger(stack.database_url, "dead", 1, 0, 100))[0]
    await hand_written_entry(counting.client, campaign_id, "DEAD-WORKER-1", age_ms=AGE_MS + 2000)
    assert await recover(pool, counting.client, AGE_MS) == 1
    coupon = await pool.fetchrow("SELECT * FROM coupons WHERE code = 'DEAD-WORKER-1'")
    assert coupon is not None
    assert (coupon["campaign_id"], coupon["member_id"]) == (campaign_id, "dead-1")
    assert await counting.client.xlen(ledger_key(campaign_id)) == 0
    assert await counting.client.zscore(LEDGER_ACTIVE_KEY, campaign_id) is None
    counting.sent.clear()
    assert await recover(pool, counting.client, AGE_MS) == 0
    assert counting.sent == Counter({"TIME": 1, "ZRANGE": 1}), counting.sent


async def test_a_young_entry_waits_for_its_live_writer_and_keeps_the_mark(
    stack: Stack, pool: asyncpg.Pool, counting: CountingRedis
) -> None:
    campaign_id = (await generate_ledger(stack.database_url, "young", 1, 0, 100))[0]
    await hand_written_entry(counting.client, campaign_id, "YOUNG-1", age_ms=100)
    assert await recover(pool, counting.client, AGE_MS) == 0
    assert await counting.client.xlen(ledger_key(campaign_id)) == 1
    assert await counting.client.zscore(LEDGER_ACTIVE_KEY, campaign_id) is not None
    assert await recover_all(pool, counting.client) >= 1  # `gateway reconcile` drains it all
    assert await pool.fetchval("SELECT count(*) FROM coupons WHERE code = 'YOUNG-1'") == 1


async def test_a_campaign_marked_again_after_recovery_read_its_mark_stays_marked(
    stack: Stack, pool: asyncpg.Pool, counting: CountingRedis
) -> None:
    campaign_id = (await generate_ledger(stack.database_url, "again", 1, 0, 100))[0]
    client = counting.client
    await client.zadd(LEDGER_ACTIVE_KEY, {campaign_id: 1000})
    xlen = client.xlen

    async def marked_again_meanwhile(name: Any) -> Any:
        # A round trip marks the campaign between recovery's read of the mark and its forget.
        await client.zadd(LEDGER_ACTIVE_KEY, {campaign_id: 2000})
        return await xlen(name)

    client.xlen = marked_again_meanwhile  # type: ignore[method-assign]  # a test's interleaving
    await recover(pool, client, AGE_MS)
    assert await client.zscore(LEDGER_ACTIVE_KEY, campaign_id) == 2000


async def test_claims_mark_their_campaign_and_recovery_forgets_it_once_quiet(
    stack: Stack, pool: asyncpg.Pool, counting: CountingRedis
) -> None:
    stack.start_gateway()
    try:
        admin = {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'admin')}"}
        campaign_id = (await generate_ledger(stack.database_url, "marked", 1, 0, 100))[0]
        stack.cli("reconcile")  # the generated campaign's hot state
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
            for n in range(3):
                r = await http.post(
                    f"/v1/campaigns/{campaign_id}/claims",
                    json={"member_id": f"m-{n}", "channel": "online"},
                    headers=admin,
                )
                assert r.status_code == 201, r.text
        score = await counting.client.zscore(LEDGER_ACTIVE_KEY, campaign_id)
        assert score is not None
        seconds, _ = await counting.client.time()
        assert abs(int(seconds) * 1000 - score) < 5000, "the mark is on Redis's clock"
        for _ in range(100):  # the writers commit and delete their entries
            if not await counting.client.xlen(ledger_key(campaign_id)):
                break
            await asyncio.sleep(0.05)
        assert await recover(pool, counting.client, 0) == 0
        # Quiet for less than a second: kept; once older than the recovery age: forgotten.
        assert await counting.client.zscore(LEDGER_ACTIVE_KEY, campaign_id) == score
        await counting.client.zadd(LEDGER_ACTIVE_KEY, {campaign_id: score - AGE_MS - 1})
        await recover(pool, counting.client, AGE_MS)
        assert await counting.client.zscore(LEDGER_ACTIVE_KEY, campaign_id) is None
    finally:
        stack.stop_gateway()
