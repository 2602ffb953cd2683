"""The end-of-run check: nothing oversold, nothing over a limit, nothing lost, nothing left held.

    python loadtests/consistency.py loadtests/reports/results.json \
        --host http://127.0.0.1:8000 [--database-url postgresql://...]

reads the results file the Locust master wrote (`LOADTEST_RESULTS`: the fixture and the tally of
responses) and checks, for each campaign of the run:

- stock: coupons in Postgres == `stats.claimed` == `stock_total - remaining`, and Postgres and
  the live counters agree on `stock_total`;
- limits: no member holds more coupons than `per_member_limit`;
- ledger: coupon rows == 201 claim responses (+ coupons granted in 200 grant responses); a claim
  whose answer was lost (timeout, 503 after its retries) may or may not have a row, and is
  reported;
- reservations: every order of the run is committed or cancelled. Orders still reserved (a user
  stopped between reserve and commit) are cancelled first, as the checkout would, and counted;
  then no coupon may be left `reserved`, every `redeemed` coupon belongs to a committed order and
  every committed order's coupons are `redeemed`.

It acts with `LOADTEST_ADMIN_KEY` and `LOADTEST_CHECKOUT_KEY` (the results file holds no keys).
Without `--database-url` only the checks the API can answer run. Exit status 0 when all pass.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenarios import names  # the package beside this file (no Locust import in it)

#: How long the ledger writer may take to catch up with Redis once the load has stopped.
CATCH_UP_S = 20.0

COUPONS_BY_SOURCE = """
SELECT count(*) FILTER (WHERE source = 'claim') AS claims,
       count(*) FILTER (WHERE source = 'grant') AS grants
FROM coupons WHERE campaign_id = $1
"""
STOCK_TOTAL = "SELECT stock_total FROM campaigns WHERE id = $1"
OVER_LIMIT = """
SELECT member_id, count(*) AS held FROM coupons
WHERE campaign_id = $1 AND source IN ('claim', 'grant')
GROUP BY member_id HAVING count(*) > $2
ORDER BY held DESC LIMIT 5
"""
RESERVED_ORDERS = """
SELECT order_id FROM redemptions WHERE starts_with(order_id, $1) AND state = 'reserved'
"""
ORDER_STATES = """
SELECT state, count(*) AS n FROM redemptions WHERE starts_with(order_id, $1) GROUP BY state
"""
RESERVED_COUPONS = "SELECT count(*) FROM coupons WHERE campaign_id = ANY($1) AND state = 'reserved'"
REDEEMED_WITHOUT_COMMIT = """
SELECT count(*) FROM coupons k LEFT JOIN redemptions r ON r.order_id = k.order_id
WHERE k.campaign_id = ANY($1) AND k.state = 'redeemed' AND r.state IS DISTINCT FROM 'committed'
"""
COMMITTED_NOT_REDEEMED = """
SELECT count(*) FROM redemptions r
CROSS JOIN LATERAL jsonb_array_elements(r.result -> 'applied') AS applied
LEFT JOIN coupons k ON k.code = applied ->> 'code'
WHERE starts_with(r.order_id, $1) AND r.state = 'committed' AND k.state IS DISTINCT FROM 'redeemed'
"""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def _count(tally: dict[str, int], prefix: str) -> int:
    return sum(n for key, n in tally.items() if key.startswith(prefix))


def responses_201(tally: dict[str, int], campaign: str) -> int:
    return sum(tally.get(f"status|{name}|201", 0) for name in names.CLAIMS.get(campaign, ()))


async def _stats(http: httpx.AsyncClient, campaign_id: str) -> dict[str, Any]:
    response = await http.get(f"/v1/campaigns/{campaign_id}")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def _cancel_leftovers(
    http: httpx.AsyncClient, db: asyncpg.Connection, run_id: str, checkout: dict[str, str]
) -> tuple[int, int]:
    """Cancels the run's orders still reserved; (cancelled, failed)."""
    prefix = f"{run_id}-o-"
    leftovers = [r["order_id"] for r in await db.fetch(RESERVED_ORDERS, prefix)]
    failed = 0
    for order_id in leftovers:
        response = await http.post(f"/v1/checkout/redemptions/{order_id}/cancel", headers=checkout)
        failed += response.status_code != 200
    return len(leftovers) - failed, failed


