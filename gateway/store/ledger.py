"""The ledger: how coupons reach Postgres, and the recovery of what a dead worker left.

The claim script's stream entry is the crash log. The worker that ran the script already holds
the claim in memory, so its claim pipeline (`native/src/claimpipe`, Rust threads) batches
claims to Postgres with `WRITE_COUPONS` (one statement per batch; replays are harmless thanks
to `ON CONFLICT DO NOTHING`) and then deletes their stream entries. Only recovery, here, reads
the stream back: entries older than a few seconds were left by a worker that died, and are
written with the same statement.

What recovery costs when nobody claims must not grow with the number of campaigns (DESIGN.md
"Idle cost"). So it visits only the campaigns of the active set (`LEDGER_ACTIVE_KEY`): the claim
pipeline marks a campaign there (one `ZADD` per round trip, before its script calls, with Redis's
clock as the score) and recovery takes it off once its stream is empty and the mark is older than
the recovery age (`forget_active.lua`, which leaves a campaign marked again since). An idle tick is
two commands: `TIME` and `ZRANGE`. `gateway reconcile` still drains every campaign
(`recover_all`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis

from gateway.native import WRITE_COUPONS
from gateway.ops.metrics import metrics
from gateway.store import redis as keys
from gateway.store.buckets import MOVE_MARK, finish_moves
from gateway.store.redis import LuaScript, Scripts, redis_now_ms

log = logging.getLogger(__name__)

NON_DRAFT_CAMPAIGNS = "SELECT id, buckets FROM campaigns WHERE status <> 'draft'"

# Longest a recovery batch may take.
_WRITE_TIMEOUT_S = 5.0
# Most stream entries read (and written to Postgres) at once.
_BATCH = 1000
# A mark younger than this is never forgotten, whatever the recovery age: the round trip that
# set it may not have run its script yet.
_QUIET_MS = 1000
# Recovery's own: the background task is given no `Scripts` (loaded on first NOSCRIPT).
_FORGET_ACTIVE = LuaScript("forget_active")
_SCRIPTS = Scripts()


@dataclass(slots=True)
class LedgerRow:
    """One coupon on its way to Postgres."""

    code: str
    campaign_id: str
    member_id: str
    claimed_ms: int
    from_ms: int
    until_ms: int
    channel: str
    source: str
    idem: str = ""
    #: The API key's name the claim/grant event records ("": none).
    actor: str = ""
    stream_id: bytes | None = None


async def recover_forever(
    pool: asyncpg.Pool, client: redis.Redis, interval_s: float, older_than_ms: int
) -> None:
    """Periodically drains stream entries that no live worker is writing; the first pass at
    once, so a restarted gateway writes what its dead predecessor left without delay."""
    while True:
        try:
            async with asyncio.timeout(_WRITE_TIMEOUT_S * 4):
                await recover(pool, client, older_than_ms)
        except Exception as exc:  # noqa: BLE001 - recovery must outlive any failure
            log.warning("ledger recovery failed, will retry: %r", exc)
        await asyncio.sleep(interval_s)


async def write_rows(pool: asyncpg.Pool, rows: list[LedgerRow]) -> None:
    await pool.execute(
        WRITE_COUPONS,
        [r.code for r in rows],
        [r.campaign_id for r in rows],
        [r.member_id for r in rows],
        [r.claimed_ms for r in rows],
        [r.from_ms for r in rows],
        [r.until_ms for r in rows],
        [r.channel for r in rows],
        [r.source for r in rows],
        [r.idem for r in rows],
        [r.actor for r in rows],
    )
    metrics.ledger_batches += 1
    metrics.ledger_rows += len(rows)


def row_from_entry(campaign_id: str, entry_id: bytes, fields: dict[bytes, bytes]) -> LedgerRow:
    return LedgerRow(
        code=fields[b"c"].decode(),
        campaign_id=campaign_id,
        member_id=fields[b"m"].decode(),
        claimed_ms=int(fields[b"t"]),
        from_ms=int(fields[b"f"]),
        until_ms=int(fields[b"u"]),
        channel=fields[b"h"].decode(),
        source=fields[b"s"].decode(),
        actor=fields.get(b"a", b"").decode(),
        stream_id=entry_id,
    )


async def recover(pool: asyncpg.Pool, client: redis.Redis, older_than_ms: int) -> int:
    """Writes and deletes the stream entries older than `older_than_ms` of the slots (campaign
    buckets) in the active set, finishes the stock moves of the buckets marked `move:<slot>`
    (`buckets.py`), and forgets those with nothing left; returns how many entries."""
    now_ms = await redis_now_ms(client)
    upto = max(now_ms - older_than_ms, 0)
    quiet_before = now_ms - max(older_than_ms, _QUIET_MS)
    marked: list[tuple[bytes, float]] = await client.zrange(  # type: ignore[assignment]  # bytes: the client does not decode
        keys.LEDGER_ACTIVE_KEY, 0, -1, withscores=True
    )
    total = 0
    for member, score in marked:
        name = member.decode()
        if name.startswith(MOVE_MARK):
            _done, left = await finish_moves(client, _SCRIPTS, name[len(MOVE_MARK) :])
            if score <= quiet_before and not left:
                await _FORGET_ACTIVE(client, [keys.LEDGER_ACTIVE_KEY], [name, int(score)])
            continue
        total += await _drain(pool, client, name, str(upto))
        if score <= quiet_before and not await client.xlen(keys.ledger_key(name)):
            await _FORGET_ACTIVE(client, [keys.LEDGER_ACTIVE_KEY], [name, int(score)])
    if total:
        log.info("ledger recovery wrote %d entries left in the streams", total)
    return total


async def recover_all(pool: asyncpg.Pool, client: redis.Redis) -> int:
    """Writes and deletes every entry of every non-draft campaign's stream, marked or not
    (`gateway reconcile`, with no worker running); returns how many."""
    total = 0
    for record in await pool.fetch(NON_DRAFT_CAMPAIGNS):
        for bucket in range(record["buckets"]):
            slot = keys.bucket_id(record["id"], bucket)
            total += await recover_campaign(pool, client, slot)
    return total


async def recover_campaign(
    pool: asyncpg.Pool, client: redis.Redis, slot: str, older_than_ms: int = 0
) -> int:
    """Writes and deletes the stream entries of one slot (a campaign's bucket: the campaign id
    for bucket 0) older than `older_than_ms` (0: all)."""
    if older_than_ms <= 0:
        return await _drain(pool, client, slot, "+")
    upto = max(await redis_now_ms(client) - older_than_ms, 0)
    return await _drain(pool, client, slot, str(upto))


async def _drain(pool: asyncpg.Pool, client: redis.Redis, slot: str, upto: str) -> int:
    """Writes and deletes the slot's stream entries up to the id `upto`, a batch at a time,
    with the campaign id of the slot."""
    total = 0
    campaign_id = keys.campaign_of_slot(slot)
    stream = keys.ledger_key(slot)
    while True:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await client.xrange(  # type: ignore[assignment]  # bytes: the client does not decode
            stream, "-", upto, count=_BATCH
        )
        if not entries:
            break
        rows = [row_from_entry(campaign_id, eid, fields) for eid, fields in entries]
        await write_rows(pool, rows)
        await client.xdel(stream, *[r.stream_id for r in rows if r.stream_id])
        total += len(rows)
        if len(entries) < _BATCH:
            break
    return total
