"""`gateway reconcile`: Postgres is the source of truth; rebuild the Redis counters from it.

First the streams are drained into Postgres (coupons a dead worker left behind), then for every
published campaign the hot state is compared with the ledger: remaining = stock_total - claimed,
and each member's count of claimed coupons. Differences are reported and repaired.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import redis.asyncio as redis

from gateway.campaigns.services import hot_state, redis_run_id
from gateway.store import redis as keys
from gateway.store.ledger import recover

log = logging.getLogger(__name__)

PUBLISHED = "SELECT * FROM campaigns WHERE status <> 'draft' ORDER BY id"
CAMPAIGN = "SELECT * FROM campaigns WHERE id = $1"
MEMBER_COUNTS = """
SELECT member_id, count(*) AS held FROM coupons
WHERE campaign_id = $1 AND source IN ('claim', 'grant') GROUP BY member_id
"""


async def reconcile(pool: asyncpg.Pool, client: redis.Redis) -> list[str]:
    """Repairs the hot state of every published campaign; one report line per difference."""
    drained = await recover(pool, client, 0)
    report = [f"drained {drained} stream entries into the ledger"] if drained else []
    run_id = await redis_run_id(client)
    for row in await pool.fetch(PUBLISHED):
        report += await _rebuild(pool, client, row, run_id)
    for line in report:
        log.warning("reconcile: %s", line)
    return report


async def reconcile_campaign(pool: asyncpg.Pool, client: redis.Redis, campaign_id: str) -> None:
    """Rebuilds one campaign's hot state, e.g. after the claim script found it stale."""
    row = await pool.fetchrow(CAMPAIGN, campaign_id)
    if row is None or row["status"] == "draft":
        return
    for line in await _rebuild(pool, client, row, await redis_run_id(client)):
        log.warning("reconcile: %s", line)


async def _rebuild(
    pool: asyncpg.Pool, client: redis.Redis, row: asyncpg.Record, run_id: str
) -> list[str]:
    campaign_id = row["id"]
    report: list[str] = []
    counts = {r["member_id"]: r["held"] for r in await pool.fetch(MEMBER_COUNTS, campaign_id)}
    expected = hot_state(row, sum(counts.values()), run_id)
    members = keys.members_key(campaign_id)
    raw: dict[bytes, bytes] = await client.hgetall(members)  # type: ignore[assignment]  # bytes: no decoding
    held = {k.decode(): int(v) for k, v in raw.items()}
    if held != counts:
        wrong = sum(1 for m in set(held) | set(counts) if held.get(m) != counts.get(m))
        report.append(f"{campaign_id}: {wrong} member counts differed, rebuilt")
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(members)
            items = list(counts.items())
            for start in range(0, len(items), 1000):
                pipe.hset(members, mapping=dict(items[start : start + 1000]))
            await pipe.execute()
    # The meta hash last: its run id is what lets claims through again.
    meta = keys.meta_key(campaign_id)
    current = await client.hgetall(meta)
    for field in ("status", "stock_total", "remaining", "run_id"):
        have = current.get(field.encode())
        want = str(expected[field]).encode()
        if have != want:
            report.append(f"{campaign_id}: {field} was {have!r}, now {want.decode()}")
    mapping: Any = {**expected, "flags": current.get(b"flags", b"0")}
    await client.hset(meta, mapping=mapping)
    return report
