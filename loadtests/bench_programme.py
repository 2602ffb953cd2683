"""The membership programme's jobs at scale (issue 13): the tier review over 100,000 members
due at one anniversary, and the points expiry sweep over 1,000,000 lots expired at the turn of
the year; each run twice (the rerun finds nothing due: idempotent, and cheap).

On a stack of its own (tests/stack.py: Redis and Postgres under .data/, on free ports,
destroyed at the end), so the generated members never reach the development or the test
database. Data is written by Postgres itself (generate_series), then VACUUM (ANALYZE), then a
CHECKPOINT, so each job starts from a settled database. The jobs are the gateway's own
functions, called as a worker's scheduler calls them (`gateway.tiers.review.review_due`,
`gateway.points.jobs.sweep_points`) with a clock set to the anniversary or the new year:

- review: `--members` members (silver, gold and diamond in turn) holding their tier since
  2025-06-01 10:00 +08:00, reviewed at 2026-06-01 00:00:30 +08:00; their paid spend of the
  tier year (4 days of it each) is, by member number mod 4, none, half, exactly, or one and a
  half times the tier's `yearly_spend` (`programme_fixture.TIERS`): half keep the tier, half
  move down (`one_step`, or `--downgrade recalculate`);
- sweep: `--lot-members` members with `--lots` lots of 100 points each, earned through 2025
  (interleaved as members earn through a year: lot j of every member, then lot j+1) with an
  `earn` entry each, all expiring at 2026-12-31 23:59:59 +08:00 (`end_of_next_year`), swept at
  2027-01-01 00:00:05 +08:00: every lot expires with an `expire` entry and every balance
  drops to 0.

Prints a Markdown table: seconds, members (and lots) per second, what each run did, and the
checks (nothing left due, balances against entries). Usage:

    .venv/bin/python loadtests/bench_programme.py [--members 100000] [--lot-members 100000]
        [--lots 10] [--downgrade one_step|recalculate]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.points.jobs import sweep_points  # noqa: E402 - after the path fix above
from gateway.tiers.review import review_due  # noqa: E402 - same
from loadtests import programme_fixture  # noqa: E402 - same
from tests.stack import Stack  # noqa: E402 - same

SINCE = "2025-06-01 10:00:00+08"
REVIEW_AT = datetime.fromisoformat("2026-06-01T00:00:30+08:00")
EXPIRES = "2026-12-31 23:59:59+08"
SWEEP_AT = datetime.fromisoformat("2027-01-01T00:00:05+08:00")

REVIEW_MEMBERS = """
INSERT INTO members (member_id, tier, registered_at, tier_since)
SELECT 'tr-' || i, (ARRAY['silver', 'gold', 'diamond'])[i % 3 + 1], $1::timestamptz,
       $1::timestamptz
FROM generate_series(0, $2 - 1) AS i
"""
# Four days of spend in the tier year [2025-06-01, 2026-06-01) per member but those of the
# first quarter (i % 4 = 0: none): in all half, exactly, 1.5 times the tier's yearly_spend.
REVIEW_SPEND = """
INSERT INTO member_spend_days (member_id, day, paid, orders)
SELECT 'tr-' || i, date '2025-06-01' + 80 * d + 10,
       (ARRAY[$2::bigint, $3::bigint, $4::bigint])[i % 3 + 1] * (i % 4) / 2 / 4, 1
FROM generate_series(0, $1 - 1) AS i, generate_series(0, 3) AS d
WHERE i % 4 <> 0
"""
SWEEP_MEMBERS = """
INSERT INTO members (member_id, tier, registered_at, tier_since, points_balance)
SELECT 'ex-' || i, 'standard', '2024-01-01+08', '2024-01-01+08', 100 * $2
FROM generate_series(0, $1 - 1) AS i
"""
SWEEP_LOTS = """
INSERT INTO point_lots (member_id, points, remaining, earned_at, counts_from, expires_at,
                        pending, source, order_id)
SELECT 'ex-' || i, 100, 100, t, t, $3::timestamptz, false, 'order', 'ex-' || i || '-' || j
FROM generate_series(1, $2) AS j,
     LATERAL (SELECT timestamptz '2025-01-01 12:00+08' + make_interval(days => 30 * j) AS t) w,
     generate_series(0, $1 - 1) AS i
