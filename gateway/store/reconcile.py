"""Rebuilding a campaign's Redis counters from the ledger (Postgres is the source of truth).

A campaign's hot state is rebuilt when the claim script finds it was built for another Redis
run (a restart whose AOF may lack its last second) or finds none at all (a Redis that lost its
data), lazily, by the first claim that meets it; and for every published campaign by
`gateway reconcile`. A rebuild:

1. takes the campaign's lease (`begin_rebuild.lua` on its bucket 0, then on each other bucket,
   which adopts the same lease): from then on its claims are refused (`stale_hot_state`, 503
   to the caller), no stock move takes or gives, and no other worker rebuilds it;
2. waits at the ledger fence (`fence.py`) until no live worker holds a claim of it that is not
   in Postgres yet, whichever worker it is;
3. drains the streams of its buckets (entries a dead worker left) into Postgres;
4. counts the ledger, splits the members' counts by bucket (`bucket_of`) and the remaining stock
   evenly, stages each bucket's counts under a key of the lease and swaps them in with its meta
   hash at once (`finish_rebuild.lua`, which drops the bucket's move logs: a new epoch voids
   the moves taken before), bucket 0 last; each swap lets that bucket's claims through again.
   A rebuild that dies half way leaves bucket 0 leased; the finished buckets hold only their
   share, so the sum never exceeds the stock.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import asyncpg
import redis.asyncio as redis

from gateway.settings import get_settings
from gateway.store import buckets as stock_buckets
from gateway.store import redis as keys
from gateway.store.buckets import recover_moves
from gateway.store.fence import wait_at_fence
from gateway.store.hot_state import hot_state, redis_run_id
from gateway.store.ledger import recover_all, recover_campaign
from gateway.store.redis import Scripts

log = logging.getLogger(__name__)

PUBLISHED = "SELECT id, buckets FROM campaigns WHERE status <> 'draft' ORDER BY id"
CAMPAIGN = "SELECT * FROM campaigns WHERE id = $1"
CAMPAIGN_BUCKETS = "SELECT id, buckets FROM campaigns WHERE id = ANY($1::text[])"
MEMBER_COUNTS = """
SELECT member_id, count(*) AS held FROM coupons
WHERE campaign_id = $1 AND source IN ('claim', 'grant') GROUP BY member_id
"""

#: How long a rebuild's lease keeps other workers from starting the same rebuild.
LEASE_MS = 30_000
_STAGE_TTL_S = 300


async def reconcile(pool: asyncpg.Pool, client: redis.Redis) -> list[str]:
    """Drains every stream, finishes the stock moves left in flight, then rebuilds every
    published campaign's hot state from the ledger (each refuses claims, 503, for the short
    while it takes); one report line per difference."""
    drained = await recover_all(pool, client)
    report = [f"drained {drained} stream entries into the ledger"] if drained else []
    rows = await pool.fetch(PUBLISHED)
    scripts = Scripts()
    for row in rows:
        if row["buckets"] > 1:
            await recover_moves(client, scripts, row["id"], row["buckets"])
    ids = [r["id"] for r in rows]
    report += await rebuild_campaigns(pool, client, scripts, ids, force=True)
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
    """Rebuilds the hot state of `campaign_ids` that need it (all of them with `force`): every
    bucket of a campaign together, under the lease of its bucket 0."""
    settings = get_settings()
    sizes = {r["id"]: r["buckets"] for r in await pool.fetch(CAMPAIGN_BUCKETS, campaign_ids)}
    leases: dict[str, str] = {}
    for campaign_id in campaign_ids:
        lease = await _begin(client, scripts, campaign_id, sizes.get(campaign_id, 1), force)
        if lease is not None:
            leases[campaign_id] = lease
    if not leases:
        return []
    # The pipelines report slot names or campaign ids in flight: the fence waits for both.
    held = [s for c in leases for s in {c, *stock_buckets.slots(c, sizes.get(c, 1))}]
    await wait_at_fence(pool, held, settings.worker_dead_after_s, settings.rebuild_timeout_s)
    report: list[str] = []
    for campaign_id, lease in leases.items():
        report += await _rebuild(
            pool, client, scripts, campaign_id, sizes.get(campaign_id, 1), lease
        )
    return report


async def _begin(
    client: redis.Redis, scripts: Scripts, campaign_id: str, buckets: int, force: bool
) -> str | None:
    """Takes the campaign's lease (bucket 0's), then has its other buckets adopt it; None when
    there is nothing to rebuild or another worker holds the lease."""
    if buckets > 1 and not force:
        force = await _any_stale(client, campaign_id, buckets)
    began, lease = await scripts.begin_rebuild(
        client,
        [keys.meta_key(campaign_id)],
        ["1" if force else "0", LEASE_MS, secrets.token_hex(6)],
    )
    if began != 1:
        return None
    lease = lease.decode()
    for slot in stock_buckets.slots(campaign_id, buckets)[1:]:
        await scripts.begin_rebuild(client, [keys.meta_key(slot)], ["1", LEASE_MS, "", lease])
    return str(lease)


async def _any_stale(client: redis.Redis, campaign_id: str, buckets: int) -> bool:
    """Whether a bucket other than 0 holds no state, or one built for another Redis run (or
    left under the lease of a rebuild that died)."""
    for slot in stock_buckets.slots(campaign_id, buckets)[1:]:
        meta = keys.meta_key(slot)
        run_id, status = await client.hmget(meta, "run_id", "status")
        if status is None or run_id is None:
            return True
        have = run_id.decode() if isinstance(run_id, bytes) else run_id
        if await redis_run_id(client, meta) not in have.split(","):  # gateway move-slot's list
            return True
    return False


async def _rebuild(
    pool: asyncpg.Pool,
    client: redis.Redis,
    scripts: Scripts,
    campaign_id: str,
    buckets: int,
    lease: str,
) -> list[str]:
    names = stock_buckets.slots(campaign_id, buckets)
    drained = 0
    for slot in names:
        drained += await recover_campaign(pool, client, slot)
    row = await pool.fetchrow(CAMPAIGN, campaign_id)
    if row is None:
        return []
    counts: list[dict[str, int]] = [{} for _ in names]
    for r in await pool.fetch(MEMBER_COUNTS, campaign_id):
        counts[keys.bucket_of(r["member_id"], buckets)][r["member_id"]] = r["held"]
    claimed = sum(sum(c.values()) for c in counts)
    shares = stock_buckets.split(row["stock_total"] - claimed, buckets)
    epoch = secrets.token_hex(6)
    before = await stock_buckets.totals(client, campaign_id, buckets)
    # Bucket 0, the campaign's lease, last: a rebuild that dies half way leaves it leased, so
    # the next one redoes every bucket; a bucket finished already holds only its share.
    for bucket in reversed(range(buckets)):
        state = hot_state(row, claimed, bucket=bucket, remaining=shares[bucket], epoch=epoch)
        if not await _finish(client, scripts, names[bucket], lease, counts[bucket], state):
            return [f"{campaign_id}: another rebuild took over"]
    report = [f"{campaign_id}: drained {drained} stream entries"] if drained else []
    after = [str(row["stock_total"]), str(row["stock_total"] - claimed)]
    for name, have, want in zip(("stock_total", "remaining"), before, after, strict=True):
        if have is None or have.decode() != want:
            report.append(f"{campaign_id}: {name} was {have!r}, now {want}")
    return report


async def _finish(
    client: redis.Redis,
    scripts: Scripts,
    slot: str,
    lease: str,
    counts: dict[str, int],
    state: dict[str, Any],
) -> bool:
    """Stages the bucket's member counts under the lease and swaps them in with its meta."""
    staged = keys.staged_members_key(slot, lease)
    if counts:
        items = list(counts.items())
        async with client.pipeline(transaction=False) as pipe:
            pipe.delete(staged)
            for start in range(0, len(items), 1000):
                pipe.hset(staged, mapping=dict(items[start : start + 1000]))
            pipe.expire(staged, _STAGE_TTL_S)
            await pipe.execute()
    fields: list[Any] = []
    for name, value in state.items():
        if name != "run_id":
            fields += [name, value]
    swapped = await scripts.finish_rebuild(
        client,
        [
            keys.meta_key(slot),
            keys.members_key(slot),
            staged,
            keys.moves_key(slot),
            keys.applied_key(slot),
        ],
        [lease, int(bool(counts)), *fields],
    )
    return bool(swapped)