def keys_from_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The admin and checkout keys the check acts with (the results file holds no keys)."""
    env = dict(os.environ) if env is None else env
    keys = {role: env.get(f"LOADTEST_{role.upper()}_KEY", "") for role in ("admin", "checkout")}
    if not all(keys.values()):
        raise SystemExit("set LOADTEST_ADMIN_KEY and LOADTEST_CHECKOUT_KEY for the check")
    return keys


async def run_checks(
    results: dict[str, Any], base_url: str, database_url: str | None, keys: dict[str, str]
) -> list[Check]:
    fixture = results["fixture"]
    tally: dict[str, int] = results["tally"]
    campaigns = {name: c["id"] for name, c in fixture["campaigns"].items()}
    checks: list[Check] = []
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    async with httpx.AsyncClient(base_url=base_url, headers=admin, timeout=30) as http:
        db = await asyncpg.connect(database_url) if database_url else None
        try:
            for name, campaign_id in campaigns.items():
                checks += await _campaign_checks(http, db, name, campaign_id, tally)
            if db is not None:
                checkout = {"Authorization": f"Bearer {keys['checkout']}"}
                checks.append(
                    await _reservation_check(
                        http, db, fixture["run_id"], checkout, campaigns, tally
                    )
                )
            else:
                checks.append(Check("reservations", True, "skipped: no database URL"))
        finally:
            if db is not None:
                await db.close()
    return checks


async def _campaign_checks(
    http: httpx.AsyncClient,
    db: asyncpg.Connection | None,
    name: str,
    campaign_id: str,
    tally: dict[str, int],
) -> list[Check]:
    created_201 = responses_201(tally, name)
    granted = tally.get(names.GRANTED, 0) if name == "store" else 0
    unknown = tally.get(names.UNKNOWN + name, 0)
    campaign = await _stats(http, campaign_id)
    stats = campaign["stats"]
    claimed, stock_total, remaining = stats["claimed"], stats["stock_total"], stats["remaining"]
    counters_ok = remaining >= 0 and claimed == stock_total - remaining
    if db is None:
        lower_ok = claimed >= created_201 + granted
        return [
            Check(
                f"stock {name}",
                counters_ok and lower_ok,
                f"claimed {claimed} = stock_total {stock_total} - remaining {remaining}; "
                f"201s {created_201} + granted {granted} (no database URL: rows not counted)",
            )
        ]
    # The ledger writer may still be draining: wait until Postgres has what Redis counted.
    deadline = time.monotonic() + CATCH_UP_S
    while True:
        row = await db.fetchrow(COUPONS_BY_SOURCE, campaign_id)
        rows = row["claims"] + row["grants"]
        if rows == claimed or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
        stats = (await _stats(http, campaign_id))["stats"]
        claimed, stock_total, remaining = stats["claimed"], stats["stock_total"], stats["remaining"]
    pg_total = await db.fetchval(STOCK_TOTAL, campaign_id)
    stock_ok = counters_ok and rows == claimed and pg_total == stock_total
    over = await db.fetch(OVER_LIMIT, campaign_id, campaign["per_member_limit"])
    expected = created_201 + granted
    ledger_rows = row["claims"] + row["grants"]
    ledger_ok = expected <= ledger_rows <= expected + unknown
    return [
        Check(
            f"stock {name}",
            stock_ok,
            f"coupons in Postgres {rows}, stats.claimed {claimed}, stock_total {stock_total} "
            f"(Postgres {pg_total}) - remaining {remaining} = {stock_total - remaining}",
        ),
        Check(
            f"limits {name}",
            not over,
            f"per_member_limit {campaign['per_member_limit']}: "
            + (
                "no member above it"
                if not over
                else "over: " + ", ".join(f"{r['member_id']} holds {r['held']}" for r in over)
            ),
        ),
        Check(
            f"ledger {name}",
            ledger_ok,
            f"ledger rows {row['claims']} claims + {row['grants']} grants = {ledger_rows}; "
            f"201 responses {created_201} + granted {granted} = {expected}"
            + (f"; {unknown} unknown outcomes" if unknown else ""),
        ),
    ]


async def _reservation_check(
    http: httpx.AsyncClient,
    db: asyncpg.Connection,
    run_id: str,
    checkout: dict[str, str],
    campaigns: dict[str, str],
    tally: dict[str, int],
) -> Check:
    cancelled, failed = await _cancel_leftovers(http, db, run_id, checkout)
    prefix = f"{run_id}-o-"
    states = {r["state"]: r["n"] for r in await db.fetch(ORDER_STATES, prefix)}
    ids = list(campaigns.values())
    reserved_coupons = await db.fetchval(RESERVED_COUPONS, ids)
    orphans = await db.fetchval(REDEEMED_WITHOUT_COMMIT, ids)
    unredeemed = await db.fetchval(COMMITTED_NOT_REDEEMED, prefix)
    committed = states.get("committed", 0)
    seen, unknown = tally.get(names.COMMITTED_ORDERS, 0), tally.get(names.UNKNOWN + "commit", 0)
    ok = (
        failed == 0
        and states.get("reserved", 0) == 0
        and reserved_coupons == 0
        and orphans == 0
        and unredeemed == 0
        and seen <= committed <= seen + unknown
    )
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no orders"
    return Check(
        "reservations",
        ok,
        f"orders: {summary} (200 commits seen: {seen}"
        + (f", {unknown} commits with unknown outcome" if unknown else "")
        + "); "
        f"{cancelled} left reserved at the stop were cancelled"
        + (f", {failed} could not be" if failed else "")
        + f"; coupons reserved {reserved_coupons}, redeemed without a committed order {orphans},"
        f" in committed orders but not redeemed {unredeemed}",
    )


async def close_campaigns(results: dict[str, Any], base_url: str, admin_key: str) -> list[str]:
    """Closes the run's campaigns (final): on a shared deployment they must not stay claimable."""
    admin = {"Authorization": f"Bearer {admin_key}"}
    closed = []
    async with httpx.AsyncClient(base_url=base_url, headers=admin, timeout=30) as http:
        for campaign in results["fixture"]["campaigns"].values():
            response = await http.post(f"/v1/campaigns/{campaign['id']}/close")
            if response.status_code == 200:
                closed.append(campaign["id"])
    return closed


def print_checks(checks: list[Check], out: Any = sys.stdout) -> None:
    for check in checks:
        print(f"  [{'PASS' if check.ok else 'FAIL'}] {check.name}: {check.detail}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the JSON file LOADTEST_RESULTS named")
    parser.add_argument("--host", required=True, help="the gateway's base URL")
    parser.add_argument(
        "--database-url", help="the gateway's Postgres, for the checks that count rows"
    )
    parser.add_argument(
        "--close", action="store_true", help="close the run's campaigns after the check"
    )
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    keys = keys_from_env()
    checks = asyncio.run(run_checks(results, args.host, args.database_url, keys))
    print_checks(checks)
    if args.close:
        closed = asyncio.run(close_campaigns(results, args.host, keys["admin"]))
        print(f"  closed {len(closed)} campaign(s): {', '.join(closed)}")
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
