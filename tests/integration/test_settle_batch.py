"""The group commit's set-based points (migration 016) against the per-order function it
replaced.

Two copies of the same members (A and B, the same lots, debts, spend, referrers and orders)
are committed in one transaction: A's orders as one batch of `gw_settle`, B's one by one by
`gw_order_committed`, in the order the old `gw_settle` called it (member id, then order id).
Every row either writes (lots, entries, the members' totals, tiers and first orders, spend days,
rewards made due, tier events) must be the same, once the copy's prefix is taken out of its ids.
The transaction is rolled back: nothing is left, and no worker of the app sees the rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.conftest import unique
from tests.integration.points_helpers import SET_PROGRAMME

ZONE = "Asia/Shanghai"
NOW = datetime(2026, 12, 15, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
NOW_MS = int(NOW.timestamp() * 1000)
DAY = timedelta(days=1)

PROGRAMME: dict[str, Any] = {
    "points": {"expiry": {"mode": "end_of_next_year"}, "pending_days": 0},
    "tiers": {
        "silver": {"yearly_spend": 100_000},
        "gold": {"single_order": 1_000_000, "yearly_spend": 500_000},
        "diamond": {"single_order": 3_000_000, "yearly_spend": 2_000_000},
    },
    "rewards": {
        "first_order": {"points": 10, "campaign_id": "cmp_first"},
        "referral": {"invitee": {"points": 50}, "inviter": {"points": 60}},
        "spend_steps": [
            {"period": "order", "min_paid": 20_000, "campaign_id": "cmp_step20"},
            {"period": "order", "min_paid": 50_000, "campaign_id": "cmp_step50"},
            {"period": "order", "min_paid": 50_000, "campaign_id": "cmp_step50b"},
            {"period": "month", "min_paid": 100_000, "campaign_id": "cmp_month100"},
            {"period": "month", "min_paid": 30_000, "campaign_id": "cmp_month30"},
        ],
    },
}

# Each member: its state before the batch, and its orders' (points earned, paid) in the batch.
# Lots are (points, remaining, counts_from, expires_at, pending).
MEMBERS: list[dict[str, Any]] = [
    {"orders": [(100, 10_000)]},  # plain: earns
    {"debt": 30, "orders": [(100, 10_000)]},  # pays a debt from the earning
    {"debt": 500, "orders": [(100, 10_000)]},  # a debt bigger than the earning
    {  # a pending lot whose time has come, with a debt it pays first
        "debt": 20,
        "lots": [(50, 50, NOW - DAY, NOW + 400 * DAY, True)],
        "orders": [(80, 8_000)],
    },
    {  # a lot past its expiry, and one that lives on
        "lots": [(40, 40, NOW - 500 * DAY, NOW - DAY, False), (70, 70, NOW - 9 * DAY, None, False)],
        "orders": [(60, 6_000)],
    },
    {"orders": [(100, 10_000), (200, 20_000), (0, 0)]},  # three orders in one batch
    {"spend": [(NOW - 40 * DAY, 95_000)], "orders": [(60, 6_000)]},  # silver by the year
    {"tier": "silver", "orders": [(12_000, 1_200_000)]},  # gold by one order
    {"referrer": True, "orders": [(10, 60_000)]},  # a first order of a referred member
    {"first_order": True, "referrer": True, "orders": [(10, 60_000)]},  # not its first
    {  # the month's steps: 25,000 earlier this month, 80,000 now
        "first_order": True,
        "spend": [(NOW - 10 * DAY, 25_000), (NOW - 20 * DAY, 50_000)],
        "orders": [(800, 80_000)],
    },
    {"orders": [(0, 0)]},  # earns nothing
    {"registered": False, "orders": [(100, 10_000)]},  # a guest
]


async def _make(
    conn: asyncpg.Connection, prefix: str
) -> tuple[list[tuple[str, str]], dict[str, tuple[int, int]]]:
    """The copy `prefix` of MEMBERS and their reserved orders: [(order id, actor)], and each
    registered member's (balance, pending) as seeded (lots without entries)."""
    orders: list[tuple[str, str]] = []
    seeds: dict[str, tuple[int, int]] = {}
    for k, spec in enumerate(MEMBERS):
        member = f"{prefix}m{k:02d}"
        if spec.get("registered", True):
            referrer = None
            if spec.get("referrer"):
                referrer = f"{prefix}r{k:02d}"
                await conn.execute(
                    "INSERT INTO members (member_id, tier, tier_since) VALUES ($1, 'standard', $2)",
                    referrer,
                    NOW - 900 * DAY,
                )
            lots = spec.get("lots", [])
            debt = spec.get("debt", 0)
            balance = sum(r for _, r, _, _, pending in lots if not pending) - debt
            pending = sum(r for _, r, _, _, p in lots if p)
            seeds[member] = (balance, pending)
            await conn.execute(
                """INSERT INTO members (member_id, tier, tier_since, registered_at, referred_by,
                                        points_balance, points_pending, points_debt,
                                        first_order_id)
                   VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)""",
                member,
                spec.get("tier", "standard"),
                NOW - 300 * DAY,
                referrer,
                balance,
                pending,
                debt,
                f"{prefix}earlier{k:02d}" if spec.get("first_order") else None,
            )
            for points, remaining, counts, expires, is_pending in lots:
                await conn.execute(
                    """INSERT INTO point_lots (member_id, points, remaining, earned_at,
                                               counts_from, expires_at, pending, source)
                       VALUES ($1, $2, $3, $4, $4, $5, $6, 'order')""",
                    member,
                    points,
                    remaining,
                    counts,
                    expires,
                    is_pending,
                )
            for day, paid in spec.get("spend", []):
                await conn.execute(
                    "INSERT INTO member_spend_days VALUES ($1, ($2 AT TIME ZONE $3)::date, $4, 1)",
                    member,
                    day,
                    ZONE,
                    paid,
                )
        for j, (points, paid) in enumerate(spec["orders"]):
            order = f"{prefix}m{k:02d}o{j}"
            result = {"points_earned": points, "total": paid}
            await conn.execute(
                """INSERT INTO redemptions (order_id, member_id, state, cart_hash, cart, result,
                                            reserved_at, expires_at)
                   VALUES ($1, $2, 'reserved', '\\x00', '{}', $3::text::jsonb, $4, $5)""",
                order,
                member,
                json.dumps(result),
                NOW - DAY,
                NOW + DAY,
            )
            orders.append((order, f"clerk {k}"))
    return orders, seeds


