"""Points exchange (积分兑换): a coupon of a campaign with a points price, for its points.

The points and the stock move together (DESIGN.md): the points are taken first, in Postgres,
by the transaction that writes the exchange's row (`pending`); then the coupon goes through the
claim pipeline like any claim, with the exchange's own idempotency key. A refusal gives the
points back (to the lots they came from) before the answer; a coupon marks the row `done`.
A crash or a time-out between the two leaves the row `pending`: a retry with the same
Idempotency-Key, or recovery (`recover_pending`), runs the same claim again, which the claim's
idempotency record answers with the same coupon, or finds the coupon in the ledger.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import asyncpg
import msgspec

from gateway.checkout import idempotency
from gateway.claims.services import ClaimService
from gateway.clock import Clock
from gateway.coupons.schemas import Coupon
from gateway.coupons.services import get_coupon
from gateway.errors import (
    CampaignNotFound,
    GatewayError,
    IdempotencyMismatch,
    InsufficientPoints,
    MemberNotFound,
    NotExchangeable,
    Unavailable,
)
from gateway.points.schemas import ExchangedCoupon, ExchangeRequest
from gateway.wire import encoder, when

log = logging.getLogger(__name__)

PRICE = "SELECT points_price FROM campaigns WHERE id = $1"
GET = "SELECT * FROM exchanges WHERE id = $1 FOR UPDATE"
LOCK = "SELECT gw_points_lock($1, $2)"
SPEND = "SELECT gw_points_debit($1, $2, $3, 'spend', NULL, $4, NULL, 'exchange', $5)"
INSERT = """
INSERT INTO exchanges (id, campaign_id, member_id, channel, points, body_hash, state, entry_id,
                       created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8)
