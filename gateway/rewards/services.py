"""The rewards worker: due rows of the outbox become point entries and grants, exactly once.

Triggers write `reward_due` rows in their own transactions (012_reward_triggers.sql: a
registration, an order's commit, the scan for birthdays and win-backs). `give_due` takes a
batch of due rows under `FOR UPDATE SKIP LOCKED` (another worker takes other rows), grants each
row's coupon through the claim pipeline with the key `reward:<id>` (stock and per-member
limits apply; a refusal is recorded with its reason and never blocks the points), and in the
same transaction that marks the row done writes its points (an entry of kind `reward`) and its
outcome (`rewards`). A crash before that commit leaves the row due: the next pass finds the
coupon the first grant wrote in the ledger (events.idempotency_key), or grants again with the
same key, which the claim's idempotency record answers with the same coupon.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg

from gateway.claims.services import ClaimService
from gateway.coupons.schemas import Coupon
from gateway.errors import GatewayError, InvalidRequest, MemberNotFound, Unavailable
from gateway.rewards.schemas import Reward, Rewards
from gateway.wire import cursor_place, iso, page_cursor

log = logging.getLogger(__name__)

TAKE_DUE = """
SELECT * FROM reward_due WHERE state = 'due' AND due_at <= $1
ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
"""
ANY_DUE = "SELECT 1 FROM reward_due WHERE state = 'due' AND due_at <= $1 LIMIT 1"
# The coupons keyed grants already wrote (a pass that crashed before its commit).
GRANTED = """
SELECT idempotency_key, coupon_code FROM events
WHERE kind = 'grant' AND idempotency_key = ANY($1::text[])
"""
LOCK = "SELECT gw_points_lock($1, $2)"
CREDIT = """
SELECT gw_points_credit($1, $2, $3, $4, 'reward', 'reward', 0, $5, $6, $7, $8, 'rewards')
"""
RECORD = """
INSERT INTO rewards (due_id, member_id, kind, occasion, at, points, point_entry_id,
                     campaign_id, coupon_code, refused, order_id, counterparty)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
DONE = "UPDATE reward_due SET state = 'done', attempts = attempts + 1 WHERE id = $1"
SCAN = "SELECT gw_rewards_scan($1, $2)"
MEMBER_EXISTS = "SELECT 1 FROM members WHERE member_id = $1"
MEMBER_REWARDS = """
SELECT id, kind, occasion, at, points, campaign_id, coupon_code, refused, order_id, counterparty
FROM rewards WHERE member_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3
"""


def reward_key(due_id: int) -> str:
    return f"reward:{due_id}"


def when(now_ms: int) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, UTC)


class RewardService:
    def __init__(self, pool: asyncpg.Pool, claims: ClaimService, zone: str) -> None:
        self.pool = pool
        self.claims = claims
        self.zone = zone

    async def scan(self, now_ms: int) -> int:
        """Makes the birthday and win-back rewards due at `now_ms`; how many rows."""
        made: int = await self.pool.fetchval(SCAN, when(now_ms), self.zone)
        return made

    async def give_due(self, now_ms: int, batch: int = 100) -> int:
        """Gives every reward due at `now_ms`, a batch per transaction; how many. Idle, one
        indexed read and no transaction."""
        if await self.pool.fetchval(ANY_DUE, when(now_ms)) is None:
            return 0
        total = 0
        while True:
            given = await self._give_batch(now_ms, batch)
            total += given
            if given < batch:
                return total

    async def _give_batch(self, now_ms: int, batch: int) -> int:
        now = when(now_ms)
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(TAKE_DUE, now, batch)
            if not rows:
                return 0
            keys = [reward_key(row["id"]) for row in rows if row["campaign_id"]]
            found = dict(await conn.fetch(GRANTED, keys)) if keys else {}
            coupons = await asyncio.gather(*(self._coupon(row, found) for row in rows))
            for row, (coupon, refused) in zip(rows, coupons, strict=True):
                entry = None
                if row["points"] > 0 and await conn.fetchval(LOCK, row["member_id"], now):
                    entry = await conn.fetchval(
                        CREDIT,
                        row["member_id"],
                        row["points"],
                        now,
                        self.zone,
                        row["order_id"],
                        row["campaign_id"],
                        row["counterparty"],
                        row["occasion"],
                    )
                await conn.execute(
                    RECORD,
                    row["id"],
                    row["member_id"],
                    row["kind"],
                    row["occasion"],
                    now,
                    row["points"],
                    entry,
                    row["campaign_id"],
                    coupon,
                    refused,
                    row["order_id"],
                    row["counterparty"],
                )
                await conn.execute(DONE, row["id"])
        return len(rows)

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
