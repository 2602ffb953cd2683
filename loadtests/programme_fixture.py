"""The membership programme's benchmark data (issue 13), written by Postgres itself.

- `setup_programme`: tier thresholds and tier policies earning 1 point per yuan, so that an
  order's commit writes its lot, its entry and its day's spend, and checks the tier;
- `register`: members of a tier, by id (the checkout benchmark's members, once granted);
- `generate_readers`: members with lots, entries and spend days, for the reads, and as the
  ledger a database holds before a benchmark writes to it (its tables' statistics then are
  those of a ledger in use, not of empty tables: plans as in production).

The programme is stored as the gateway stores it (`Programme` encoded, a version), without an
event; tier policies are upserted. On a database of a tree before the programme (no
`programme`, no `point_lots`), only the tier policies, and the members without their ledger.
Only for a benchmark's own database.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from gateway.programme.schemas import Programme

#: Thresholds in cents (a bench cart pays about 1,300 yuan: silver is reached, gold is not, so
#: each commit checks the tier and upgrades nobody already silver).
TIERS: dict[str, Any] = {
    "silver": {"yearly_spend": 100_000},
    "gold": {"single_order": 1_000_000, "yearly_spend": 500_000},
    "diamond": {"single_order": 3_000_000, "yearly_spend": 2_000_000},
}
UPSERT_PROGRAMME = """
INSERT INTO programme (id, body, version) VALUES (true, $1::text::jsonb, 1)
ON CONFLICT (id) DO UPDATE SET body = excluded.body, version = programme.version + 1,
                               updated_at = now()
"""
UPSERT_TIER = """
INSERT INTO tiers (tier, percent_off, birthday_percent_off, points_per_yuan,
                   coupons_on_member_price)
VALUES ($1, $2, 0, 1, true)
ON CONFLICT (tier) DO UPDATE SET percent_off = $2, birthday_percent_off = 0,
    points_per_yuan = 1, coupons_on_member_price = true, updated_at = now()
"""
REGISTER = """
INSERT INTO members (member_id, tier) SELECT unnest($1::text[]), $2
ON CONFLICT (member_id) DO NOTHING
"""
# Readers: `count` members `<prefix><i>` (i from 0), silver since a year ago, each with `lots`
# lots of 100 points earned over the last months (counting, expiring at the end of next year),
# their `earn` entries, and a spend day per lot.
READERS = """
INSERT INTO members (member_id, tier, registered_at, tier_since, points_balance)
SELECT $1 || i, 'silver', now() - interval '400 days', now() - interval '300 days', 100 * $3
FROM generate_series(0, $2 - 1) AS i
"""
READER_LOTS = """
INSERT INTO point_lots (member_id, points, remaining, earned_at, counts_from, expires_at,
                        pending, source)
SELECT $1 || i, 100, 100, now() - make_interval(days => 20 * j),
       now() - make_interval(days => 20 * j), date_trunc('year', now()) + interval '2 years',
       false, 'order'
FROM generate_series(1, $3) AS j, generate_series(0, $2 - 1) AS i
"""
READER_ENTRIES = """
INSERT INTO point_entries (member_id, at, kind, points, pending, balance_after, pending_after,
                           lot_id)
SELECT member_id, earned_at, 'earn', points, 0,
       100 * row_number() OVER (PARTITION BY member_id ORDER BY id), 0, id
FROM point_lots WHERE member_id LIKE $1 || '%'
"""
READER_SPEND = """
INSERT INTO member_spend_days (member_id, day, paid, orders)
SELECT member_id, (earned_at AT TIME ZONE 'Asia/Shanghai')::date, 10000, 1
FROM point_lots WHERE member_id LIKE $1 || '%'
ON CONFLICT DO NOTHING
"""


def rewards(campaign_id: str) -> dict[str, Any]:
    """Rewards that every bench order makes due (a bench member orders once, about 1,300 yuan):
    the first order's points and a coupon of `campaign_id`, the order's spend step and the
    month's (coupons). The app's rewards worker gives them while the orders run."""
    return {
        "first_order": {"points": 10, "campaign_id": campaign_id},
        "spend_steps": [
            {"period": "order", "min_paid": 50_000, "campaign_id": campaign_id},
            {"period": "month", "min_paid": 100_000, "campaign_id": campaign_id},
        ],
    }


def programme_body(downgrade: str = "one_step", reward_campaign: str | None = None) -> str:
    """The programme as the gateway stores it: checked against its type, defaults filled;
    with `rewards(reward_campaign)` when one is given."""
    body: dict[str, Any] = {"tiers": {**TIERS, "downgrade": downgrade}}
    if reward_campaign is not None:
        body["rewards"] = rewards(reward_campaign)
    return msgspec.json.encode(msgspec.convert(body, Programme)).decode()


async def setup_programme(
    database_url: str, downgrade: str = "one_step", reward_campaign: str | None = None
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        if await _has(conn, "programme"):
            await conn.execute(UPSERT_PROGRAMME, programme_body(downgrade, reward_campaign))
        for tier, percent_off in (("silver", 500), ("gold", 800), ("diamond", 1200)):
            await conn.execute(UPSERT_TIER, tier, percent_off)
    finally:
        await conn.close()


async def register(database_url: str, member_ids: list[str], tier: str = "silver") -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(REGISTER, member_ids, tier)
    finally:
        await conn.close()


async def _has(conn: asyncpg.Connection, table: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table))


async def generate_readers(database_url: str, prefix: str, count: int, lots: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        ledger = await _has(conn, "point_lots")
        async with conn.transaction():
            if ledger:
                await conn.execute(READERS, prefix, count, lots)
                await conn.execute(READER_LOTS, prefix, count, lots)
                await conn.execute(READER_ENTRIES, prefix)
                await conn.execute(READER_SPEND, prefix)
            else:
                await conn.execute(
                    "INSERT INTO members (member_id, tier) "
                    "SELECT $1 || i, 'silver' FROM generate_series(0, $2 - 1) AS i",
                    prefix,
                    count,
                )
        tables = "members, point_lots, point_entries, member_spend_days" if ledger else "members"
        await conn.execute(f"VACUUM (ANALYZE) {tables}")
    finally:
        await conn.close()
