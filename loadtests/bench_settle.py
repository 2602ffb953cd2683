"""Where the time of an order's points goes at commit (issue 13), measured alone.

The group commit (`gw_settle`) of a registered member's order also calls `gw_order_committed`:
the member's row lock and its due lots (`gw_points_lock`), the order's lot and `earn` entry
(`gw_points_credit`, `gw_points_post`), the day's spend (`member_spend_days`), the tier check
over the year's spend, and in trees with issue 14 the rewards' triggers. Here each is timed on
one connection (no other load, so time is Postgres CPU, not waiting for a core), `--per-tx`
calls per transaction (the commit's WAL flush shared, as a group commit shares it), each call
a fresh registered member's first order, as in `bench.py --only orders`:

- (0) `SELECT 1`: the floor of a statement's round trip;
- (1) `gw_order_committed` for a member who is not registered (a guest: one index lookup);
- (2) `gw_order_committed` for a registered silver member: 1,300 points, 1,300.00 paid;
- (3) the same rows written by plain statements from the client (lock and due-lot check, lot,
  entry, member totals, spend day, the year's spend), one round trip each: what the rows cost
  without PL/pgSQL;
- (4) the same rows for `--batch` members at once, set-based (one statement): what a
  `gw_settle` that wrote a batch's points in one statement would cost per order.

For each: µs per order of client time and of Postgres CPU (the postmaster and its children,
from /proc), and with pg_stat_statements (track = all) the statements inside (2). On a stack of
its own (tests/stack.py) with a ledger in use beside (`programme_fixture.generate_readers`).
Prints Markdown. Usage: `.venv/bin/python loadtests/bench_settle.py [--orders 5000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests import programme_fixture  # noqa: E402 - after the path fix above
from tests.stack import Stack  # noqa: E402 - same

ZONE = "Asia/Shanghai"
POINTS, PAID = 1300, 130_000

COMMITTED = "SELECT gw_order_committed($1, $2, $3, $4, now(), $5, 'bench')"
# (3): the statements gw_order_committed runs for a first order, from the client.
PLAIN = [
    ("lock", "SELECT points_debt FROM members WHERE member_id = $1 FOR UPDATE", 1),
    (
        "due lots",
        "SELECT id FROM point_lots WHERE member_id = $1 AND remaining > 0 "
        "AND ((pending AND counts_from <= now()) OR (NOT pending AND expires_at < now()))",
        1,
    ),
    (
        "lot",
        "INSERT INTO point_lots (member_id, points, remaining, earned_at, counts_from, "
        "expires_at, pending, source, order_id) VALUES ($1, $3, $3, now(), now(), "
        "make_timestamptz(extract(year FROM now() AT TIME ZONE 'Asia/Shanghai')::integer + 1, "
        "12, 31, 23, 59, 59, 'Asia/Shanghai'), false, 'order', $2) RETURNING id",
        3,
    ),
    (
        "totals",
        "UPDATE members SET points_balance = points_balance + $2 WHERE member_id = $1 "
        "RETURNING points_balance, points_pending",
        2,
    ),
    (
        "entry",
        "INSERT INTO point_entries (member_id, at, kind, points, pending, balance_after, "
        "pending_after, order_id, actor) VALUES ($1, now(), 'earn', $3, 0, $3, 0, $2, 'bench')",
        3,
    ),
    (
        "spend day",
        "INSERT INTO member_spend_days AS d (member_id, day, paid, orders) "
        "VALUES ($1, (now() AT TIME ZONE 'Asia/Shanghai')::date, $2, 1) "
        "ON CONFLICT (member_id, day) DO UPDATE SET paid = d.paid + excluded.paid, "
        "orders = d.orders + 1",
        2,
    ),
    (
        "year's spend",
        "SELECT coalesce(sum(paid), 0) FROM member_spend_days WHERE member_id = $1 "
        "AND day > (now() AT TIME ZONE 'Asia/Shanghai')::date - 365",
        1,
    ),
]
# (4): the same rows for a batch of members in one statement ($1 members, $2 orders).
BATCH = """
WITH b AS (
    SELECT * FROM unnest($1::text[], $2::text[]) AS b(m, o)
), locked AS (
    SELECT member_id FROM members WHERE member_id = ANY($1::text[])
    ORDER BY member_id FOR UPDATE
), due AS (
    SELECT count(*) AS n FROM point_lots l JOIN locked k ON k.member_id = l.member_id
    WHERE l.remaining > 0
      AND ((l.pending AND l.counts_from <= now()) OR (NOT l.pending AND l.expires_at < now()))
), lots AS (
    INSERT INTO point_lots (member_id, points, remaining, earned_at, counts_from, expires_at,
                            pending, source, order_id)
    SELECT b.m, $3, $3, now(), now(),
           make_timestamptz(extract(year FROM now() AT TIME ZONE 'Asia/Shanghai')::integer + 1,
                            12, 31, 23, 59, 59, 'Asia/Shanghai'), false, 'order', b.o
    FROM b JOIN locked k ON k.member_id = b.m
    RETURNING id, member_id, order_id
), totals AS (
    UPDATE members m SET points_balance = points_balance + $3
    FROM locked k WHERE m.member_id = k.member_id
    RETURNING m.member_id, m.points_balance, m.points_pending
), entries AS (
    INSERT INTO point_entries (member_id, at, kind, points, pending, balance_after,
                               pending_after, order_id, actor, lot_id)
    SELECT l.member_id, now(), 'earn', $3, 0, t.points_balance, t.points_pending, l.order_id,
           'bench', l.id
    FROM lots l JOIN totals t ON t.member_id = l.member_id
), spend AS (
    INSERT INTO member_spend_days AS d (member_id, day, paid, orders)
    SELECT b.m, (now() AT TIME ZONE 'Asia/Shanghai')::date, $4, 1 FROM b
    ON CONFLICT (member_id, day) DO UPDATE SET paid = d.paid + excluded.paid,
                                               orders = d.orders + 1
)
SELECT b.m, $4 + coalesce((SELECT sum(d.paid) FROM member_spend_days d
                           WHERE d.member_id = b.m
                             AND d.day > (now() AT TIME ZONE 'Asia/Shanghai')::date - 365), 0)