async def _per_order(conn: asyncpg.Connection, orders: list[tuple[str, str]]) -> None:
    """What gw_settle did before 016: each order, in (member, order) order."""
    rows = await conn.fetch(
        """UPDATE redemptions SET state = 'committed', committed_at = $2
           WHERE order_id = ANY ($1::text[]) RETURNING order_id, member_id, result""",
        [o for o, _ in orders],
        NOW,
    )
    actors = dict(orders)
    for row in sorted(rows, key=lambda r: (r["member_id"], r["order_id"])):
        result = row["result"]  # the pool decodes jsonb
        await conn.execute(
            "SELECT gw_order_committed($1, $2, $3, $4, $5, $6, $7)",
            row["member_id"],
            row["order_id"],
            result["points_earned"],
            result["total"],
            NOW,
            ZONE,
            actors[row["order_id"]],
        )


def _lots(records: list[asyncpg.Record], lot_ids: dict[int, int]) -> list[tuple[Any, ...]]:
    return [tuple(lot_ids.get(v, v) if k == "lot_id" else v for k, v in r.items()) for r in records]


async def _state(conn: asyncpg.Connection, prefix: str) -> dict[str, Any]:
    """Every row the commits may write for the copy `prefix`, its prefix taken out."""
    like = prefix + "%"
    lots = await conn.fetch(
        """SELECT id, member_id, points, remaining, earned_at, counts_from, expires_at, pending,
                  expired, source, order_id
           FROM point_lots WHERE member_id LIKE $1 ORDER BY member_id, id""",
        like,
    )
    # Lots by their place in their member's list (ids differ between the copies).
    lot_place: dict[int, int] = {}
    seen: dict[str, int] = {}
    for row in lots:
        lot_place[row["id"]] = seen[row["member_id"]] = seen.get(row["member_id"], -1) + 1
    state = {
        "lots": [tuple(r.values())[1:] for r in lots],
        "entries": _lots(
            await conn.fetch(
                """SELECT member_id, at, kind, points, pending, balance_after, pending_after,
                          order_id, campaign_id, counterparty, reason, actor, lot_id
                   FROM point_entries WHERE member_id LIKE $1 ORDER BY member_id, id""",
                like,
            ),
            lot_place,
        ),
        "members": await conn.fetch(
            """SELECT member_id, tier, tier_since, points_balance, points_pending, points_debt,
                      first_order_id
               FROM members WHERE member_id LIKE $1 ORDER BY member_id""",
            like,
        ),
        "spend": await conn.fetch(
            "SELECT * FROM member_spend_days WHERE member_id LIKE $1 ORDER BY member_id, day",
            like,
        ),
        "rewards": await conn.fetch(
            """SELECT member_id, occasion, kind, campaign_id, points, order_id, counterparty,
                      due_at, state
               FROM reward_due WHERE member_id LIKE $1 ORDER BY member_id, occasion""",
            like,
        ),
        "events": await conn.fetch(
            """SELECT kind, at, member_id, actor, order_id, detail FROM events
               WHERE member_id LIKE $1 AND kind LIKE 'tier%' ORDER BY member_id, id""",
            like,
        ),
    }
    text = json.dumps(
        {
            k: [list(r.values()) if isinstance(r, asyncpg.Record) else list(r) for r in v]
            for k, v in state.items()
        },
        default=str,
    )
    return json.loads(text.replace(prefix, "X"))


