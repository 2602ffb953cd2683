"""Coupons in the ledger: reads, and the two moves a clerk or an operator makes by hand.

Revoke (active -> revoked) and reissue (补发新券: the old code revoked, a new code of the same
campaign for the same member with the same validity) each run in one transaction that first locks
the coupon's row (`SELECT ... FOR UPDATE`): of concurrent requests about one code exactly one
finds it active, the others wait for it and then see it revoked (409 `not_active`). An
`Idempotency-Key` is remembered in that transaction, so a retry gets the first answer.

A reissue takes no stock and leaves the member's count alone (Redis is not touched): it replaces
a coupon the member already holds. The new row's source is 'reissue', which the claimed and
per-member counts (stats, reconcile) do not read, as for transfers.
"""

from __future__ import annotations

import asyncpg

from gateway.checkout import idempotency
from gateway.clock import Clock
from gateway.coupons.schemas import Coupon, ReissueRequest, RevokeRequest
from gateway.errors import CouponNotFound, InvalidRequest, NotActive
from gateway.native import new_code, normalize_code
from gateway.wire import encoder, iso

COUPON_COLUMNS = """
k.code, k.campaign_id, k.member_id, c.kind, k.state, k.valid_from, k.valid_until, k.claimed_at,
k.channel, k.transferable, k.transferred_from
"""
GET_COUPON = f"""
SELECT {COUPON_COLUMNS} FROM coupons k JOIN campaigns c ON c.id = k.campaign_id WHERE k.code = $1
"""  # noqa: S608 - constant column list, values are bound
MEMBER_COUPONS = f"""
SELECT {COUPON_COLUMNS} FROM coupons k JOIN campaigns c ON c.id = k.campaign_id
WHERE k.member_id = $1 AND ($2::text IS NULL OR k.state = $2)
ORDER BY k.claimed_at DESC, k.code LIMIT 1000
"""  # noqa: S608 - same

LOCK_COUPON = """
SELECT state, valid_until > to_timestamp($2 / 1000.0) AS valid FROM coupons WHERE code = $1
FOR UPDATE
"""
REVOKE = """
UPDATE coupons SET state = 'revoked', updated_at = now() WHERE code = $1 AND state = 'active'
RETURNING *
"""
# The new code stands in for the old in every respect but its code and when it was issued: same
# campaign, member, validity, channel, transferability and transfer origin.
INSERT_REISSUED = """
INSERT INTO coupons (code, campaign_id, member_id, state, valid_from, valid_until, claimed_at,
                     channel, transferable, transferred_from, source)
VALUES ($1, $2, $3, 'active', $4, $5, to_timestamp($6 / 1000.0), $7, $8, $9, 'reissue')
"""
COUPON_EVENT = """
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, idempotency_key, detail)
VALUES ($1, to_timestamp($2 / 1000.0), $3, $4, $5, $6, $7, $8)
"""

STATES = frozenset({"active", "reserved", "redeemed", "expired", "transferred", "revoked"})


def coupon_from_row(row: asyncpg.Record) -> Coupon:
    return Coupon(
        code=row["code"],
        campaign_id=row["campaign_id"],
        member_id=row["member_id"],
        kind=row["kind"],
        state=row["state"],
        valid_from=iso(row["valid_from"]),
        valid_until=iso(row["valid_until"]),
        claimed_at=iso(row["claimed_at"]),
        channel=row["channel"],
        transferable=row["transferable"],
        transferred_from=row["transferred_from"],
    )


def parse_code(text: str) -> str | None:
    """The canonical code, or None when the text cannot be a code (a typo is a 404)."""
    try:
        return normalize_code(text)
    except ValueError:
        return None


async def get_coupon(pool: asyncpg.Pool, text: str) -> Coupon:
    code = parse_code(text)
    row = await pool.fetchrow(GET_COUPON, code) if code else None
    if row is None:
        raise CouponNotFound(f"no coupon has the code {text[:40]!r}")
    return coupon_from_row(row)


async def member_coupons(pool: asyncpg.Pool, member_id: str, state: str | None) -> list[Coupon]:
    if state is not None and state not in STATES:
        raise InvalidRequest(f"state: must be one of {', '.join(sorted(STATES))}")
    return [coupon_from_row(row) for row in await pool.fetch(MEMBER_COUPONS, member_id, state)]


