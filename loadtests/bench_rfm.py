"""Benchmark of segments (issue 14): the RFM table over 100,000 members and 1,000,000 orders.

Run: `python loadtests/bench_rfm.py [--members N] [--orders N] [--runs N] [--keep|--reuse]`.
It makes a database `bench_rfm` on the development Postgres (GATEWAY_DATABASE_URL's server),
migrates it, generates the history in Postgres with generate_series (a fixed seed: 70% of the
members order, with a skew; 1-3 lines over 8 categories; 5% of the orders refunded whole, 5% in
part; commits spread over 420 days before `as_of`; member_spend_days as commits and refunds
leave it), then
times each case `--runs` times on one connection (wall seconds, best and median, and the least
CPU seconds of its Postgres backend: on a shared machine the CPU says what a statement costs):

- `GET /v1/segments/rfm`'s statement (`services.rfm`): the whole base scored, and the same
  statement with JIT left on (what `services.NO_JIT` saves);
- the size of a saved segment with a `group` (the same pass, counted) and without one;
- the first page (100 ids) of a segment without `group` (measured member by member) and with;
- a grant job's listing: `segment_member_ids` page after page (20,000 ids a page, as
  gateway/jobs makes a job) through a segment without `group` and one with.

It prints a Markdown table for docs/BENCHMARKS.md and drops the database (unless `--keep`;
`--reuse` times a kept one again).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.segments import services  # noqa: E402 - after the path fix above
from gateway.segments.schemas import Rfm, SegmentFilter  # noqa: E402
from gateway.store.postgres import create_pool, migrate  # noqa: E402
from gateway.wire import to_ms  # noqa: E402

DATABASE_URL = os.environ.get(
    "GATEWAY_DATABASE_URL", "postgresql://gateway@127.0.0.1:55432/gateway"
)
NAME = "bench_rfm"
AS_OF = datetime(2031, 3, 15, 10, 30, tzinfo=UTC)

# $1 members, $2 as_of. Registered over 900 days before as_of (1% in its last 30 days).
MEMBERS = """
INSERT INTO members (member_id, tier, birthday, registered_at, tier_since)
SELECT 'b' || lpad(i::text, 7, '0'),
       (ARRAY['standard', 'silver', 'gold', 'diamond'])[1 + i % 4],
       CASE WHEN i % 5 = 0 THEN NULL
            ELSE lpad((1 + i % 12)::text, 2, '0') || '-' || lpad((1 + i % 28)::text, 2, '0') END,
       $2::timestamptz - make_interval(secs => (CASE WHEN i % 100 = 0 THEN 30 ELSE 900 END)
                                                * 86400 * random()),
       $2::timestamptz
FROM generate_series(1, $1::int) AS i
"""
# $1 orders, $2 members, $3 as_of. The buyers are the first 70% of the members, the lower ids
# ordering more (random()^2); each order's 1-3 lines over 8 categories, its paid total their sum.
ORDERS = """
INSERT INTO redemptions (order_id, member_id, state, cart_hash, cart, result, refunded,
                         reserved_at, expires_at, committed_at)
SELECT 'o' || lpad(g.i::text, 8, '0'), g.member_id,
       CASE WHEN g.roll < 0.05 THEN 'refunded' ELSE 'committed' END, '\\x',
       jsonb_build_object('member_id', g.member_id, 'channel', 'online', 'lines', g.lines),
       jsonb_build_object('total', g.total),
       CASE WHEN g.roll < 0.05
            THEN (SELECT jsonb_agg(l -> 'qty') FROM jsonb_array_elements(g.lines) l)
            WHEN g.roll < 0.10 THEN jsonb_build_array(1)
            ELSE '[]'::jsonb END,
       g.at - interval '1 minute', g.at + interval '14 minutes', g.at
FROM (
    SELECT o.i, o.member_id, o.at, o.roll, o.lines,
           (SELECT sum((l ->> 'unit_price')::bigint * (l ->> 'qty')::bigint)
            FROM jsonb_array_elements(o.lines) l) AS total
    FROM (
        SELECT i, 'b' || lpad((1 + floor(random() ^ 2 * $2::int * 0.7))::int::text, 7, '0')
                   AS member_id,
               $3::timestamptz - make_interval(secs => 420 * 86400 * random()) AS at,
               random() AS roll,
               (SELECT jsonb_agg(jsonb_build_object(
                    'sku', 's' || k, 'category',
                    (ARRAY['tops', 'shoes', 'bags', 'beauty', 'kids', 'home', 'sports',
                           'food'])[1 + floor(random() * 8)::int],
                    'unit_price',
                    (ARRAY[990, 1990, 4990, 9900, 19900])[1 + floor(random() * 5)::int],
                    'qty', 1 + floor(random() * 3)::int))
                FROM generate_series(1, 1 + i % 3) AS k) AS lines
        FROM generate_series(1, $1::int) AS i
    ) o
) g
"""
# What commits and refunds left: a partial refund ([1]) gave back one unit of the first line.
SPEND_DAYS = """
INSERT INTO member_spend_days (member_id, day, paid, orders)
SELECT member_id, (committed_at AT TIME ZONE $1::text)::date,
       sum(CASE WHEN state = 'refunded' THEN 0
                WHEN refunded = '[1]' THEN (result ->> 'total')::bigint
                     - (cart -> 'lines' -> 0 ->> 'unit_price')::bigint
                ELSE (result ->> 'total')::bigint END),
       count(*) FILTER (WHERE state = 'committed')
