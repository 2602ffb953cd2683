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

- rewards (when the run set the programme's rewards): once nothing of the run is still due
  (a bounded wait for the rewards worker), every reward due was given or refused with a reason,
  none twice: each due row is done with exactly one outcome row that matches it, no (member,
  occasion) twice; each reward coupon is exactly one grant with the key `reward:<due id>` in the
  ledger and no reward campaign holds a coupon without its reward; each reward campaign's
  coupons equal its stats and its rewards (the small one: given as far as its stock went, the
  rest refused `sold_out`); the occasions are exactly those the run's registrations and
  committed orders call for (a welcome per registered member; a first order reward per member
  with a committed order, on that first order; referral on both sides per invitee who ordered;
  the transfer's giver points per redeemed gift and a coupon to both on a first order; the spend
  step per order that paid enough); every reward's points are one `reward` entry, and every
  rewarded member's entries sum to its balance.

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
from collections import Counter, defaultdict
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


#: How long the rewards worker (a pass every 2 s per gateway process) may take to give what the
#: load made due, once the load has stopped.
REWARDS_CATCH_UP_S = 60.0

STILL_DUE = "SELECT count(*) FROM reward_due WHERE starts_with(member_id, $1) AND state = 'due'"
RUN_DUES = """
SELECT id, member_id, occasion, kind, campaign_id, points, order_id, counterparty, state
FROM reward_due WHERE starts_with(member_id, $1)
"""
RUN_REWARDS = """
SELECT r.due_id, r.member_id, r.occasion, r.kind, r.campaign_id, r.points, r.order_id,
       r.counterparty, r.coupon_code, r.refused, r.point_entry_id,
       e.member_id AS entry_member, e.kind AS entry_kind, e.points AS entry_points
FROM rewards r LEFT JOIN point_entries e ON e.id = r.point_entry_id
WHERE starts_with(r.member_id, $1)
"""
# Keyed grants: those of the run's rewards (by key) and every grant of a reward campaign.
REWARD_GRANTS = """
SELECT idempotency_key, coupon_code, member_id, campaign_id FROM events
WHERE kind = 'grant' AND (idempotency_key = ANY($1::text[]) OR campaign_id = ANY($2::text[]))
"""
REWARD_COUPONS = """
SELECT code, member_id, campaign_id, source FROM coupons WHERE campaign_id = ANY($1::text[])
"""
RUN_MEMBERS = """
SELECT member_id, referred_by, first_order_id FROM members WHERE starts_with(member_id, $1)
"""
RUN_COMMITTED = """
SELECT order_id, member_id, (result ->> 'total')::bigint AS paid, committed_at FROM redemptions
WHERE starts_with(member_id, $1) AND state IN ('committed', 'refunded')
ORDER BY committed_at, order_id
"""
RUN_GIFTS_REDEEMED = """
SELECT k.code, k.member_id, k.order_id, g.member_id AS giver FROM coupons k
JOIN coupons g ON g.code = k.transferred_from
JOIN redemptions o ON o.order_id = k.order_id AND o.state IN ('committed', 'refunded')
WHERE starts_with(k.member_id, $1) AND k.state = 'redeemed'
"""
REWARD_ENTRIES = """
SELECT member_id, count(*) AS n FROM point_entries
WHERE kind = 'reward' AND starts_with(member_id, $1) GROUP BY member_id
"""
POINTS_LEDGER = """
SELECT m.member_id, m.points_balance, m.points_pending,
       coalesce(sum(e.points), 0) AS entries, coalesce(sum(e.pending), 0) AS pending_entries
FROM members m LEFT JOIN point_entries e ON e.member_id = m.member_id
WHERE m.member_id = ANY($1::text[])
GROUP BY m.member_id, m.points_balance, m.points_pending
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
            rewarded = {name: c["id"] for name, c in fixture.get("reward_campaigns", {}).items()}
            if db is not None:
                checkout = {"Authorization": f"Bearer {keys['checkout']}"}
                checks.append(
                    await _reservation_check(
                        http, db, fixture["run_id"], checkout, {**campaigns, **rewarded}, tally
                    )
                )
                if fixture.get("rewards") and rewarded:
                    checks += await reward_checks(http, db, fixture)
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


async def reward_checks(
    http: httpx.AsyncClient, db: asyncpg.Connection, fixture: dict[str, Any]
) -> list[Check]:
    """ "Every reward due was given or refused with a reason, none twice", and what it gave."""
    prefix = f"{fixture['run_id']}-"
    campaigns = {name: c["id"] for name, c in fixture["reward_campaigns"].items()}
    waited, left = await _rewards_drained(db, prefix)
    dues = {r["id"]: r for r in await db.fetch(RUN_DUES, prefix)}
    rewards = await db.fetch(RUN_REWARDS, prefix)
    return [
        _outcomes_check(dues, rewards, campaigns, waited, left),
        await _reward_coupons_check(http, db, dues, rewards, campaigns),
        await _occasions_check(db, prefix, dues, fixture["rewards"]),
        await _reward_points_check(db, prefix, rewards),
    ]


async def _rewards_drained(db: asyncpg.Connection, prefix: str) -> tuple[float, int]:
    """Waits (bounded) until no reward of the run is still due; (seconds waited, rows left)."""
    started = time.monotonic()
    while True:
        left: int = await db.fetchval(STILL_DUE, prefix)
        if left == 0 or time.monotonic() - started > REWARDS_CATCH_UP_S:
            return time.monotonic() - started, left
        await asyncio.sleep(0.5)


def _some(items: list[Any], n: int = 3) -> str:
    return ", ".join(map(str, items[:n])) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _outcomes_check(
    dues: dict[int, Any],
    rewards: list[Any],
    campaigns: dict[str, str],
    waited: float,
    left: int,
) -> Check:
    """Each due row done with exactly one outcome that matches it; no (member, occasion) twice;
    a coupon reward either given or refused with a reason."""
    by_due: dict[int, list[Any]] = defaultdict(list)
    for reward in rewards:
        by_due[reward["due_id"]].append(reward)
    not_done = [i for i, d in dues.items() if d["state"] != "done"]
    not_one = [i for i in dues if len(by_due.get(i, [])) != 1]
    stray = [i for i in by_due if i not in dues]
    fields = ("member_id", "occasion", "kind", "campaign_id", "points", "order_id", "counterparty")
    mismatched = [
        r["due_id"]
        for r in rewards
        if r["due_id"] in dues and any(r[f] != dues[r["due_id"]][f] for f in fields)
    ]
    twice = [
        k for k, n in Counter((r["member_id"], r["occasion"]) for r in rewards).items() if n > 1
    ]
    unreasoned = [
        r["due_id"]
        for r in rewards
        if (r["campaign_id"] is not None and (r["coupon_code"] is None) == (r["refused"] is None))
        or (r["campaign_id"] is None and (r["coupon_code"] or r["refused"]))
    ]
    names_of = {cid: name for name, cid in campaigns.items()}
    kinds = Counter(d["kind"] for d in dues.values())
    given = sum(1 for r in rewards if r["coupon_code"])
    points_only = sum(1 for r in rewards if r["campaign_id"] is None)
    refused = Counter(
        f"{names_of.get(r['campaign_id'], r['campaign_id'])} {r['refused']}"
        for r in rewards
        if r["refused"]
    )
    ok = (
        left == 0
        and bool(dues)
        and not (not_done or not_one or stray or mismatched or twice or unreasoned)
    )
    problems = [
        f"{left} still due after {waited:.0f} s" if left else "",
        f"not done: {_some(not_done)}" if not_done else "",
        f"without exactly one outcome: {_some(not_one)}" if not_one else "",
        f"outcomes of no due row of the run: {_some(stray)}" if stray else "",
        f"outcomes unlike their due row: {_some(mismatched)}" if mismatched else "",
        f"(member, occasion) twice: {_some(twice)}" if twice else "",
        f"coupon neither given nor refused with a reason: {_some(unreasoned)}"
        if unreasoned
        else "",
        "" if dues else "no reward was due: the run made none",
    ]
    return Check(
        "rewards given or refused, none twice",
        ok,
        f"{len(dues):,} due ({', '.join(f'{k} {n:,}' for k, n in sorted(kinds.items()))}), "
        + (f"none left due after {waited:.1f} s, " if not left else "")
        + f"{given:,} coupons given, {points_only:,} points only, "
        + (", ".join(f"{n:,} {what}" for what, n in sorted(refused.items())) or "none refused")
        + "".join(f"; {p}" for p in problems if p),
    )


async def _reward_coupons_check(
    http: httpx.AsyncClient,
    db: asyncpg.Connection,
    dues: dict[int, Any],
    rewards: list[Any],
    campaigns: dict[str, str],
) -> Check:
    """Each reward coupon is one keyed grant in the ledger, held by its member; no coupon of a
    reward campaign without its reward; each campaign's stats equal its coupons and rewards."""
    ids = list(campaigns.values())
    stats = {name: (await _stats(http, cid))["stats"] for name, cid in campaigns.items()}
    claimed = sum(s["claimed"] for s in stats.values())
    deadline = time.monotonic() + CATCH_UP_S  # the ledger writer may still be draining
    while True:
        coupons = {r["code"]: r for r in await db.fetch(REWARD_COUPONS, ids)}
        if len(coupons) >= claimed or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    keys = [f"reward:{i}" for i in dues]
    grants: dict[str, list[Any]] = defaultdict(list)
    for event in await db.fetch(REWARD_GRANTS, keys, ids):
        grants[event["idempotency_key"] or ""].append(event)
    problems: list[str] = []
    rewarded_codes: dict[str, Any] = {}
    for r in rewards:
        keyed = grants.get(f"reward:{r['due_id']}", [])
        if r["coupon_code"]:
            rewarded_codes[r["coupon_code"]] = r
            if [e["coupon_code"] for e in keyed] != [r["coupon_code"]]:
                problems.append(
                    f"reward:{r['due_id']} gave {r['coupon_code']}, keyed grants in the ledger "
                    f"{[e['coupon_code'] for e in keyed]}"
                )
            coupon = coupons.get(r["coupon_code"])
            if coupon is None or (coupon["member_id"], coupon["campaign_id"]) != (
                r["member_id"],
                r["campaign_id"],
            ):
                problems.append(f"reward:{r['due_id']}'s coupon {r['coupon_code']} is {coupon}")
        elif keyed:
            problems.append(
                f"reward:{r['due_id']} refused {r['refused']} yet granted "
                f"{[e['coupon_code'] for e in keyed]}"
            )
    for key, events in grants.items():
        for event in events:
            if event["coupon_code"] not in rewarded_codes:
                problems.append(f"grant {key or '(no key)'} {event['coupon_code']}: no reward")
    orphans = [code for code in coupons if code not in rewarded_codes]
    if orphans:
        problems.append(f"coupons of reward campaigns without a reward: {_some(orphans)}")
    parts = []
    for name, cid in campaigns.items():
        st = stats[name]
        rows = sum(1 for c in coupons.values() if c["campaign_id"] == cid)
        of_it = [r for r in rewards if r["campaign_id"] == cid]
        given = sum(1 for r in of_it if r["coupon_code"])
        refused = Counter(r["refused"] for r in of_it if r["refused"])
        if not (rows == given == st["claimed"] == st["stock_total"] - st["remaining"]):
            problems.append(
                f"{name}: coupons {rows}, rewards given {given}, stats claimed {st['claimed']}, "
                f"stock_total {st['stock_total']} - remaining {st['remaining']}"
            )
        # Stock is the only limit a reward campaign can meet (limits are far above a run's).
        if given != min(len(of_it), st["stock_total"]) or set(refused) - {"sold_out"}:
            problems.append(
                f"{name}: {len(of_it)} due for stock {st['stock_total']}, given {given}, "
                f"refused {dict(refused)}"
            )
        parts.append(
            f"{name} {given:,}/{len(of_it):,}"
            + (f" (stock {st['stock_total']:,}, sold out)" if refused else "")
        )
    return Check(
        "reward coupons",
        not problems,
        f"given / due per campaign: {', '.join(parts)}; {len(coupons):,} coupons in the reward "
        "campaigns"
        + (
            "; ".join(["", *problems[:5]])
            if problems
            else ", each its reward's one keyed grant (reward:<due id>) in the ledger"
        ),
    )


async def _occasions_check(
    db: asyncpg.Connection, prefix: str, dues: dict[int, Any], programme: dict[str, Any]
) -> Check:
    """The rewards due are exactly those the run's registrations and committed orders call for
    (the programme was set before the first of them)."""
    members = {r["member_id"]: r for r in await db.fetch(RUN_MEMBERS, prefix)}
    committed = await db.fetch(RUN_COMMITTED, prefix)
    gifts = await db.fetch(RUN_GIFTS_REDEEMED, prefix)
    first: dict[str, str] = {}
    for order in committed:  # earliest commit first
        first.setdefault(order["member_id"], order["order_id"])
    min_paid = min((s["min_paid"] for s in programme.get("spend_steps", [])), default=None)
    # (member, occasion) -> (order_id, counterparty) the trigger should have written.
    expected: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for member in members:
        expected[(member, "welcome")] = (None, None)
    problems: list[str] = []
    for member, order_id in first.items():
        row = members.get(member)
        if row is None:  # its registration failed: its orders reward nobody
            continue
        if row["first_order_id"] != order_id:
            problems.append(
                f"{member}: first committed order {order_id}, first_order_id "
                f"{row['first_order_id']}"
            )
            continue
        expected[(member, "first_order")] = (order_id, None)
        inviter = row["referred_by"]
        if inviter:
            expected[(member, "referral:invitee")] = (order_id, inviter)
            expected[(inviter, f"referral:inviter:{member}")] = (order_id, member)
    for gift in gifts:  # one gift per friend in this scenario (its host's)
        if gift["member_id"] not in members:
            continue
        expected[(gift["giver"], f"transfer:giver:{gift['code']}")] = (
            gift["order_id"],
            gift["member_id"],
        )
        if first.get(gift["member_id"]) == gift["order_id"]:
            occasion = f"transfer:first_order:{gift['order_id']}"
            expected[(gift["member_id"], occasion)] = (gift["order_id"], gift["giver"])
            expected[(gift["giver"], occasion)] = (gift["order_id"], gift["member_id"])
    for order in committed:
        if min_paid is not None and order["paid"] >= min_paid and order["member_id"] in members:
            occasion = f"spend_step:order:{order['order_id']}"
            expected[(order["member_id"], occasion)] = (order["order_id"], None)
    actual: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for due in dues.values():
        actual[(due["member_id"], due["occasion"])].append(due)
    missing = [k for k in expected if k not in actual]
    unexpected = [k for k in actual if k not in expected]
    twice = [k for k, rows in actual.items() if len(rows) > 1]
    wrong = [
        k
        for k, (order_id, counterparty) in expected.items()
        if k in actual
        and any((d["order_id"], d["counterparty"]) != (order_id, counterparty) for d in actual[k])
    ]
    first_orders = Counter(d["order_id"] for d in dues.values() if d["kind"] == "first_order")
    invitees = [m for m, r in members.items() if r["referred_by"]]
    ordered_invitees = sum(1 for m in invitees if m in first)
    problems += [
        f"missing: {_some(missing)}" if missing else "",
        f"not called for: {_some(unexpected)}" if unexpected else "",
        f"twice: {_some(twice)}" if twice else "",
        f"another order or counterparty: {_some(wrong)}" if wrong else "",
        "an order with two first_order rewards"
        if any(n > 1 for n in first_orders.values())
        else "",
    ]
    problems = [p for p in problems if p]
    return Check(
        "reward occasions",
        not problems,
        f"{len(members):,} registered members, {len(first):,} with a committed order "
        f"({len(committed):,} orders), {len(invitees):,} invited ({ordered_invitees:,} ordered), "
        f"{len(gifts):,} transferred coupons redeemed: {len(expected):,} rewards called for, "
        f"{len(actual):,} due" + ("; ".join(["", *problems]) if problems else ", each once"),
    )


async def _reward_points_check(db: asyncpg.Connection, prefix: str, rewards: list[Any]) -> Check:
    """Each reward's points are one `reward` entry of its member; every rewarded member's entries
    sum to its balance (and pending points)."""
    with_points = [r for r in rewards if r["points"] > 0]
    unposted = [
        r["due_id"]
        for r in with_points
        if (r["entry_kind"], r["entry_member"], r["entry_points"])
        != ("reward", r["member_id"], r["points"])
    ]
    expected_entries = Counter(r["member_id"] for r in with_points)
    entries = {r["member_id"]: r["n"] for r in await db.fetch(REWARD_ENTRIES, prefix)}
    extra = [
        m for m in set(entries) | set(expected_entries) if entries.get(m, 0) != expected_entries[m]
    ]
    members = sorted({r["member_id"] for r in rewards})
    ledger = await db.fetch(POINTS_LEDGER, members)
    unbalanced = [
        r["member_id"]
        for r in ledger
        if (r["entries"], r["pending_entries"]) != (r["points_balance"], r["points_pending"])
    ]
    total = sum(r["points"] for r in with_points)
    problems = [
        f"points without their entry: {_some(unposted)}" if unposted else "",
        f"reward entries unlike the rewards: {_some(extra)}" if extra else "",
        f"entries that do not sum to the balance: {_some(unbalanced)}" if unbalanced else "",
        "" if len(ledger) == len(members) else f"{len(members) - len(ledger)} members missing",
    ]
    problems = [p for p in problems if p]
    return Check(
        "reward points",
        not problems,
        f"{len(with_points):,} rewards gave {total:,} points to {len(ledger):,} members"
        + (
            "; ".join(["", *problems])
            if problems
            else ", each one `reward` entry; every member's entries sum to its balance"
        ),
    )


async def close_campaigns(results: dict[str, Any], base_url: str, admin_key: str) -> list[str]:
    """Closes the run's campaigns (final): on a shared deployment they must not stay claimable.
    The programme's rewards go back to what they were before the run first, when the run set
    them (those it set name the run's reward campaigns)."""
    admin = {"Authorization": f"Bearer {admin_key}"}
    closed = []
    fixture = results["fixture"]
    async with httpx.AsyncClient(base_url=base_url, headers=admin, timeout=30) as http:
        if fixture.get("rewards"):
            programme = (await http.get("/v1/programme")).json()
            if programme.get("rewards") == fixture["rewards"]:  # nobody changed it since
                programme["rewards"] = fixture.get("rewards_before") or {}
                restored = await http.put("/v1/programme", json=programme)
                if restored.status_code != 200:
                    print(f"  the programme's rewards could not be put back: {restored.text}")
        every = [*fixture["campaigns"].values(), *fixture.get("reward_campaigns", {}).values()]
        for campaign in every:
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
