"""Tier policies in Postgres; checkout reads them joined to the member."""

from __future__ import annotations

import asyncpg

from gateway.tiers.schemas import TierPolicy, TierPut
from gateway.wire import iso

UPSERT_TIER = """
INSERT INTO tiers (tier, percent_off, birthday_percent_off, points_per_yuan,
                   coupons_on_member_price)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tier) DO UPDATE SET percent_off = $2, birthday_percent_off = $3,
    points_per_yuan = $4, coupons_on_member_price = $5, updated_at = now()
RETURNING *
"""
INSERT_EVENT = "INSERT INTO events (kind, actor, detail) VALUES ('tier_policy', $1, $2)"
LIST_TIERS = "SELECT * FROM tiers ORDER BY tier"


async def put_tier(pool: asyncpg.Pool, tier: str, data: TierPut, actor: str) -> TierPolicy:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            UPSERT_TIER,
            tier,
            data.percent_off,
            data.birthday_percent_off,
            data.points_per_yuan,
            data.coupons_on_member_price,
        )
        await conn.execute(
            INSERT_EVENT,
            actor,
            {
                "tier": tier,
                "percent_off": data.percent_off,
                "birthday_percent_off": data.birthday_percent_off,
                "points_per_yuan": data.points_per_yuan,
                "coupons_on_member_price": data.coupons_on_member_price,
            },
        )
    return policy_of(row)


async def list_tiers(pool: asyncpg.Pool) -> list[TierPolicy]:
    """Every tier that has a policy (a tier without one gives no member discount)."""
    return [policy_of(row) for row in await pool.fetch(LIST_TIERS)]


def policy_of(row: asyncpg.Record) -> TierPolicy:
    return TierPolicy(
        tier=row["tier"],
        percent_off=row["percent_off"],
        birthday_percent_off=row["birthday_percent_off"],
        points_per_yuan=row["points_per_yuan"],
        coupons_on_member_price=row["coupons_on_member_price"],
        updated_at=iso(row["updated_at"]),
    )