"""
DONE = """
UPDATE exchanges SET state = 'done', coupon_code = $2, updated_at = $3
WHERE id = $1 AND state = 'pending'
"""
REFUSED = """
UPDATE exchanges SET state = 'refused', reason = $2, updated_at = $3
WHERE id = $1 AND state = 'pending' RETURNING member_id, entry_id
"""
UNDO = "SELECT gw_points_undo($1, $2, $3, $4)"
EVENT = """
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, detail)
VALUES ('exchange', $1, $2, $3, $4, $5, $6)
"""
# Pending exchanges old enough that their claim has had its answer (or never will).
STALE = """
SELECT id FROM exchanges WHERE state = 'pending' AND created_at < $1
ORDER BY created_at LIMIT $2
"""
# The coupon a claim with this idempotency key wrote to the ledger, if it did.
CLAIMED = """
SELECT coupon_code FROM events
WHERE campaign_id = $1 AND kind = 'claim' AND idempotency_key = $2 LIMIT 1
"""


def _claim_key(exchange_id: str) -> str:
    return f"exchange:{exchange_id}"


def _exchange_id(campaign_id: str, key: str | None) -> str:
    """The same Idempotency-Key on a campaign is the same exchange, as it is the same claim:
    with another body (another member, another channel) it is 409 `idempotency_mismatch`."""
    if key is None:
        return f"x_{uuid.uuid4().hex}"
    digest = hashlib.blake2b(f"{campaign_id}\0{key}".encode(), digest_size=16)
    return f"x_{digest.hexdigest()}"


class ExchangeService:
    def __init__(self, pool: asyncpg.Pool, claims: ClaimService, clock: Clock) -> None:
        self.pool = pool
        self.claims = claims
        self.clock = clock
        #: Each campaign's points price (None: not exchangeable), read once: fixed at creation.
        self._prices: dict[str, int | None] = {}

    async def price(self, campaign_id: str) -> int:
        if campaign_id in self._prices:
            price = self._prices[campaign_id]
        else:
            row = await self.pool.fetchrow(PRICE, campaign_id)
            if row is None:
                raise CampaignNotFound(f"campaign {campaign_id!r} does not exist")
            price = self._prices[campaign_id] = row["points_price"]
        if price is None:
            raise NotExchangeable(
                f"campaign {campaign_id!r} has no points price: its coupons are claimed"
            )
        return price

    async def exchange(
        self, campaign_id: str, data: ExchangeRequest, actor: str, key: str | None, body: bytes
    ) -> bytes:
        """The encoded ExchangedCoupon; refusals raise, with the balance as it was."""
        price = await self.price(campaign_id)
        exchange_id = _exchange_id(campaign_id, key)
        h = hashlib.blake2b(body, digest_size=12).hexdigest()
        now = when(self.clock.now_ms())
        async with self.pool.acquire() as conn, conn.transaction():
            if key is not None:
                # Two requests with one key at once: the second waits and finds the first's row
                # (without the lock both took points and one failed on the row's primary key).
                await idempotency.lock_key(conn, "exchange", exchange_id)
            row = await conn.fetchrow(GET, exchange_id)
            if row is not None:
                if row["body_hash"] != h:
                    raise IdempotencyMismatch("this Idempotency-Key was used with a different body")
                # Answered below, once this transaction's locks are let go: reading the coupon
                # on another pooled connection while holding them could wait forever on a pool
                # that the key's waiters have taken.
            else:
                if not await conn.fetchval(LOCK, data.member_id, now):
                    raise MemberNotFound(f"member {data.member_id!r} is not registered")
                entry = await conn.fetchval(SPEND, data.member_id, price, now, campaign_id, actor)
                if entry is None:
                    raise InsufficientPoints(
                        f"member {data.member_id!r} holds fewer than {price} points"
                    )
                await conn.execute(
                    INSERT,
                    exchange_id,
                    campaign_id,
                    data.member_id,
                    data.channel,
                    price,
                    h,
                    entry,
                    now,
                )
        if row is not None and row["state"] == "done":
            return _encoded(await get_coupon(self.pool, row["coupon_code"]), row["points"])
        if row is not None and row["state"] == "refused":
            raise await self.claims.refusal(campaign_id, row["reason"])
        # A new exchange, or a pending one: its points are taken; the claim finishes it.
        return await self._claim(
            exchange_id, campaign_id, data.member_id, data.channel, price, actor
        )

    async def _claim(
        self,
        exchange_id: str,
        campaign_id: str,
        member_id: str,
        channel: str,
        price: int,
        actor: str,
    ) -> bytes:
        """The exchange's claim, and the row's outcome; its points are taken already."""
        try:
            coupon = await self.claims.claim(
                campaign_id, member_id, channel, _claim_key(exchange_id), exchange_id.encode()
            )
        except Unavailable:
            raise  # the row stays pending: a retry or recovery finishes it
        except GatewayError as refusal:
            await self._give_back(exchange_id, refusal.code, actor)
            raise
        await self._done(exchange_id, coupon, price, actor)
        return _encoded(coupon, price)

    async def _done(self, exchange_id: str, coupon: Coupon, price: int, actor: str) -> None:
        now = when(self.clock.now_ms())
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(DONE, exchange_id, coupon.code, now)
            if status.endswith(" 1"):
                await conn.execute(
                    EVENT,
                    now,
                    coupon.campaign_id,
                    coupon.code,
                    coupon.member_id,
                    actor,
                    {"exchange_id": exchange_id, "points": price},
                )

    async def _give_back(self, exchange_id: str, reason: str, actor: str) -> None:
        now = when(self.clock.now_ms())
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(GET, exchange_id)
            if row is None or row["state"] != "pending":
                return
            await conn.fetchval(LOCK, row["member_id"], now)
            await conn.fetchval(UNDO, row["entry_id"], now, f"exchange refused: {reason}", actor)
            await conn.execute(REFUSED, exchange_id, reason, now)

    async def recover_pending(self, older_than_s: float, batch: int = 100) -> int:
        """Finishes exchanges left pending by a crash or a time-out; how many it finished.
        Each is looked up in the ledger first (its coupon written), else its claim runs again
        with its own idempotency key (the same coupon if Redis still has the claim)."""
        now_ms = self.clock.now_ms()
        ids = [
            r["id"]
            for r in await self.pool.fetch(STALE, when(now_ms - int(older_than_s * 1000)), batch)
        ]
        finished = 0
        for exchange_id in ids:
            try:
                finished += await self._recover(exchange_id)
            except Unavailable as exc:
                log.warning("exchange %s still pending: %s", exchange_id, exc.detail)
        return finished

    async def _recover(self, exchange_id: str) -> int:
        row = await self.pool.fetchrow("SELECT * FROM exchanges WHERE id = $1", exchange_id)
        if row is None or row["state"] != "pending":
            return 0
        code = await self.pool.fetchval(CLAIMED, row["campaign_id"], _claim_key(exchange_id))
        if code is not None:
            await self._done(
                exchange_id, await get_coupon(self.pool, code), row["points"], "recovery"
            )
            return 1
        try:
            await self._claim(
                exchange_id,
                row["campaign_id"],
                row["member_id"],
                row["channel"],
                row["points"],
                "recovery",
            )
        except Unavailable:
            raise
        except GatewayError:
            pass  # refused: the points went back
        return 1


def _encoded(coupon: Coupon, price: int) -> bytes:
    fields: dict[str, Any] = msgspec.structs.asdict(coupon)
    return encoder.encode(ExchangedCoupon(**fields, points_spent=price))
