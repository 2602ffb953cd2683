"""A generated ledger: many live campaigns, each with many coupons already claimed, written by
Postgres itself (generate_series), for the restart test and the restart benchmark."""

from __future__ import annotations

import asyncpg

CAMPAIGNS = """
INSERT INTO campaigns (id, name, kind, amount_off, min_spend, scope, channels,
                       claim_starts_at, claim_ends_at, validity, stock_total, per_member_limit,
                       transferable, stackable, low_stock_threshold, status)
SELECT $1 || '-' || i, 'Generated ' || i, 'threshold', 1000, 5000,
       '{"skus": [], "categories": [], "stores": []}'::jsonb, ARRAY['online', 'store'],
       now() - interval '1 hour', now() + interval '1 day',
       '{"mode": "relative", "days": 7}'::jsonb, $2, 1, true, false, 0, 'live'
FROM generate_series(1, $3) AS i
"""
COUPONS = """
INSERT INTO coupons (code, campaign_id, member_id, state, valid_from, valid_until, claimed_at,
                     channel, transferable, source)
SELECT c.id || ':' || n, c.id, 'g-' || n, 'active', now(), now() + interval '7 days', now(),
       'online', true, 'claim'
FROM campaigns c, generate_series(1, $2) AS n
WHERE c.id LIKE $1 || '-%'
"""


async def generate_ledger(
    database_url: str, prefix: str, campaigns: int, coupons_each: int, stock_each: int
) -> list[str]:
    """Creates `campaigns` live campaigns named `<prefix>-<i>`, each with `coupons_each` claimed
    coupons of `stock_each`; returns their ids. Redis is left without their hot state."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(CAMPAIGNS, prefix, stock_each, campaigns)
        await conn.execute(COUPONS, prefix, coupons_each)
        await conn.execute("ANALYZE coupons")
    finally:
        await conn.close()
    return [f"{prefix}-{i}" for i in range(1, campaigns + 1)]