FROM redemptions GROUP BY 1, 2
"""


async def build(dsn: str, members: int, orders: int) -> float:
    admin = await asyncpg.connect(DATABASE_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {NAME}")
    finally:
        await admin.close()
    await migrate(dsn)
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT setseed(0.14)")
        await conn.execute(MEMBERS, members, AS_OF)
        await conn.execute(ORDERS, orders, members, AS_OF, timeout=3600)
        await conn.execute(SPEND_DAYS, services.zone_name(), timeout=3600)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


TICK = os.sysconf("SC_CLK_TCK")
Row = tuple[str, float, float, float | None, str]


def backend_cpu(pid: int) -> float | None:
    """CPU seconds the Postgres backend `pid` has used (None: not readable from here). The
    machine is shared: CPU says what a statement costs, wall time what others left over."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


async def timed(
    pid: int, runs: int, work: Callable[[], Awaitable[Any]]
) -> tuple[float, float, float | None, Any]:
    """Best and median wall seconds of `runs`, the least backend CPU seconds, the answer."""
    took, cpu = [], []
    result = None
    for _ in range(runs):
        before = backend_cpu(pid)
        started = time.perf_counter()
        result = await work()
        took.append(time.perf_counter() - started)
        after = backend_cpu(pid)
        if before is not None and after is not None:
            cpu.append(after - before)
    return min(took), statistics.median(took), min(cpu) if cpu else None, result


async def bench(dsn: str, runs: int) -> list[Row]:
    pool = await create_pool(dsn, 1)
    zone = services.zone_name()
    rows: list[Row] = []
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")

            async def case(
                label: str, work: Callable[[], Awaitable[Any]], said: str | None = None
            ) -> None:
                best, median, cpu, answer = await timed(pid, runs, work)
                rows.append((label, best, median, cpu, said or describe(answer)))

            await case(
                "RFM table (the route: `services.rfm`)", lambda: services.rfm(conn, AS_OF, zone)
            )
            await case(
                "RFM table, the same statement with JIT left on",
                lambda: conn.fetch(services.RFM, AS_OF, zone, True),
                "the same table",
            )
            at_risk = services.check_filter(_filter({"group": "at_risk"}))
            gold = services.check_filter(_filter({"orders": {"min": 2}, "tiers": ["gold"]}))
            for label, rule in (("group at_risk", at_risk), ("orders ≥ 2, gold", gold)):
                await case(
                    f"size, {label}",
                    lambda rule=rule: services.filter_size(conn, rule, as_of=AS_OF, zone=zone),
                )
            for label, rule in (("orders ≥ 2, gold", gold), ("group at_risk", at_risk)):
                await case(
                    f"first page (100 ids), {label}",
                    lambda rule=rule: services.filter_page(
                        conn, rule, after=None, limit=100, as_of=AS_OF, zone=zone
                    ),
                )
            for label, raw in (
                ("orders ≥ 2", {"orders": {"min": 2}}),
                ("group loyal", {"group": "loyal"}),
            ):
                segment_id = services.new_segment_id()
                await conn.execute(
                    services.INSERT_SEGMENT, segment_id, "bench", raw, "bench", AS_OF
                )
                await case(
                    f"a job's listing (pages of 20,000), {label}",
                    lambda segment_id=segment_id: _list_all(conn, segment_id),
                )
    finally:
        await pool.close()
    return rows


def describe(answer: Any) -> str:
    if isinstance(answer, Rfm):
        return ", ".join(f"{g.name} {g.count:,}" for g in answer.groups)
    if isinstance(answer, int):
        return f"{answer:,} members"
    return f"{len(answer):,} member ids"


def _filter(raw: dict[str, Any]) -> SegmentFilter:
    return msgspec.convert(raw, SegmentFilter)


async def _list_all(conn: asyncpg.Connection, segment_id: str) -> int:
    total, after = 0, None
    while True:
        page = await services.segment_member_ids(
            conn, segment_id, after=after, limit=20_000, now_ms=to_ms(AS_OF)
        )
        total += len(page)
        if len(page) < 20_000:
            return total
        after = page[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the bench_rfm database")
    parser.add_argument("--reuse", action="store_true", help="time a kept bench_rfm database")
    args = parser.parse_args()
    dsn = DATABASE_URL.rsplit("/", 1)[0] + "/" + NAME
    made = 0.0 if args.reuse else asyncio.run(build(dsn, args.members, args.orders))
    try:
        rows = asyncio.run(bench(dsn, args.runs))
    finally:
        if not args.keep:
            asyncio.run(_drop())
    print(
        f"{args.members:,} members, {args.orders:,} orders "
        f"({f'generated in {made:.0f} s' if made else 'a kept database'}); "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} after the run; best and median of {args.runs}."
    )
    print()
    print("| case | wall s, best | wall s, median | Postgres CPU s | answer |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, best, median, cpu, answer in rows:
        used = f"{cpu:.2f}" if cpu is not None else "n/a"
        print(f"| {label} | {best:.2f} | {median:.2f} | {used} | {answer} |")


async def _drop() -> None:
    admin = await asyncpg.connect(DATABASE_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
    finally:
        await admin.close()


if __name__ == "__main__":
    main()