FROM b, due
"""
TOP = """
SELECT calls, total_exec_time, toplevel, regexp_replace(query, '\\s+', ' ', 'g') AS query
FROM pg_stat_statements
WHERE query NOT LIKE '%pg_stat_statements%'
ORDER BY total_exec_time DESC LIMIT 20
"""


def log(message: str) -> None:
    print(f"bench_settle: {message}", file=sys.stderr, flush=True)


def postgres_cpu(data: Path) -> float:
    """CPU seconds of the stack's postmaster and its children so far."""
    postmaster = int((data / "pg" / "postmaster.pid").read_text().split()[0])
    hz = os.sysconf("SC_CLK_TCK")
    used = 0.0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(proc.name) == postmaster or int(stat[1]) == postmaster:
            used += (int(stat[11]) + int(stat[12])) / hz
    return used


def enable_statements(stack: Stack) -> None:
    """pg_stat_statements on the stack's Postgres (a restart with its own options)."""
    subprocess.run(
        ["psql", stack.database_url, "-qc",
         "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"],
        check=True, capture_output=True,
    )  # fmt: skip
    pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1] / "pg_ctl"
    command = [str(pg_ctl), "-D", str(stack.data / "pg"), "-w", "-m", "fast"]
    command += ["-l", str(stack.data / "pg" / "server.log"), "restart"]
    if os.getuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


Call = Callable[[asyncpg.Connection, list[str], list[str]], Awaitable[None]]


async def case(
    conn: asyncpg.Connection, data: Path, members: list[str], per_tx: int, call: Call, size: int
) -> dict[str, float]:
    """Runs `call` over `members`, `size` members a call, `per_tx` calls a transaction."""
    orders = [f"o-{m}" for m in members]
    await conn.execute("CHECKPOINT")
    cpu, started = postgres_cpu(data), time.perf_counter()
    step = size * per_tx
    for start in range(0, len(members), step):
        async with conn.transaction():
            for at in range(start, min(start + step, len(members)), size):
                await call(conn, members[at : at + size], orders[at : at + size])
    elapsed = time.perf_counter() - started
    return {
        "client_us": elapsed / len(members) * 1e6,
        "postgres_us": (postgres_cpu(data) - cpu) / len(members) * 1e6,
    }