@pytest.mark.parametrize("pending_days", [0, 7])
async def test_a_batch_writes_what_the_orders_one_by_one_wrote(
    db: asyncpg.Pool, pending_days: int
) -> None:
    uid = unique("sb")
    body = json.loads(json.dumps(PROGRAMME))
    body["points"]["pending_days"] = pending_days
    async with db.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        try:
            await conn.execute(
                SET_PROGRAMME,
                body,
            )
            batch, seeds = await _make(conn, f"{uid}A")
            one_by_one, _ = await _make(conn, f"{uid}B")
            rows = await conn.fetch(
                "SELECT * FROM gw_settle($1::text[], $2, $3::text[], $4)",
                [o for o, _ in batch],
                NOW_MS,
                [a for _, a in batch],
                ZONE,
            )
            await _per_order(conn, one_by_one)
            settled = {r["order_id"]: r for r in rows}
            assert sorted(settled) == sorted(o for o, _ in batch)
            assert all(json.loads(r["result"])["total"] >= 0 for r in rows)

            a, b = await _state(conn, f"{uid}A"), await _state(conn, f"{uid}B")
            for table in a:
                assert a[table] == b[table], table
            # The cases the batch was made of all happened.
            kinds = {e[2] for e in a["entries"]}
            assert {"expire", "activate"} <= kinds
            assert {"earn_pending" if pending_days else "earn"} <= kinds
            assert sorted(e[5]["to"] for e in a["events"]) == ["gold", "silver", "silver"]
            occasions = {r[1].split(":")[0] for r in a["rewards"]}
            assert occasions >= {"first_order", "referral", "spend_step"}
            assert any(r[1].startswith("spend_step:month:") for r in a["rewards"])
            # Every member's entries add up to its totals.
            ledger = await conn.fetch(
                """SELECT m.member_id, m.points_balance, m.points_pending,
                          coalesce(sum(e.points), 0) AS points, coalesce(sum(e.pending), 0) AS p
                   FROM members m LEFT JOIN point_entries e ON e.member_id = m.member_id
                   WHERE m.member_id LIKE $1 GROUP BY m.member_id""",
                f"{uid}A%",
            )
            for row in ledger:
                balance, pending = seeds.get(row["member_id"], (0, 0))
                assert row["points"] == row["points_balance"] - balance, row["member_id"]
                assert row["p"] == row["points_pending"] - pending, row["member_id"]
        finally:
            await tr.rollback()
