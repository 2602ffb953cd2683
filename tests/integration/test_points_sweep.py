"""The points sweep set-based (`gw_points_sweep`, 018_sweep_review.sql) writes exactly what the
per-member path (`gw_points_lock` for each member, as `sweep_points` ran it before) writes:
the same lots, the same entries in the same order with the same running balances, the same
totals, for members with lots expiring at different instants and at one instant, pending lots
coming to count (on the very instant too), debts smaller and larger than what comes to count,
and lots that count and expire in the same pass."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from gateway.points.jobs import sweep_points
from tests.conftest import unique
from tests.integration.points_helpers import assert_ledger

pytestmark = pytest.mark.asyncio

ZONE = "Asia/Shanghai"

# The per-member path: each member locked and brought up to $2 by gw_points_lock, in member
# order (sweep_points' statement before 018).
PER_MEMBER = """
SELECT count(gw_points_lock(member_id, $2)) FROM (
    SELECT member_id FROM members WHERE member_id = ANY($1::text[])
    ORDER BY member_id FOR NO KEY UPDATE SKIP LOCKED
) m
"""
LOCK = "SELECT gw_points_lock($1, $2)"
# A lot of $2 points at $3, pending for $4 days, expiring at $5 (NULL: never).
EARN = """
SELECT gw_points_credit($1, $2, $3, $6, 'earn', 'order', $4, $7, NULL, NULL, NULL, 't', true,
                        $5)
"""
SPEND = "SELECT gw_points_debit($1, $2, $3, 'spend', NULL, NULL, NULL, 'sweep test', 't')"
# An order's points taken back: its lot, then the balance, the rest as debt.
TAKE_BACK = "SELECT gw_points_reverse($1, $4, $2, $3, 'refund', 't')"
ADD_MEMBER = """
INSERT INTO members (member_id, tier, registered_at, tier_since)
VALUES ($1, 'standard', '2025-01-01+08', '2025-01-01+08')
"""
LOTS = """
SELECT id, points, remaining, earned_at, counts_from, expires_at, pending, expired, source,
       order_id
FROM point_lots WHERE member_id = $1 ORDER BY id
"""
ENTRIES = """
SELECT kind, at, points, pending, balance_after, pending_after, order_id, campaign_id,
       counterparty, reason, actor, lot_id
