"""The live view's counters (one pipelined Redis read per request, no Postgres once
published) and a campaign's conversion funnel (the ledger's counts behind its stats)."""

from __future__ import annotations

from typing import Any

import asyncpg
import redis.asyncio as redis

from gateway.campaigns.services import CAMPAIGN_COUNTS
from gateway.clock import Clock
from gateway.console.schemas import Funnel, Live
from gateway.errors import CampaignNotFound
from gateway.store import buckets as stock_buckets
from gateway.store import redis as keys
from gateway.wire import iso

DRAFT_STOCK = "SELECT status, stock_total FROM campaigns WHERE id = $1"
CAMPAIGN_EXISTS = "SELECT 1 FROM campaigns WHERE id = $1"


async def live(pool: asyncpg.Pool, client: redis.Redis, clock: Clock, campaign_id: str) -> Live:
    """The campaign's counters from its meta hash and its refusals hash, read in one round
    trip (two for a campaign of K > 1 buckets: the others' remaining, moves in flight and
    refusals, summed). A campaign without hot state (a draft, or an unknown id: 404) is read
    from Postgres; a watched sale never is."""
    meta, refusals = await keys.pipelined(
        client,
        [
            ("HMGET", keys.meta_key(campaign_id), "status", "stock_total", "remaining", "buckets"),
            ("HGETALL", keys.refusals_key(campaign_id)),
        ],
    )
    for reply in (meta, refusals):
        if isinstance(reply, Exception):
            raise reply
    at = iso(clock.now())
    status, stock_total, remaining, buckets_field = meta
    counts = _counts(refusals)
    buckets = int(buckets_field or 1)
    if buckets > 1 and stock_total is not None:
        reads = stock_buckets.totals_commands(campaign_id, buckets)
        others = [
            ("HGETALL", keys.refusals_key(slot))
            for slot in stock_buckets.slots(campaign_id, buckets)[1:]
        ]
        replies = await keys.pipelined(client, reads + others)
        stock_total, remaining = await stock_buckets.totals_of(client, replies[: len(reads)])
        for reply in replies[len(reads) :]:
            if isinstance(reply, Exception):
                raise reply
            for reason, count in _counts(reply).items():
                counts[reason] = counts.get(reason, 0) + count
        counts = dict(sorted(counts.items()))
    if status is None or stock_total is None:
        row = await pool.fetchrow(DRAFT_STOCK, campaign_id)
        if row is None:
            raise CampaignNotFound(f"campaign {campaign_id!r} does not exist")
        total = int(row["stock_total"])
        return Live(
            campaign_id=campaign_id,
            status=row["status"],
            stock_total=total,
            remaining=total,
            claimed=0,
            refusals={},
            at=at,
        )
    total, left = int(stock_total), int(remaining)
    return Live(
        campaign_id=campaign_id,
        status=status.decode(),
        stock_total=total,
        remaining=left,
        claimed=total - left,
        refusals=counts,
        at=at,
    )


def _counts(reply: Any) -> dict[str, int]:
    """HGETALL's reply (a flat list on the raw connection, a dict through redis-py's
    callbacks) as reason -> count."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): int(v)
        for k, v in sorted(pairs, key=lambda kv: kv[0])
    }


async def funnel(pool: asyncpg.Pool, campaign_id: str) -> Funnel:
    """The campaign's funnel from the same ledger counts as its stats (`CAMPAIGN_COUNTS`):
    claimed coupons, then the orders that reserved one, then those committed with one."""
    async with pool.acquire() as conn:
        if await conn.fetchval(CAMPAIGN_EXISTS, campaign_id) is None:
            raise CampaignNotFound(f"campaign {campaign_id!r} does not exist")
        counts = await conn.fetchrow(CAMPAIGN_COUNTS, campaign_id)
    reserved, committed = counts["reservations"], counts["converted"]
    return Funnel(
        campaign_id=campaign_id,
        claimed=counts["claimed"],
        reserved=reserved,
        committed=committed,
        conversion_rate=round(committed / reserved, 4) if reserved else None,
    )
