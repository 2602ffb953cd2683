"""Transfers: the giver's code turns `transferred` and the recipient gets a new one.

The move of the old code is one conditional UPDATE (`WHERE state = 'active' AND transferable`)
in the transaction that inserts the new coupon and the transfer event: a coupon is given at most
once, whatever the concurrency. The new code cannot be transferred again.
"""

from __future__ import annotations

import asyncpg

from gateway.checkout import idempotency
from gateway.clock import Clock
from gateway.coupons.services import COUPON_COLUMNS, GET_COUPON, coupon_from_row, parse_code
from gateway.errors import (
    CouponNotFound,
    NotActive,
    NotOwner,
    NotTransferable,
    RecipientNotRegistered,
    SameMember,
)
from gateway.native import new_code
from gateway.transfers.schemas import TransferPath, TransferRequest
from gateway.wire import encoder

MEMBER_EXISTS = "SELECT 1 FROM members WHERE member_id = $1"
# active -> transferred, only by its owner, only when transferable and still valid.
GIVE = """
UPDATE coupons SET state = 'transferred', updated_at = now()
WHERE code = $1 AND member_id = $2 AND state = 'active' AND transferable
  AND valid_until > to_timestamp($3 / 1000.0)
RETURNING *
"""
INSERT_RECEIVED = """
INSERT INTO coupons (code, campaign_id, member_id, state, valid_from, valid_until, claimed_at,
                     channel, transferable, transferred_from, source)
VALUES ($1, $2, $3, 'active', $4, $5, to_timestamp($6 / 1000.0), $7, false, $8, 'transfer')
"""
TRANSFER_EVENT = """
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, idempotency_key, detail)
VALUES ('transfer', to_timestamp($1 / 1000.0), $2, $3, $4, $5, $6,
        jsonb_build_object('to_member_id', $7::text, 'to_code', $8::text))
"""
PATH = f"""
WITH RECURSIVE up AS (
    SELECT code, transferred_from, 0 AS depth FROM coupons WHERE code = $1
    UNION ALL
    SELECT k.code, k.transferred_from, up.depth + 1
    FROM coupons k JOIN up ON k.code = up.transferred_from WHERE up.depth < 100
), down AS (
    SELECT code, 0 AS hop FROM (SELECT code FROM up ORDER BY depth DESC LIMIT 1) AS root
    UNION ALL
    SELECT k.code, down.hop + 1
    FROM coupons k JOIN down ON k.transferred_from = down.code WHERE down.hop < 100
)
SELECT {COUPON_COLUMNS}
FROM down JOIN coupons k ON k.code = down.code JOIN campaigns c ON c.id = k.campaign_id
ORDER BY down.hop, k.code
"""  # noqa: S608 - constant column list, values are bound


class TransferService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, idempotency_ttl_s: int) -> None:
        self.pool = pool
        self.clock = clock
        self.idem_ttl_s = idempotency_ttl_s

    async def transfer(
        self, text: str, data: TransferRequest, actor: str, key: str | None
    ) -> tuple[int, bytes]:
        """(status, encoded body): 201 and the recipient's new coupon, or the replay of the
        first answer to this Idempotency-Key."""
        code = parse_code(text)
        if code is None:
            raise CouponNotFound(f"no coupon has the code {text[:40]!r}")
        now_ms = self.clock.now_ms()
        h = idempotency.request_hash(code.encode(), encoder.encode(data))
        async with self.pool.acquire() as conn, conn.transaction():
            if key is not None:
                earlier = await idempotency.replay(conn, "transfer", key, h, self.idem_ttl_s)
                if earlier is not None:
                    return earlier
            given = await conn.fetchrow(GIVE, code, data.from_member_id, now_ms)
            if given is None:
                raise await self._refusal(conn, code, text, data, now_ms)
            if data.from_member_id == data.to_member_id:
                raise SameMember("a member cannot give a coupon to themselves")
            if await conn.fetchval(MEMBER_EXISTS, data.to_member_id) is None:
                raise RecipientNotRegistered(
                    f"member {data.to_member_id!r} is not registered: only members can receive"
                )
            received = new_code()
            await conn.execute(
                INSERT_RECEIVED,
                received,
                given["campaign_id"],
                data.to_member_id,
                given["valid_from"],
                given["valid_until"],
                now_ms,
                given["channel"],
                code,
            )
            await conn.execute(
                TRANSFER_EVENT,
                now_ms,
                given["campaign_id"],
                code,
                data.from_member_id,
                actor,
                key,
                data.to_member_id,
                received,
            )
            row = await conn.fetchrow(GET_COUPON, received)
            encoded = encoder.encode(coupon_from_row(row))
            if key is not None:
                await idempotency.remember(conn, "transfer", key, h, 201, encoded)
        return 201, encoded

    async def _refusal(
        self, conn: asyncpg.Connection, code: str, text: str, data: TransferRequest, now_ms: int
    ) -> Exception:
        """Why the conditional UPDATE moved nothing, in the order a member would ask."""
        row = await conn.fetchrow(GET_COUPON, code)
        if row is None:
            return CouponNotFound(f"no coupon has the code {text[:40]!r}")
        if row["member_id"] != data.from_member_id:
            return NotOwner(f"the coupon does not belong to member {data.from_member_id!r}")
        if data.from_member_id == data.to_member_id:
            return SameMember("a member cannot give a coupon to themselves")
        if not row["transferable"]:
            why = "it was received by transfer" if row["transferred_from"] else "its campaign"
            return NotTransferable(f"this coupon cannot be transferred ({why} forbids it)")
        if row["state"] != "active":
            return NotActive(f"the coupon is {row['state']}: only an active coupon can be given")
        return NotActive("the coupon's validity has ended: it can no longer be given")

    async def path(self, text: str) -> TransferPath:
        code = parse_code(text)
        rows = await self.pool.fetch(PATH, code) if code else []
        if not rows:
            raise CouponNotFound(f"no coupon has the code {text[:40]!r}")
        assert code is not None
        return TransferPath(code=code, path=[coupon_from_row(row) for row in rows])