FROM point_entries WHERE member_id = $1 ORDER BY id
"""
TOTALS = "SELECT points_balance, points_pending, points_debt FROM members WHERE member_id = $1"
SWEPT = """
SELECT kind, points, balance_after FROM point_entries
WHERE member_id = $1 AND kind IN ('activate', 'expire') ORDER BY id
"""


def at(text: str) -> datetime:
    """A local time in Asia/Shanghai."""
    return datetime.fromisoformat(f"{text}+08:00")


FIRST = at("2026-07-01T00:00:00")  # the first sweep
SECOND = at("2027-01-01T00:00:05")  # the second, past the turn of the year
END_2026 = at("2026-12-31T23:59:59")
END_2027 = at("2027-12-31T23:59:59")

# Each member's history: (when, move, points, pending days, expires_at, order). Every move
# runs after gw_points_lock at its time, as the gateway's moves do.
Step = tuple[datetime, str, int, int, datetime | None, str | None]
HISTORIES: list[list[Step]] = [
    # Lots expiring at different instants, two at the same one (by id), one partly spent.
    [
        (at("2025-01-10T10:00:00"), "earn", 100, 0, at("2026-06-30T23:59:59"), "a1"),
        (at("2025-02-10T10:00:00"), "earn", 70, 0, None, "a2"),
        (at("2025-03-10T10:00:00"), "earn", 50, 0, at("2026-06-30T23:59:59"), "a3"),
        (at("2025-04-10T10:00:00"), "earn", 80, 0, at("2026-03-31T23:59:59"), "a4"),
        (at("2025-05-10T10:00:00"), "earn", 60, 0, END_2027, "a5"),
        (at("2025-06-10T10:00:00"), "spend", 120, 0, None, None),
        (at("2025-07-10T10:00:00"), "earn", 30, 0, END_2026, "a6"),
    ],
    # Pending lots: counted before the sweep, on its very instant, after it; a counting lot
    # and a pending one expiring on the first sweep's instant (they still count then).
    [
        (at("2026-01-01T00:00:00"), "earn", 15, 0, FIRST, "b1"),
        (at("2026-05-01T09:00:00"), "earn", 100, 0, END_2026, "b2"),
        (at("2026-06-23T12:00:00"), "earn", 40, 7, END_2026, "b3"),
        (at("2026-06-24T00:00:00"), "earn", 5, 6, FIRST, "b7"),
        (at("2026-06-25T00:00:00"), "earn", 25, 6, END_2026, "b4"),
        (at("2026-06-28T09:00:00"), "earn", 35, 7, END_2026, "b5"),
        (at("2026-06-29T09:00:00"), "earn", 10, 7, None, "b6"),
    ],
    # A debt of 60 against 120 points coming to count (created out of id order): 30 paid
    # from the first to count (past its expiry, but nothing left to expire), 30 from the
    # second, which then expires with its 20 left.
    [
        (at("2026-05-01T09:00:00"), "earn", 40, 0, END_2027, "c0"),
        (at("2026-05-02T09:00:00"), "spend", 40, 0, None, None),
        (at("2026-05-20T09:00:00"), "earn", 40, 14, END_2027, "c1"),
        (at("2026-05-25T09:00:00"), "earn", 30, 7, at("2026-06-10T23:59:59"), "c2"),
        (at("2026-05-26T09:00:00"), "earn", 50, 7, at("2026-06-15T23:59:59"), "c3"),
        (at("2026-05-27T09:00:00"), "take_back", 60, 0, None, "c0"),
    ],
    # A debt of 100 against 45 coming to count: both lots pay it, 55 still owed.
    [
        (at("2026-05-01T09:00:00"), "earn", 50, 0, END_2027, "d0"),
        (at("2026-05-02T09:00:00"), "spend", 50, 0, None, None),
        (at("2026-05-10T09:00:00"), "earn", 20, 7, END_2026, "d1"),
        (at("2026-05-11T09:00:00"), "earn", 25, 7, END_2026, "d2"),
        (at("2026-05-12T09:00:00"), "take_back", 100, 0, None, "d0"),
    ],
    # Nothing due.
    [(at("2026-03-01T09:00:00"), "earn", 10, 0, at("2028-12-31T23:59:59"), "e1")],
    # Two lots of one instant: counting at one instant and expiring at one instant.
    [
        (at("2026-06-01T10:00:00"), "earn", 11, 3, at("2026-06-20T23:59:59"), "f1"),
        (at("2026-06-01T10:00:00"), "earn", 12, 3, at("2026-06-20T23:59:59"), "f2"),
    ],
]


async def build(db: asyncpg.Pool, members: list[str], run: str) -> None:
    for member, history in zip(members, HISTORIES, strict=True):
        await db.execute(ADD_MEMBER, member)
        for when, move, points, days, expires, order in history:
            order_id = None if order is None else f"{run}-{order}"
            async with db.acquire() as conn, conn.transaction():
                await conn.fetchval(LOCK, member, when)
                if move == "earn":
                    await conn.fetchval(EARN, member, points, when, days, expires, ZONE, order_id)
                elif move == "spend":
                    assert await conn.fetchval(SPEND, member, points, when) is not None
                else:
                    await conn.fetchval(TAKE_BACK, member, points, when, order_id)


async def ledger_of(db: asyncpg.Pool, member: str) -> dict[str, Any]:
    """The member's lots, entries (lots named by their place among the member's) and totals."""
    lots = await db.fetch(LOTS, member)
    place = {lot["id"]: i for i, lot in enumerate(lots)}
    return {
        "lots": [{k: v for k, v in lot.items() if k != "id"} for lot in lots],
        "entries": [
            {**entry, "lot_id": place.get(entry["lot_id"])}
            for entry in await db.fetch(ENTRIES, member)
        ],
        "totals": dict(await db.fetchrow(TOTALS, member)),
    }


def millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


async def test_the_set_based_sweep_writes_what_the_per_member_path_writes(
    db: asyncpg.Pool,
) -> None:
    run = unique("sweep")
    per_member = [f"{run}-a{k}" for k in range(len(HISTORIES))]
    set_based = [f"{run}-b{k}" for k in range(len(HISTORIES))]
    await build(db, per_member, run)
    await build(db, set_based, run)
    for now in (FIRST, SECOND):
        await db.fetchval(PER_MEMBER, per_member, now)
        # Two workers at once, two members a batch: the batches cross, SKIP LOCKED shares them.
        swept = await asyncio.gather(
            sweep_points(db, millis(now), batch=2), sweep_points(db, millis(now), batch=2)
        )
        assert sum(swept) >= 1
        for a, b in zip(per_member, set_based, strict=True):
            assert await ledger_of(db, b) == await ledger_of(db, a), (a, b, now)
        await assert_ledger(db, per_member + set_based)

    # What both wrote, by hand: the expiries in their order, the debt paid in counting order.
    [expiring, pending, small_debt, large_debt, idle, same_instant] = set_based
    assert [tuple(e) for e in await db.fetch(SWEPT, expiring)] == [
        ("expire", -60, 210),  # 2026-06-30, the first lot (40 of it spent)
        ("expire", -50, 160),  # the same instant, the next id
        ("expire", -30, 130),  # 2026-12-31
    ]
    assert [tuple(e) for e in await db.fetch(SWEPT, pending)] == [
        ("activate", 5, 120),  # counts before the next, created before it
        ("activate", 40, 160),
        ("activate", 25, 185),  # counts from the first sweep's instant: counts then
        ("activate", 35, 220),  # the second sweep: counts, then expires with the others
        ("activate", 10, 230),
        ("expire", -15, 215),  # expired on the first sweep's instant: gone after it
        ("expire", -5, 210),  # the same instant (it counted at the first sweep, unexpired)
        ("expire", -100, 110),
        ("expire", -40, 70),
        ("expire", -25, 45),
        ("expire", -35, 10),
    ]
    assert [tuple(e) for e in await db.fetch(SWEPT, small_debt)] == [
        ("activate", 30, -30),
        ("activate", 50, 20),
        ("activate", 40, 60),
        ("expire", -20, 40),
    ]
    assert [tuple(e) for e in await db.fetch(SWEPT, large_debt)] == [
        ("activate", 20, -80),
        ("activate", 25, -55),
    ]
    assert dict(await db.fetchrow(TOTALS, large_debt)) == {
        "points_balance": -55,
        "points_pending": 0,
        "points_debt": 55,
    }
    assert await db.fetch(SWEPT, idle) == []
    assert [tuple(e) for e in await db.fetch(SWEPT, same_instant)] == [
        ("activate", 11, 11),
        ("activate", 12, 23),
        ("expire", -11, 12),
        ("expire", -12, 0),
    ]
    # Nothing left due; a rerun writes nothing.
    before = await db.fetchval(
        "SELECT count(*) FROM point_entries WHERE member_id = ANY($1)", set_based
    )
    await sweep_points(db, millis(SECOND))
    after = await db.fetchval(
        "SELECT count(*) FROM point_entries WHERE member_id = ANY($1)", set_based
    )
    assert after == before


async def test_a_member_held_by_another_transaction_is_left_to_it(db: asyncpg.Pool) -> None:
    """SKIP LOCKED: the sweep does not wait for a member another transaction holds (a
    checkout, another worker), and brings the others up to date."""
    run = unique("sweep")
    held, free = f"{run}-held", f"{run}-free"
    for member in (held, free):
        await db.execute(ADD_MEMBER, member)
        await db.fetchval(EARN, member, 10, at("2025-01-10T10:00:00"), 0, END_2026, ZONE, None)
    async with db.acquire() as conn, conn.transaction():
        await conn.fetchval(LOCK, held, at("2025-01-10T10:00:00"))
        assert await db.fetchval("SELECT gw_points_sweep($1, $2)", [held, free], SECOND) == 1
    assert [tuple(e) for e in await db.fetch(SWEPT, free)] == [("expire", -10, 0)]
    assert await db.fetch(SWEPT, held) == []
    assert await db.fetchval("SELECT gw_points_sweep($1, $2)", [held, free], SECOND) == 2
    assert [tuple(e) for e in await db.fetch(SWEPT, held)] == [("expire", -10, 0)]
    await assert_ledger(db, [held, free])