class CouponService:
    """Revoke and reissue; see the module's docstring for how concurrency and retries are met."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, idempotency_ttl_s: int) -> None:
        self.pool = pool
        self.clock = clock
        self.idem_ttl_s = idempotency_ttl_s

    async def revoke(
        self, text: str, data: RevokeRequest, actor: str, key: str | None
    ) -> tuple[int, bytes]:
        """(status, encoded body): 200 and the revoked coupon, or the first answer to `key`."""
        code = _code_or_404(text)
        reason = _reason(data.reason)
        now_ms = self.clock.now_ms()
        h = idempotency.request_hash(code.encode(), encoder.encode(data))
        async with self.pool.acquire() as conn, conn.transaction():
            if key is not None:
                earlier = await idempotency.replay(conn, "revoke", key, h, self.idem_ttl_s)
                if earlier is not None:
                    return earlier
            await _lock_active(conn, code, text, now_ms, need_valid=False)
            old = await conn.fetchrow(REVOKE, code)
            await conn.execute(
                COUPON_EVENT, "coupon_revoked", now_ms, old["campaign_id"], code,
                old["member_id"], actor, key, {"reason": reason},
            )  # fmt: skip
            encoded = encoder.encode(coupon_from_row(await conn.fetchrow(GET_COUPON, code)))
            if key is not None:
                await idempotency.remember(conn, "revoke", key, h, 200, encoded)
        return 200, encoded

    async def reissue(
        self, text: str, data: ReissueRequest, actor: str, key: str | None
    ) -> tuple[int, bytes]:
        """(status, encoded body): 201 and the new coupon, or the first answer to `key`."""
        code = _code_or_404(text)
        now_ms = self.clock.now_ms()
        h = idempotency.request_hash(code.encode(), encoder.encode(data))
        reason = _reason(data.reason)
        async with self.pool.acquire() as conn, conn.transaction():
            if key is not None:
                earlier = await idempotency.replay(conn, "reissue", key, h, self.idem_ttl_s)
                if earlier is not None:
                    return earlier
            await _lock_active(conn, code, text, now_ms, need_valid=True)
            old = await conn.fetchrow(REVOKE, code)
            fresh = new_code()
            await conn.execute(
                INSERT_REISSUED, fresh, old["campaign_id"], old["member_id"], old["valid_from"],
                old["valid_until"], now_ms, old["channel"], old["transferable"],
                old["transferred_from"],
            )  # fmt: skip
            for kind, coupon_code, detail in (
                ("coupon_revoked", code, {"reason": reason, "reissued_as": fresh}),
                ("coupon_reissued", fresh, {"reason": reason, "reissued_from": code}),
            ):
                await conn.execute(
                    COUPON_EVENT, kind, now_ms, old["campaign_id"], coupon_code,
                    old["member_id"], actor, key, detail,
                )  # fmt: skip
            encoded = encoder.encode(coupon_from_row(await conn.fetchrow(GET_COUPON, fresh)))
            if key is not None:
                await idempotency.remember(conn, "reissue", key, h, 201, encoded)
        return 201, encoded


def _code_or_404(text: str) -> str:
    code = parse_code(text)
    if code is None:
        raise CouponNotFound(f"no coupon has the code {text[:40]!r}")
    return code


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise InvalidRequest("reason: must not be blank")
    return reason


async def _lock_active(
    conn: asyncpg.Connection, code: str, text: str, now_ms: int, *, need_valid: bool
) -> None:
    """Locks the coupon's row for the rest of the transaction; refuses unless it is active
    (and, for a reissue, still within its validity: a new code would be born expired)."""
    row = await conn.fetchrow(LOCK_COUPON, code, now_ms)
    if row is None:
        raise CouponNotFound(f"no coupon has the code {text[:40]!r}")
    if row["state"] != "active":
        raise NotActive(f"the coupon is {row['state']}: only an active coupon can be changed")
    if need_valid and not row["valid"]:
        raise NotActive("the coupon's validity has ended: there is nothing left to reissue")
