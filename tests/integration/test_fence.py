"""The ledger fence: a campaign's counters are not rebuilt from the ledger while any live
worker holds a claim of it that the ledger does not have yet (issue 10, item 6)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from gateway.store.fence import REPORT
from tests.conftest import live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


async def claim(client: Client, auth: Auth, campaign_id: str) -> Any:
    return await client.post(
        f"/v1/campaigns/{campaign_id}/claims",
        json={"member_id": unique(), "channel": "online"},
        headers=auth["front"],
    )


async def test_a_rebuild_waits_for_a_worker_that_still_holds_the_campaigns_coupons(
    client: Client, auth: Auth, redis_client: Any, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=5)
    cid = campaign["id"]
    assert (await claim(client, auth, cid)).status_code == 201
    # Another worker, alive, reports it holds a coupon of the campaign on its way to Postgres:
    # the coupon that a Redis crash took out of the counters but not out of its queue.
    other = f"other-worker-{unique()}"
    await db.execute(REPORT, other, 2**62, [cid])
    meta = f"{{c:{cid}}}:meta"
    await redis_client.hset(meta, mapping={"run_id": "an-earlier-run", "remaining": 5})
    for _ in range(20):  # ~1 s: the rebuild is waiting at the fence; claims stay refused
        answer = await claim(client, auth, cid)
        assert answer.status_code == 503, answer.text
        await asyncio.sleep(0.05)
    # The other worker writes its coupon and reports it holds nothing any more.
    await db.execute(
        "INSERT INTO coupons (code, campaign_id, member_id, state, valid_from, valid_until, "
        "claimed_at, channel, transferable, source) "
        "SELECT $2, $1, $3, 'active', now(), now() + interval '1 day', now(), 'online', "
        "true, 'claim'",
        cid,
        f"HELD{unique('')[1:].upper()}",
        unique(),
    )
    await db.execute(REPORT, other, 2**62, [])
    granted = 0
    for _ in range(200):
        answer = await claim(client, auth, cid)
        if answer.status_code == 201:
            granted += 1
        elif answer.status_code == 409:
            assert answer.json()["code"] == "sold_out"
            break
        await asyncio.sleep(0.02)
    # 5 in stock: the first claim, the other worker's coupon, then 3 more; never a sixth.
    assert granted == 3
    rows = await db.fetchval("SELECT count(*) FROM coupons WHERE campaign_id = $1", cid)
    assert rows == 5
    await db.execute("DELETE FROM ledger_workers WHERE worker_id = $1", other)


async def test_a_worker_that_stopped_reporting_is_dead_and_does_not_hold_rebuilds(
    client: Client, auth: Auth, redis_client: Any, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=5)
    cid = campaign["id"]
    dead = f"dead-worker-{unique()}"
    await db.execute(REPORT, dead, 0, [cid])
    await db.execute(
        "UPDATE ledger_workers SET seen_at = now() - interval '1 hour' WHERE worker_id = $1", dead
    )
    await redis_client.hset(f"{{c:{cid}}}:meta", "run_id", "an-earlier-run")
    for _ in range(200):
        answer = await claim(client, auth, cid)
        if answer.status_code == 201:
            break
        await asyncio.sleep(0.02)
    assert answer.status_code == 201
    await db.execute("DELETE FROM ledger_workers WHERE worker_id = $1", dead)


async def test_redis_that_lost_a_live_campaign_entirely_rebuilds_it(
    client: Client, auth: Auth, redis_client: Any, db: asyncpg.Pool
) -> None:
    """A Redis restarted without its data: the campaign's keys are gone, not stale."""
    campaign = await live_campaign(client, auth["admin"], stock=3)
    cid = campaign["id"]
    assert (await claim(client, auth, cid)).status_code == 201
    await redis_client.delete(f"{{c:{cid}}}:meta", f"{{c:{cid}}}:members")
    first = await claim(client, auth, cid)
    assert first.status_code == 503 and first.json()["code"] == "unavailable"
    answers = []
    for _ in range(200):
        answer = await claim(client, auth, cid)
        answers.append(answer.status_code)
        if answer.status_code == 409:
            break
        await asyncio.sleep(0.02)
    assert answers.count(201) == 2 and answer.json()["code"] == "sold_out"