"""
SWEEP_ENTRIES = """
INSERT INTO point_entries (member_id, at, kind, points, pending, balance_after, pending_after,
                           order_id, lot_id)
SELECT member_id, earned_at, 'earn', points, 0,
       100 * row_number() OVER (PARTITION BY member_id ORDER BY id), 0, order_id, id
FROM point_lots WHERE member_id LIKE 'ex-%' ORDER BY id
"""
TABLES = "members, member_spend_days, point_lots, point_entries, events"


def log(message: str) -> None:
    print(f"bench_programme: {message}", file=sys.stderr, flush=True)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def settle(conn: asyncpg.Connection) -> None:
    await conn.execute(f"VACUUM (ANALYZE) {TABLES}")
    await conn.execute("CHECKPOINT")


async def generate(db: str, members: int, lot_members: int, lots: int) -> dict[str, float]:
    conn = await asyncpg.connect(db)
    took: dict[str, float] = {}
    try:
        started = time.perf_counter()
        tiers = programme_fixture.TIERS
        yearly = [tiers[t]["yearly_spend"] for t in ("silver", "gold", "diamond")]
        async with conn.transaction():
            await conn.execute(REVIEW_MEMBERS, datetime.fromisoformat(SINCE), members)
            await conn.execute(REVIEW_SPEND, members, *yearly)
        took["review data"] = time.perf_counter() - started
        started = time.perf_counter()
        expires = datetime.fromisoformat(EXPIRES)
        async with conn.transaction():
            await conn.execute(SWEEP_MEMBERS, lot_members, lots)
            await conn.execute(SWEEP_LOTS, lot_members, lots, expires)
            await conn.execute(SWEEP_ENTRIES)
        took["sweep data"] = time.perf_counter() - started
        started = time.perf_counter()
        await settle(conn)
        took["vacuum"] = time.perf_counter() - started
    finally:
        await conn.close()
    return took


async def run_review(pool: asyncpg.Pool, batch: int) -> dict[str, Any]:
    started = time.perf_counter()
    report = await review_due(pool, ms(REVIEW_AT), batch=batch)
    return {"seconds": time.perf_counter() - started, "report": report}


async def run_sweep(pool: asyncpg.Pool, batch: int) -> dict[str, Any]:
    before = await pool.fetchval("SELECT count(*) FROM point_entries WHERE kind = 'expire'")
    started = time.perf_counter()
    members = await sweep_points(pool, ms(SWEEP_AT), batch=batch)
    seconds = time.perf_counter() - started
    after = await pool.fetchval("SELECT count(*) FROM point_entries WHERE kind = 'expire'")
    return {"seconds": seconds, "members": members, "lots": after - before}


CHECK_REVIEW = """
SELECT (SELECT count(*) FROM members WHERE member_id LIKE 'tr-%' AND tier_reviewed_at IS NOT NULL)
           AS kept,
       (SELECT count(*) FROM events WHERE kind = 'tier_downgraded') AS downgraded,
       (SELECT count(*) FROM members WHERE member_id LIKE 'tr-%' AND tier <> 'standard'
          AND gw_tier_review_at(tier_since, tier_reviewed_at, 'Asia/Shanghai') <= $1)
           AS left_due
"""
CHECK_SWEEP = """
SELECT (SELECT count(*) FROM point_lots WHERE remaining > 0 AND expires_at < $1) AS left_due,
       (SELECT count(*) FROM members WHERE member_id LIKE 'ex-%' AND points_balance <> 0)
           AS nonzero,
       (SELECT count(*) FROM (
            SELECT e.member_id FROM point_entries e WHERE e.member_id LIKE 'ex-%'
            GROUP BY e.member_id
            HAVING sum(e.points) <> (SELECT m.points_balance FROM members m
                                     WHERE m.member_id = e.member_id)) x) AS off_ledger
