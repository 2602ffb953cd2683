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

from gateway.campaigns.services import hot_state
from gateway.store import redis as keys
from gateway.store.ledger import recover

log = logging.getLogger(__name__)

PUBLISHED = "SELECT * FROM campaigns WHERE status <> 'draft' ORDER BY id"
MEMBER_COUNTS = """
SELECT member_id, count(*) AS held FROM coupons
WHERE campaign_id = $1 AND source IN ('claim', 'grant') GROUP BY member_id
"""


async def reconcile(pool: asyncpg.Pool, client: redis.Redis) -> list[str]:
    """Repairs the hot state; returns one line per difference found."""
    drained = await recover(pool, client, 0)
    report = [f"drained {drained} stream entries into the ledger"] if drained else []
    for row in await pool.fetch(PUBLISHED):
        campaign_id = row["id"]
        counts = {r["member_id"]: r["held"] for r in await pool.fetch(MEMBER_COUNTS, campaign_id)}
        claimed = sum(counts.values())
        expected = hot_state(row, claimed)
        meta = keys.meta_key(campaign_id)
        current = await client.hgetall(meta)
        flags = current.get(b"flags", b"0")
        for field in ("status", "stock_total", "remaining"):
            have = current.get(field.encode())
            want = str(expected[field]).encode()
            if have != want:
                report.append(f"{campaign_id}: {field} was {have!r}, now {want.decode()}")
        mapping: Any = {**expected, "flags": flags}
        await client.hset(meta, mapping=mapping)
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
    for line in report:
        log.warning("reconcile: %s", line)
    return report
