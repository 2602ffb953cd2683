"""Hot-stock buckets (issue 15, item 3): a campaign's stock over K bucket keys, the rebalancer's
logged moves, stock changes, stats, the live view and rebuilds; on the dev Redis (one node) and,
with GATEWAY_REDIS_CLUSTER=1, on a Redis Cluster."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient

from gateway.settings import get_settings
from gateway.store import buckets as stock_buckets
from gateway.store import redis as keys
from gateway.store.buckets import levels, recover_moves, refill, slots
from gateway.store.ledger import LedgerRow, recover, write_rows
from gateway.store.reconcile import rebuild_campaigns
from gateway.store.redis import Scripts, create_client
from tests.conftest import campaign_body, live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

_RETRIES = 3


async def claim_in_bucket(
    client: redis.Redis, scripts: Scripts, campaign_id: str, buckets: int, member: str
) -> list[Any]:
    """A claim as the pipeline sends it (`claim_coupons.lua` on the member's bucket), with the
    claim service's answer to `bucket_dry`: refill, then ask again (at most 3 times); a refill
    that finds every bucket empty is `sold_out`."""
    slot = keys.bucket_id(campaign_id, keys.bucket_of(member, buckets))
    record = "\x1f".join((member, f"B{uuid.uuid4().hex[:12].upper()}", "online", "0", "-"))
    for _ in range(_RETRIES + 1):
        seconds, _micros = await client.time()
        [result] = await scripts.claim_coupons(
            client,
            [keys.meta_key(slot), keys.members_key(slot), keys.ledger_key(slot)],
            [int(seconds) * 1000, "claim", 60, 1, record],
        )
        if result[0] != 0 or result[1] != b"bucket_dry":
            return list(result)
        bucket = keys.bucket_of(member, buckets)
        if not await refill(client, scripts, campaign_id, bucket, buckets):
            level = await levels(client, campaign_id, buckets)
            assert level.total_remaining == 0, "sold_out answered while stock remains"
            return [0, b"sold_out"]
    return [0, b"bucket_dry"]


async def drop_streams(client: redis.Redis, campaign_id: str, buckets: int) -> None:
    """The script-level claims' stream entries are not the app's to write: drop them."""
    for slot in slots(campaign_id, buckets):
        await client.delete(keys.ledger_key(slot))


async def snapshot_total(client: redis.Redis, campaign_id: str, buckets: int) -> int:
    """Remaining plus in flight, read atomically (MULTI/EXEC: one node only)."""
    names = slots(campaign_id, buckets)
    async with client.pipeline(transaction=True) as pipe:
        for slot in names:
            pipe.hget(keys.meta_key(slot), "remaining")
            pipe.hgetall(keys.moves_key(slot))
            pipe.smembers(keys.applied_key(slot))
        replies = await pipe.execute()
    applied = {
        (slot, move_id.decode())
        for slot, ids in zip(names, replies[2::3], strict=True)
        for move_id in ids
    }
    total = 0
    for have, moves in zip(replies[::3], replies[1::3], strict=True):
        total += int(have or 0)
        for move_id, value in moves.items():
            n, target, _epoch = value.decode().split("|", 2)
            if (target, move_id.decode()) not in applied:  # given, not yet forgotten: counted
                total += int(n)
    return total


async def test_buckets_outside_1_to_64_or_not_an_integer_are_400_naming_buckets(
    client: Client, auth: Auth
) -> None:
    for bad in (0, 65, -1, "8", 2.5, True, None, 10**20):
        r = await client.post(
            "/v1/campaigns", json=campaign_body(buckets=bad), headers=auth["admin"]
        )
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["code"] == "invalid_request"
        assert "buckets" in r.json()["detail"], r.text
    plain = await client.post("/v1/campaigns", json=campaign_body(), headers=auth["admin"])
    assert plain.json()["buckets"] == 1
    hot = await client.post("/v1/campaigns", json=campaign_body(buckets=64), headers=auth["admin"])
    assert hot.status_code == 201 and hot.json()["buckets"] == 64


async def test_publishing_writes_k_meta_hashes_sharing_the_stock(
    client: Client, auth: Auth, redis_client: redis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=300, buckets=8)
    assert campaign["buckets"] == 8 and campaign["stats"]["remaining"] == 300
    shares = []
    for b, slot in enumerate(slots(campaign["id"], 8)):
        meta = await redis_client.hgetall(keys.meta_key(slot))
        assert meta[b"buckets"] == b"8" and meta[b"status"] == b"live"
        assert (b"stock_total" in meta) == (b == 0)
        shares.append(int(meta[b"remaining"]))
    assert sorted(shares) == [37] * 4 + [38] * 4
    assert (
        len(
            {(await redis_client.hget(keys.meta_key(s), "epoch")) for s in slots(campaign["id"], 8)}
        )
        == 1
    )


async def test_a_storm_on_8_buckets_gives_exactly_the_stock_and_empties_every_bucket(
    client: Client, auth: Auth, redis_client: redis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=300, per_member_limit=1, buckets=8)
    cid, scripts = campaign["id"], Scripts()
    members = [unique("kb") for _ in range(1000)]
    attempts = members * 2
    random.Random(8).shuffle(attempts)
    # Several clients: refills of one bucket are shared per client, not across them.
    clients = [create_client(get_settings().redis_url) for _ in range(4)]
    try:
        gate = asyncio.Semaphore(160)  # the clients' pools hold 4 x 64 connections

        async def one(i: int, member: str) -> list[Any]:
            async with gate:
                return await claim_in_bucket(clients[i % 4], scripts, cid, 8, member)

        results = await asyncio.gather(*(one(i, m) for i, m in enumerate(attempts)))
    finally:
        for c in clients:
            await c.aclose()
    granted = [r for r in results if r[0] == 1]
    assert len(granted) == 300
    reasons = Counter(r[1] for r in results if r[0] == 0)
    assert set(reasons) <= {b"sold_out", b"limit_reached"}, reasons
    level = await levels(redis_client, cid, 8)
    assert level.remaining == [0] * 8 and level.in_flight == [0] * 8
    held: Counter[str] = Counter()
    for slot in slots(cid, 8):
        for member, count in (await redis_client.hgetall(keys.members_key(slot))).items():
            assert keys.bucket_id(cid, keys.bucket_of(member.decode(), 8)) == slot
            held[member.decode()] += int(count)
    assert sum(held.values()) == 300 and max(held.values()) == 1
    read = await client.get(f"/v1/campaigns/{cid}", headers=auth["admin"])
    assert read.json()["stats"]["remaining"] == 0 and read.json()["stats"]["claimed"] == 300
    await drop_streams(redis_client, cid, 8)


async def test_concurrent_refills_conserve_the_stock(
    client: Client, auth: Auth, redis_client: redis.Redis
) -> None:
    if keys.is_cluster(redis_client):
        pytest.skip("an atomic snapshot of every bucket needs one node")
    campaign = await live_campaign(client, auth["admin"], stock=1000, buckets=8)
    cid, scripts = campaign["id"], Scripts()
    # All the stock in bucket 0, the others dry: every refill moves some.
    for b, slot in enumerate(slots(cid, 8)):
        await redis_client.hset(keys.meta_key(slot), "remaining", 1000 if b == 0 else 0)
    clients = [create_client(get_settings().redis_url) for _ in range(6)]
    sums: list[int] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            sums.append(await snapshot_total(redis_client, cid, 8))
            await asyncio.sleep(0)

    sampler = asyncio.create_task(sample())
    try:
        # Only refills and moves run: the total must stay 1000 in every snapshot.
        results = await asyncio.gather(
            *(refill(clients[i % 6], scripts, cid, 1 + i % 7, 8) for i in range(60))
        )
    finally:
        stop.set()
        await sampler
        for c in clients:
            await c.aclose()
    assert all(results)
    assert sums and set(sums) == {1000}, Counter(sums)
    level = await levels(redis_client, cid, 8)
    assert sum(level.remaining) == 1000 and level.in_flight == [0] * 8
    assert level.remaining[0] < 1000 and sum(level.remaining[1:]) > 0, level.remaining


async def test_a_crash_between_take_and_give_is_finished_by_recovery(
    client: Client, auth: Auth, redis_client: redis.Redis, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=80, buckets=4)
    cid, scripts = campaign["id"], Scripts()
    source, target = keys.bucket_id(cid, 1), keys.bucket_id(cid, 3)
    before = await levels(redis_client, cid, 4)
    # What `move` does before it dies: the mark, then the take; no give, no done.
    await redis_client.zadd(keys.LEDGER_ACTIVE_KEY, {f"move:{source}": before.now_ms - 60_000})
    taken, _epoch = await scripts.move_take(
        redis_client, [keys.meta_key(source), keys.moves_key(source)], ["crash-1", 7, target]
    )
    assert taken == 7
    mid = await levels(redis_client, cid, 4)
    assert mid.in_flight[1] == 7 and mid.total_remaining == 80
    read = await client.get(f"/v1/campaigns/{cid}", headers=auth["admin"])
    assert read.json()["stats"]["remaining"] == 80, "in flight still counts as remaining"
    live = await client.get(f"/v1/campaigns/{cid}/live", headers=auth["admin"])
    assert live.json()["remaining"] == 80
    # The recovery loop finishes it and forgets the mark.
    await recover(db, redis_client, 5000)
    after = await levels(redis_client, cid, 4)
    assert after.in_flight == [0] * 4 and after.total_remaining == 80
    assert after.remaining[3] == before.remaining[3] + 7
    assert after.remaining[1] == before.remaining[1] - 7
    assert await redis_client.zscore(keys.LEDGER_ACTIVE_KEY, f"move:{source}") is None
    # A second give of the same move (a recovery racing the refill) gives nothing.
    assert (
        await scripts.move_give(
            redis_client, [keys.meta_key(target), keys.applied_key(target)], ["crash-1", 7, _epoch]
        )
        == 1
    )
    assert (await levels(redis_client, cid, 4)).remaining == after.remaining
    # recover_moves (reconcile's) does the same for a move left without a mark.
    await scripts.move_take(
        redis_client, [keys.meta_key(source), keys.moves_key(source)], ["crash-2", 3, target]
    )
    assert await recover_moves(redis_client, scripts, cid, 4) == 1
    assert (await levels(redis_client, cid, 4)).total_remaining == 80


async def test_stock_up_and_down_with_4_buckets(
    client: Client, auth: Auth, redis_client: redis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=100, buckets=4)
    cid = campaign["id"]

    async def change(delta: int) -> Any:
        return await client.post(
            f"/v1/campaigns/{cid}/stock", json={"delta": delta}, headers=auth["admin"]
        )

    up = await change(20)
    assert up.status_code == 200 and up.json() == {"stock_total": 120, "remaining": 120}
    assert (await levels(redis_client, cid, 4)).remaining[0] == 45  # the rise lands in bucket 0
    down = await change(-90)
    assert down.status_code == 200 and down.json() == {"stock_total": 30, "remaining": 30}
    level = await levels(redis_client, cid, 4)
    assert sum(level.remaining) == 30 and min(level.remaining) >= 0
    too_far = await change(-31)
    assert too_far.status_code == 409 and too_far.json()["code"] == "stock_below_claimed"
    assert sum((await levels(redis_client, cid, 4)).remaining) == 30, "a refusal puts back"
    read = await client.get(f"/v1/campaigns/{cid}", headers=auth["admin"])
    assert read.json()["stock"] == 30 and read.json()["stats"]["remaining"] == 30
    # Claims take some of it (3 claimed): the floor is what is claimed.
    scripts = Scripts()
    for _ in range(3):
        assert (await claim_in_bucket(redis_client, scripts, cid, 4, unique("sd")))[0] == 1
    assert (await change(-28)).json()["code"] == "stock_below_claimed"
    assert (await change(-27)).json() == {"stock_total": 3, "remaining": 0}
    await drop_streams(redis_client, cid, 4)


async def test_stats_and_the_live_view_sum_the_buckets(
    client: Client, auth: Auth, redis_client: redis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=40, buckets=4)
    cid, scripts = campaign["id"], Scripts()
    members = [unique("sv") for _ in range(12)]
    for member in members:
        assert (await claim_in_bucket(redis_client, scripts, cid, 4, member))[0] == 1
    again = await claim_in_bucket(redis_client, scripts, cid, 4, members[0])
    assert again == [0, b"limit_reached"]
    read = await client.get(f"/v1/campaigns/{cid}", headers=auth["admin"])
    assert read.json()["stats"]["remaining"] == 28 and read.json()["stats"]["claimed"] == 12
    listed = await client.get("/v1/campaigns?limit=200", headers=auth["admin"])
    [row] = [c for c in listed.json()["campaigns"] if c["id"] == cid]
    assert row["stats"]["remaining"] == 28
    live = await client.get(f"/v1/campaigns/{cid}/live", headers=auth["admin"])
    assert live.status_code == 200, live.text
    body = live.json()
    assert (body["stock_total"], body["remaining"], body["claimed"]) == (40, 28, 12)
    assert body["refusals"] == {"limit_reached": 1}
    await drop_streams(redis_client, cid, 4)


async def test_a_4_bucket_campaign_is_rebuilt_from_postgres(
    client: Client, auth: Auth, redis_client: redis.Redis, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=40, per_member_limit=2, buckets=4)
    cid, scripts = campaign["id"], Scripts()
    members = [unique("rb") for _ in range(6)]
    rows = [
        LedgerRow(
            code=f"RB{uuid.uuid4().hex[:10].upper()}",
            campaign_id=cid,
            member_id=member,
            claimed_ms=1_700_000_000_000,
            from_ms=1_700_000_000_000,
            until_ms=1_800_000_000_000,
            channel="online",
            source="claim",
        )
        for member in members + members[:4]
    ]
    await write_rows(db, rows)  # 10 coupons in the ledger that Redis never counted
    # Redis in a mess: bucket 2 lost, bucket 1 with too much, a move in flight.
    await redis_client.delete(keys.meta_key(keys.bucket_id(cid, 2)))
    await redis_client.hset(keys.meta_key(keys.bucket_id(cid, 1)), "remaining", 999)
    await scripts.move_take(
        redis_client,
        [keys.meta_key(keys.bucket_id(cid, 3)), keys.moves_key(keys.bucket_id(cid, 3))],
        ["lost-move", 2, keys.bucket_id(cid, 0)],
    )
    report = await rebuild_campaigns(db, redis_client, scripts, [cid])
    assert report, "the rebuild reports what it changed"
    level = await levels(redis_client, cid, 4)
    assert sorted(level.remaining) == [7, 7, 8, 8] and level.in_flight == [0] * 4
    want: dict[str, Counter[str]] = {slot: Counter() for slot in slots(cid, 4)}
    for row in rows:
        want[keys.bucket_id(cid, keys.bucket_of(row.member_id, 4))][row.member_id] += 1
    for slot in slots(cid, 4):
        held = await redis_client.hgetall(keys.members_key(slot))
        assert {m.decode(): int(n) for m, n in held.items()} == dict(want[slot])
        meta = await redis_client.hgetall(keys.meta_key(slot))
        assert meta[b"status"] == b"live" and not meta[b"run_id"].startswith(b"rebuild:")
    # The move taken before the rebuild is void: giving it now adds nothing.
    target = keys.bucket_id(cid, 0)
    assert (
        await scripts.move_give(
            redis_client, [keys.meta_key(target), keys.applied_key(target)], ["lost-move", 2, "old"]
        )
        == 0
    )
    read = await client.get(f"/v1/campaigns/{cid}", headers=auth["admin"])
    assert read.json()["stats"]["remaining"] == 30
    # Up to date now: a rebuild that is not forced leaves it alone.
    assert await rebuild_campaigns(db, redis_client, scripts, [cid]) == []
    assert stock_buckets.split(30, 4) == [8, 8, 7, 7]


async def test_the_api_race_on_8_buckets_sells_exactly_the_stock_and_alerts_sold_out_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """The claim service's own answer to `bucket_dry` (refill, claim again; sold_out only when
    every bucket is out), through the API: 2,000 claims of 1,000 members on stock 300."""
    campaign = await live_campaign(client, auth["admin"], stock=300, per_member_limit=1, buckets=8)
    cid = campaign["id"]
    members = [unique("ka") for _ in range(1000)]
    attempts = members * 2
    random.Random(81).shuffle(attempts)
    gate = asyncio.Semaphore(200)

    async def claim(member: str) -> tuple[int, str]:
        async with gate:
            answer = await client.post(
                f"/v1/campaigns/{cid}/claims",
                json={"member_id": member, "channel": "online"},
                headers=auth["front"],
            )
        code = answer.json()["code"] if answer.status_code >= 400 else ""
        return answer.status_code, code

    answers = await asyncio.gather(*(claim(m) for m in attempts))
    by_status = Counter(status for status, _ in answers)
    assert set(by_status) <= {201, 409}, by_status  # no 503: a dry bucket is refilled in time
    assert by_status[201] == 300
    assert set(code for status, code in answers if status == 409) <= {"sold_out", "limit_reached"}
    rows = await db.fetch("SELECT member_id FROM coupons WHERE campaign_id = $1", cid)
    assert len(rows) == 300 and len({r["member_id"] for r in rows}) == 300
    stock = (await client.get(f"/claim/{cid}/stock")).json()
    assert stock["remaining"] == 0
    for _ in range(100):  # the alert is written beside the answers
        alerts = await db.fetchval(
            "SELECT count(*) FROM events WHERE campaign_id = $1 AND kind = 'sold_out'", cid
        )
        if alerts:
            break
        await asyncio.sleep(0.05)
    assert alerts == 1


async def test_a_new_clients_first_command_may_be_a_pipelined_read(
    client: Client, auth: Auth
) -> None:
    """On a cluster, a client's slot table is filled on first use: a pipelined read (grouped
    by node) as the first command must fill it too (it once found no node for any key)."""
    campaign = await live_campaign(client, auth["admin"], stock=10, buckets=4)
    fresh = create_client(get_settings().redis_url)
    try:
        level = await levels(fresh, campaign["id"], 4)
    finally:
        await fresh.aclose()
    assert level.status == "live" and level.total_remaining == 10