"""


def review_row(label: str, r: dict[str, Any]) -> str:
    rep = r["report"]
    rate = rep.reviewed / r["seconds"] if rep.reviewed else 0
    return (
        f"| {label} | {r['seconds']:.3f} | {rep.reviewed:,} reviewed ({rep.kept:,} kept, "
        f"{rep.downgraded:,} moved down) | {rate:,.0f} members/s |"
    )


def sweep_row(label: str, r: dict[str, Any]) -> str:
    rate = r["lots"] / r["seconds"] if r["lots"] else 0
    return (
        f"| {label} | {r['seconds']:.3f} | {r['lots']:,} lots expired, {r['members']:,} members "
        f"| {rate:,.0f} lots/s |"
    )


async def bench(stack: Stack, args: argparse.Namespace) -> str:
    db = stack.database_url
    load_before = os.getloadavg()[0]
    await programme_fixture.setup_programme(db, args.downgrade)
    log(
        f"generating {args.members:,} members due for review, {args.lot_members * args.lots:,} lots"
    )
    took = await generate(db, args.members, args.lot_members, args.lots)
    log(", ".join(f"{k} {v:.1f} s" for k, v in took.items()))
    rows: list[str] = []
    async with asyncpg.create_pool(db, min_size=1, max_size=2) as pool:
        log("tier review")
        rows.append(review_row("tier review", await run_review(pool, args.review_batch)))
        log("tier review again")
        rows.append(review_row("tier review, rerun", await run_review(pool, args.review_batch)))
        review_check = await pool.fetchrow(CHECK_REVIEW, REVIEW_AT)
        async with pool.acquire() as conn:
            await settle(conn)
        log("points sweep")
        rows.append(sweep_row("points expiry sweep", await run_sweep(pool, args.sweep_batch)))
        log("points sweep again")
        rows.append(
            sweep_row("points expiry sweep, rerun", await run_sweep(pool, args.sweep_batch))
        )
        async with pool.acquire() as conn:
            await conn.execute("VACUUM point_lots")
        rows.append(
            sweep_row(
                "points expiry sweep, rerun after VACUUM", await run_sweep(pool, args.sweep_batch)
            )
        )
        sweep_check = await pool.fetchrow(CHECK_SWEEP, SWEEP_AT)
    return "\n".join(
        [
            f"Command: `.venv/bin/python loadtests/bench_programme.py --members {args.members} "
            f"--lot-members {args.lot_members} --lots {args.lots} --downgrade {args.downgrade}` "
            f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; review batches of {args.review_batch}, "
            f"sweep batches of {args.sweep_batch}, one caller; load average {load_before:.1f} "
            f"before, {os.getloadavg()[0]:.1f} at the end).",
            "",
            "| job | seconds | what it did | rate |",
            "| --- | ---: | --- | ---: |",
            *rows,
            "",
            f"Checks: review: {review_check['kept']:,} members kept (tier_reviewed_at set), "
            f"{review_check['downgraded']:,} `tier_downgraded` events, "
            f"{review_check['left_due']:,} left due; sweep: {sweep_check['left_due']:,} lots "
            f"left past expiry, {sweep_check['nonzero']:,} balances not 0, "
            f"{sweep_check['off_ledger']:,} members whose entries do not sum to the balance. "
            f"Data written in {took['review data']:.1f} s (review) and {took['sweep data']:.1f} s "
            f"(lots and entries), VACUUM (ANALYZE) {took['vacuum']:.1f} s.",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="members due for review")
    parser.add_argument("--lot-members", type=int, default=100_000, help="members with lots")
    parser.add_argument("--lots", type=int, default=10, help="lots per member, all expired")
    parser.add_argument("--downgrade", choices=("one_step", "recalculate"), default="one_step")
    parser.add_argument("--review-batch", type=int, default=1000, help="review_due's batch")
    parser.add_argument("--sweep-batch", type=int, default=500, help="sweep_points' batch")
    parser.add_argument("--keep", action="store_true", help="leave the stack running (debug)")
    args = parser.parse_args()
    stack = Stack("bench-programme")
    stack.services("start")
    stack.cli("migrate")
    try:
        print(asyncio.run(bench(stack, args)))
    finally:
        if args.keep:
            log(f"stack left running: {stack.database_url} (data {stack.data})")
        else:
            stack.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
