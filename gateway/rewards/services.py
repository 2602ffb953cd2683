"""The rewards worker: due rows of the outbox become point entries and grants, exactly once.

Triggers write `reward_due` rows in their own transactions (012_reward_triggers.sql: a
registration, an order's commit, the scan for birthdays and win-backs). `give_due` leases a
batch of due rows (a short statement; rows another live worker leased are skipped), grants
each row's coupon through the claim pipeline with the key `reward:<id>` outside any
transaction (stock and per-member limits apply; a refusal is recorded with its reason and never
blocks the points), then gives each row in a transaction of its own (`gw_reward_give`, 013):
its points (an entry of kind `reward`), its outcome (`rewards`) and the done mark together.
That transaction waits for one contended lock only, its member's, so it never deadlocks with
checkout (reserves lock coupons, group commits lock members). A worker that dies leaves its
rows leased: when the lease runs out another worker finds the coupons the first one granted in
the ledger (events.idempotency_key), or grants again with the same key, which the claim's
idempotency record answers with the same coupon.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from gateway.claims.services import ClaimService
from gateway.coupons.schemas import Coupon
from gateway.errors import GatewayError, InvalidRequest, MemberNotFound, Unavailable
from gateway.rewards.schemas import Reward, Rewards
from gateway.wire import cursor_place, iso, page_cursor, when

log = logging.getLogger(__name__)

ANY_DUE = "SELECT 1 FROM reward_due WHERE state = 'due' AND due_at <= $1 LIMIT 1"
# A batch of rows due at $1 (the rules' clock) that no live worker holds, leased to this one
# for $3 seconds of the database's own time (a lease is about processes, not rules).
LEASE = """
UPDATE reward_due SET lease_until = now() + make_interval(secs => $3)
WHERE id IN (
    SELECT id FROM reward_due
    WHERE state = 'due' AND due_at <= $1 AND (lease_until IS NULL OR lease_until < now())
    ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
)
RETURNING *
"""
# The coupons keyed grants already wrote (a worker that died before giving its rows).
GRANTED = """
SELECT idempotency_key, coupon_code FROM events
WHERE kind = 'grant' AND idempotency_key = ANY($1::text[])
"""
GIVE = "SELECT gw_reward_give($1, $2, $3, $4, $5)"
SCAN = "SELECT gw_rewards_scan($1, $2)"
MEMBER_EXISTS = "SELECT 1 FROM members WHERE member_id = $1"
MEMBER_REWARDS = """
SELECT id, kind, occasion, at, points, campaign_id, coupon_code, refused, order_id, counterparty
FROM rewards WHERE member_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3
"""


#: How long a worker holds the rows it leased: far longer than a batch's grants take (a
#: second or two under load), short enough that a dead worker's rows wait little.
LEASE_S = 10.0
# How long one pass of the rewards job may give before it lets the worker's other jobs run.
SLICE_S = 5.0


def reward_key(due_id: int) -> str:
    return f"reward:{due_id}"


class RewardService:
    def __init__(self, pool: asyncpg.Pool, claims: ClaimService, zone: str) -> None:
        self.pool = pool
        self.claims = claims
        self.zone = zone

    async def scan(self, now_ms: int) -> int:
        """Makes the birthday and win-back rewards due at `now_ms`; how many rows."""
        made: int = await self.pool.fetchval(SCAN, when(now_ms), self.zone)
        return made

    async def give_due(self, now_ms: int, batch: int = 100, slice_s: float = SLICE_S) -> int:
        """Gives the rewards due at `now_ms`, a batch at a time, for up to `slice_s` seconds
        (the rest stay due for the next pass, so a surge does not hold up the worker's other
        scheduled work); how many. Idle, one indexed read."""
        if await self.pool.fetchval(ANY_DUE, when(now_ms)) is None:
            return 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + slice_s
        total = 0
        while True:
            leased = await self.pool.fetch(LEASE, when(now_ms), batch, LEASE_S)
            if not leased:
                return total
            total += await self._give(sorted(leased, key=lambda row: row["id"]), now_ms)
            if loop.time() >= deadline:
                return total

    async def _give(self, rows: list[asyncpg.Record], now_ms: int) -> int:
        """Grants the leased rows' coupons (no transaction open), then gives each row in a
        transaction of its own (`gw_reward_give`: one contended lock, its member's)."""
        keys = [reward_key(row["id"]) for row in rows if row["campaign_id"]]
        found = dict(await self.pool.fetch(GRANTED, keys)) if keys else {}
        coupons = await asyncio.gather(*(self._coupon(row, found) for row in rows))
        now = when(now_ms)
        given = 0
        for row, (coupon, refused) in zip(rows, coupons, strict=True):
            given += bool(
                await self.pool.fetchval(GIVE, row["id"], coupon, refused, now, self.zone)
            )
        return given

    async def _coupon(
        self, row: asyncpg.Record, found: dict[str, str]
    ) -> tuple[str | None, str | None]:
        """(the coupon granted, or None and the reason it was refused); no campaign: (None,
        None). A backing service that is away raises: the row stays due for the next pass."""
        campaign_id = row["campaign_id"]
        if campaign_id is None:
            return None, None
        key = reward_key(row["id"])
        if key in found:
            return found[key], None
        try:
            coupon: Coupon = await self.claims.grant_keyed(
                campaign_id, row["member_id"], "online", key
            )
        except Unavailable:
            raise
        except GatewayError as refusal:
            return None, refusal.code
        return coupon.code, None

    async def of_member(self, member_id: str, limit: int, before: str | None) -> Rewards:
        """The member's rewards, newest first, `limit` at a time."""
        if not 1 <= limit <= 200:
            raise InvalidRequest("limit: must be 1..200")
        start = 2**63 - 1
        if before is not None:
            [start] = cursor_place(before, "before", numbers=1)
        async with self.pool.acquire() as conn:
            if await conn.fetchval(MEMBER_EXISTS, member_id) is None:
                raise MemberNotFound(f"member {member_id!r} is not registered")
            rows = await conn.fetch(MEMBER_REWARDS, member_id, start, limit + 1)
        rewards = [
            Reward(
                kind=r["kind"],
                occasion=r["occasion"],
                at=iso(r["at"]),
                points=r["points"],
                campaign_id=r["campaign_id"],
                coupon_code=r["coupon_code"],
                refused=r["refused"],
                order_id=r["order_id"],
                counterparty=r["counterparty"],
            )
            for r in rows[:limit]
        ]
        cursor = page_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
        return Rewards(rewards=rewards, next=cursor)
