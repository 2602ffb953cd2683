"""The Redis client under a spike, and the hot-path pipelining helper."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from redis.exceptions import ResponseError

from gateway.settings import get_settings
from gateway.store.redis import create_client, pipelined


async def test_a_spike_beyond_the_pool_waits_instead_of_failing() -> None:
    client = create_client(get_settings().redis_url)
    try:
        # 64 connections at most; 500 callers at once must queue, not raise MaxConnectionsError.
        replies = await asyncio.gather(*(client.ping() for _ in range(500)))
        assert all(replies)
    finally:
        await client.aclose()


async def test_pipelined_returns_each_reply_in_place_errors_included() -> None:
    client = create_client(get_settings().redis_url)
    try:
        await client.delete("pipelined:n")
        replies = await pipelined(
            client, [("INCR", "pipelined:n"), ("NOSUCHCOMMAND",), ("INCR", "pipelined:n")]
        )
        assert replies[0] == 1 and replies[2] == 2
        assert isinstance(replies[1], ResponseError)
    finally:
        await client.delete("pipelined:n")
        await client.aclose()


async def test_a_batch_holding_a_claim_twice_writes_one_coupon_and_one_event(
    client: Any, auth: dict[str, dict[str, str]], db: asyncpg.Pool
) -> None:
    from gateway.native import new_code
    from gateway.store.ledger import LedgerRow, write_rows
    from tests.conftest import live_campaign

    campaign = await live_campaign(client, auth["admin"])
    row = LedgerRow(new_code(), campaign["id"], "m-twice", 1, 1, 2, "online", "claim", "k-1")
    replay = LedgerRow(row.code, campaign["id"], "m-twice", 1, 1, 2, "online", "claim", "k-1")
    await write_rows(db, [row, replay])
    await write_rows(db, [replay])  # and a later replay changes nothing either
    coupons = await db.fetchval("SELECT count(*) FROM coupons WHERE code = $1", row.code)
    events = await db.fetchval("SELECT count(*) FROM events WHERE coupon_code = $1", row.code)
    assert (coupons, events) == (1, 1)
