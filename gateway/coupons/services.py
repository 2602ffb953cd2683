"""Coupon reads from the ledger."""

from __future__ import annotations

import asyncpg

from gateway.coupons.schemas import Coupon
from gateway.errors import CouponNotFound, InvalidRequest
from gateway.native import normalize_code
from gateway.wire import iso

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
