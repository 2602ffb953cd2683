"""Rebuilding a campaign's Redis counters from the ledger (Postgres is the source of truth).

A campaign's hot state is rebuilt when the claim script finds it was built for another Redis
run (a restart whose AOF may lack its last second) or finds none at all (a Redis that lost its
data), lazily, by the first claim that meets it; and for every published campaign by
`gateway reconcile`. A rebuild:

1. takes the campaign's lease (`begin_rebuild.lua`): from then on its claims are refused
   (`stale_hot_state`, 503 to the caller) and no other worker rebuilds it;
2. waits at the ledger fence (`fence.py`) until no live worker holds a claim of it that is not
   in Postgres yet, whichever worker it is;
3. drains the campaign's stream (entries a dead worker left) into Postgres;
4. counts the ledger, stages the members' counts under a key of the lease, and swaps them in
   with the meta hash at once (`finish_rebuild.lua`), which lets claims through again.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import asyncpg
import redis.asyncio as redis

from gateway.settings import get_settings
from gateway.store import redis as keys
from gateway.store.fence import wait_at_fence
from gateway.store.hot_state import hot_state
from gateway.store.ledger import recover_all, recover_campaign
from gateway.store.redis import Scripts

log = logging.getLogger(__name__)

PUBLISHED = "SELECT id FROM campaigns WHERE status <> 'draft' ORDER BY id"
CAMPAIGN = "SELECT * FROM campaigns WHERE id = $1"
MEMBER_COUNTS = """
SELECT member_id, count(*) AS held FROM coupons
WHERE campaign_id = $1 AND source IN ('claim', 'grant') GROUP BY member_id
"""

#: How long a rebuild's lease keeps other workers from starting the same rebuild.
LEASE_MS = 30_000
_STAGE_TTL_S = 300


async def reconcile(pool: asyncpg.Pool, client: redis.Redis) -> list[str]:
    """Drains every stream, then rebuilds every published campaign's hot state from the ledger
    (each refuses claims, 503, for the short while it takes); one report line per difference."""
    drained = await recover_all(pool, client)
    report = [f"drained {drained} stream entries into the ledger"] if drained else []
    ids = [r["id"] for r in await pool.fetch(PUBLISHED)]
    report += await rebuild_campaigns(pool, client, Scripts(), ids, force=True)
    for line in report:
        log.warning("reconcile: %s", line)
    return report


async def rebuild_campaigns(
    pool: asyncpg.Pool,
    client: redis.Redis,
    scripts: Scripts,
    campaign_ids: list[str],
    *,
    force: bool = False,
) -> list[str]:
    """Rebuilds the hot state of `campaign_ids` that need it (all of them with `force`)."""
    settings = get_settings()
    leases: dict[str, str] = {}
    for campaign_id in campaign_ids:
        began, lease = await scripts.begin_rebuild(
            client,
            [keys.meta_key(campaign_id)],
            ["1" if force else "0", LEASE_MS, secrets.token_hex(6)],
        )
        if began == 1:
            leases[campaign_id] = lease.decode()
    if not leases:
        return []
    await wait_at_fence(
        pool, list(leases), settings.worker_dead_after_s, settings.rebuild_timeout_s
    )
    report: list[str] = []
    for campaign_id, lease in leases.items():
        report += await _rebuild(pool, client, scripts, campaign_id, lease)
    return report


async def _rebuild(
    pool: asyncpg.Pool, client: redis.Redis, scripts: Scripts, campaign_id: str, lease: str
) -> list[str]:
    drained = await recover_campaign(pool, client, campaign_id)
    row = await pool.fetchrow(CAMPAIGN, campaign_id)
    if row is None:
        return []
    counts = {r["member_id"]: r["held"] for r in await pool.fetch(MEMBER_COUNTS, campaign_id)}
    expected = hot_state(row, sum(counts.values()))
    meta = keys.meta_key(campaign_id)
    staged = keys.staged_members_key(campaign_id, lease)
    if counts:
        items = list(counts.items())
        async with client.pipeline(transaction=False) as pipe:
            pipe.delete(staged)
            for start in range(0, len(items), 1000):
                pipe.hset(staged, mapping=dict(items[start : start + 1000]))
            pipe.expire(staged, _STAGE_TTL_S)
            await pipe.execute()
    before: list[Any] = await client.hmget(meta, "remaining", "stock_total", "status")
    fields: list[Any] = []
    for name, value in expected.items():
        if name != "run_id":
            fields += [name, value]
    swapped = await scripts.finish_rebuild(
        client, [meta, keys.members_key(campaign_id), staged], [lease, int(bool(counts)), *fields]
    )
    if not swapped:
        return [f"{campaign_id}: another rebuild took over"]
    report = [f"{campaign_id}: drained {drained} stream entries"] if drained else []
    after = [str(expected["remaining"]), str(expected["stock_total"]), str(expected["status"])]
    for name, have, want in zip(("remaining", "stock_total", "status"), before, after, strict=True):
        if have is None or have.decode() != want:
            report.append(f"{campaign_id}: {name} was {have!r}, now {want}")
    return report