async def bench(stack: Stack, args: argparse.Namespace) -> str:
    db = stack.database_url
    load_before = os.getloadavg()[0]
    await programme_fixture.setup_programme(db)
    await programme_fixture.generate_readers(db, "ledger-", 10_000, 5)
    n = args.orders
    groups = {name: [f"{name}-{i}" for i in range(n)] for name in ("reg", "plain", "batch")}
    for ids in groups.values():
        await programme_fixture.register(db, ids)
    conn = await asyncpg.connect(db)
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    await conn.execute("VACUUM (ANALYZE) members, point_lots, point_entries, member_spend_days")

    async def select_1(c: asyncpg.Connection, m: list[str], o: list[str]) -> None:
        await c.fetchval("SELECT 1")

    async def guest(c: asyncpg.Connection, m: list[str], o: list[str]) -> None:
        await c.fetchval(COMMITTED, "guest-" + m[0], o[0], POINTS, PAID, ZONE)

    async def committed(c: asyncpg.Connection, m: list[str], o: list[str]) -> None:
        await c.fetchval(COMMITTED, m[0], o[0], POINTS, PAID, ZONE)

    async def plain(c: asyncpg.Connection, m: list[str], o: list[str]) -> None:
        values = {1: (m[0],), 2: (m[0], PAID), 3: (m[0], o[0], POINTS)}
        for name, sql, arity in PLAIN:
            params = values[arity] if name != "totals" else (m[0], POINTS)
            await c.fetch(sql, *params)

    async def batch(c: asyncpg.Connection, m: list[str], o: list[str]) -> None:
        await c.fetch(BATCH, m, o, POINTS, PAID)

    rows: list[str] = []
    statements: list[asyncpg.Record] = []
    cases: list[tuple[str, list[str], Call, int]] = [
        ("(0) `SELECT 1`", [f"x-{i}" for i in range(n)], select_1, 1),
        ("(1) `gw_order_committed`, member not registered", groups["plain"], guest, 1),
        ("(2) `gw_order_committed`, registered member earning", groups["reg"], committed, 1),
        ("(3) the same rows, plain statements (7 round trips)", groups["plain"], plain, 1),
        (
            f"(4) the same rows, {args.batch} members a statement",
            groups["batch"],
            batch,
            args.batch,
        ),
    ]
    for label, members, call, size in cases:
        log(label)
        await conn.execute("SELECT pg_stat_statements_reset()")
        r = await case(conn, stack.data, members, args.per_tx, call, size)
        if call is committed:
            statements = await conn.fetch(TOP)
        rows.append(f"| {label} | {r['client_us']:.0f} | {r['postgres_us']:.0f} |")
    lots = await conn.fetchval("SELECT count(*) FROM point_lots WHERE order_id LIKE 'o-%'")
    await conn.close()
    return "\n".join(
        [
            f"Command: `.venv/bin/python loadtests/bench_settle.py --orders {n} --per-tx "
            f"{args.per_tx} --batch {args.batch}` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; one "
            f"connection, {args.per_tx} calls a transaction, pg_stat_statements loaded; load "
            f"average {load_before:.1f} before, {os.getloadavg()[0]:.1f} at the end).",
            "",
            "| case | client µs per order | Postgres CPU µs per order |",
            "| --- | ---: | ---: |",
            *rows,
            "",
            f"Lots written: {lots:,} (cases 2-4: {3 * n:,} expected).",
            "",
            "Statements of (2), by total time (µs per order; nested: inside the functions):",
            "",
            "| µs per order | calls per order | mean µs | level | statement |",
            "| ---: | ---: | ---: | --- | --- |",
            *(
                f"| {s['total_exec_time'] * 1000 / n:.1f} | {s['calls'] / n:.2f} "
                f"| {s['total_exec_time'] * 1000 / max(s['calls'], 1):.1f} "
                f"| {'top' if s['toplevel'] else 'nested'} | `{s['query'][:100]}` |"
                for s in statements
            ),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000, help="orders (members) per case")
    parser.add_argument("--per-tx", type=int, default=4, help="calls per transaction")
    parser.add_argument("--batch", type=int, default=4, help="members per statement in (4)")
    args = parser.parse_args()
    stack = Stack("bench-settle")
    try:
        stack.services("start")
        stack.cli("migrate")
        enable_statements(stack)
        subprocess.run(
            ["psql", stack.database_url, "-q",
             "-c", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
             "-c", "ALTER SYSTEM SET pg_stat_statements.track = 'all'",
             "-c", "SELECT pg_reload_conf()"],
            check=True, capture_output=True,
        )  # fmt: skip
        print(asyncio.run(bench(stack, args)))
    finally:
        stack.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
