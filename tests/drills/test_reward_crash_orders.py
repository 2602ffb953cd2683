"""Drill: the gateway killed with SIGKILL, twice, while orders make rewards due and the workers
give them: every reward kind of the programme, exactly once.

An isolated stack (tests/stack.py) and a gateway of two workers, with a programme whose every
reward gives a coupon of one campaign (and points where the contract has them): 首单礼,
推荐有礼 (both sides), 转赠有礼 (the giver's points, and a coupon to both on the friend's first
order), 满赠 by order and by month, 生日礼 and 回归礼. Invitees, each referred by an inviter
and some holding a coupon a giver transferred to them, place two orders each from many
clients at once: both reserved, then both commits sent at once (two first orders), every
request retried until answered. When a third of the orders have committed, the gateway
(server and workers) is killed with SIGKILL: rewards made due by committed orders are not
yet granted, or granted and not recorded. It starts again, and its start-up scan makes the
birthday rewards of members whose birthday is tomorrow and the win-back rewards of members
quiet for 70 days due; at two thirds it is killed and started again. Once every order has
committed and nothing is due: the rewards are exactly those the orders, birthdays and
lapses call for, each made due and given once, with one coupon per coupon reward granted
under its key, the points once, and the campaign's counters equal to its coupons.
(`make drills`; part of `make test`.)
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from tests.conftest import campaign_body
from tests.integration.test_rewards_once import assert_once
from tests.stack import Stack

INVITERS = 40
INVITEES = 240
GIVERS = 80  # each gives one coupon to one of the first 80 invitees
BIRTHDAYS = 60
LAPSED = 60
CLIENTS = 48
ZONE = ZoneInfo("Asia/Shanghai")  # the gateway's default GATEWAY_TIME_ZONE
ORDER_STEP, MONTH_STEP = 15000, 25000  # 满150 per order; 250 in a month

COMMITTED = "SELECT count(*) FROM redemptions WHERE state = 'committed'"
PROGRESS = "SELECT count(*) FILTER (WHERE state = 'done') AS done, count(*) AS made FROM reward_due"
QUIET_MEMBERS = """
INSERT INTO members (member_id, tier, birthday, registered_at, tier_since)
SELECT m, 'standard', $2, now() - interval '400 days', now() - interval '400 days'
FROM unnest($1::text[]) AS m
"""
QUIET_DAY = """
INSERT INTO member_spend_days (member_id, day, paid, orders)
SELECT m, $2, 10000, 1 FROM unnest($1::text[]) AS m
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack("reward-crash-orders")
    s.services("start")
    s.cli("migrate")
    yield s
    s.destroy()


async def answered(call: Any, *ok: int) -> httpx.Response:
    """`call()` again until its status is one of `ok` (a dropped connection, a 503 or a
    gateway being started again: asked again)."""
    while True:
        try:
            response: httpx.Response = await call()
            if response.status_code in ok:
                return response
            assert response.status_code == 503, response.text
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.05)


async def post_ok(http: httpx.AsyncClient, path: str, body: Any, headers: Any) -> Any:
    response = await http.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def cart(member: str, order_id: str, yuan: int, codes: list[str]) -> dict[str, Any]:
    line = {"sku": "A", "category": "tops", "unit_price": yuan * 100, "qty": 1}
    return {
        "member_id": member,
        "order_id": order_id,
        "channel": "online",
        "lines": [line],
        "coupon_codes": codes,
    }


async def place_all(
    http: httpx.AsyncClient, checkout: dict[str, str], orders: dict[str, list[dict[str, Any]]]
) -> None:
    """Each invitee's two orders: both reserved, then both commits sent at once; from CLIENTS
    clients, every request asked again until answered."""
    queue = list(orders)

    async def one() -> None:
        while queue:
            carts = orders[queue.pop()]
            for body in carts:
                await answered(
                    lambda body=body: http.post(
                        "/v1/checkout/redemptions", json=body, headers=checkout
                    ),
                    200,
                    201,
                )
            await asyncio.gather(
                *(
                    answered(
                        lambda body=body: http.post(
                            f"/v1/checkout/redemptions/{body['order_id']}/commit",
                            headers=checkout,
                        ),
                        200,
                    )
                    for body in carts
                )
            )

    await asyncio.gather(*(one() for _ in range(CLIENTS)))


async def wait_for(db: asyncpg.Connection, query: str, at_least: int, started: float) -> None:
    while await db.fetchval(query) < at_least:
        assert time.monotonic() - started < 120, f"{query}: under {at_least} after 120 s"
        await asyncio.sleep(0.01)


async def test_a_gateway_killed_twice_while_orders_make_rewards_due_gives_each_once(
    stack: Stack,
) -> None:
    started = time.monotonic()
    stack.start_gateway(workers="2")
    admin = {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'admin')}"}
    front = {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'front')}"}
    checkout = {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'checkout')}"}
    db = await asyncpg.connect(stack.database_url)
    kills: list[dict[str, int]] = []
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
            reward = await post_ok(
                http,
                "/v1/campaigns",
                campaign_body(
                    name="奖励券 5 off", kind="amount", amount_off=500, min_spend=None,
                    stock=100_000, per_member_limit=50,
                ),
                admin,
            )  # fmt: skip
            gift = await post_ok(
                http,
                "/v1/campaigns",
                campaign_body(
                    name="转赠券 5 off", kind="amount", amount_off=500, min_spend=None,
                    stock=1000, transferable=True,
                ),
                admin,
            )  # fmt: skip
            for campaign in (reward, gift):
                await post_ok(http, f"/v1/campaigns/{campaign['id']}/publish", None, admin)
            r = reward["id"]
            side = {"campaign_id": r, "points": 50}
            rewards = {
                "first_order": {"campaign_id": r, "points": 5},
                "referral": {"inviter": side, "invitee": side},
                "transfer": {"giver_points": 30, "first_order_campaign_id": r},
                "spend_steps": [
                    {"period": "order", "min_paid": ORDER_STEP, "campaign_id": r},
                    {"period": "month", "min_paid": MONTH_STEP, "campaign_id": r},
                ],
                "birthday": {"campaign_id": r, "days_before": 3},
                "win_back": {"campaign_id": r, "after_days": 60},
            }
            put = await http.put("/v1/programme", json={"rewards": rewards}, headers=admin)
            assert put.status_code == 200, put.text

            # Members the start-up scan will find: birthdays tomorrow, 70 quiet days.
            today = datetime.now(ZONE).date()
            tomorrow, quiet_day = today + timedelta(days=1), today - timedelta(days=70)
            birthdays = [f"bd-{i:03d}" for i in range(BIRTHDAYS)]
            lapsed = [f"wb-{i:03d}" for i in range(LAPSED)]
            await db.execute(QUIET_MEMBERS, birthdays, f"{tomorrow:%m-%d}")
            await db.execute(QUIET_MEMBERS, lapsed, None)
            await db.execute(QUIET_DAY, lapsed, quiet_day)

            inviters = [f"iv-{i:03d}" for i in range(INVITERS)]
            invitees = [f"ie-{i:03d}" for i in range(INVITEES)]
            givers = [f"gv-{i:03d}" for i in range(GIVERS)]
            referrer = {m: inviters[i % INVITERS] for i, m in enumerate(invitees)}
            for member in [*inviters, *givers]:
                put = await http.put(f"/v1/members/{member}", json={}, headers=front)
                assert put.status_code == 200, put.text
            for member in invitees:
                put = await http.put(
                    f"/v1/members/{member}", json={"referred_by": referrer[member]}, headers=front
                )
                assert put.status_code == 200, put.text
            transferred: dict[str, tuple[str, str]] = {}  # invitee -> (giver, its new code)
            for giver, friend in zip(givers, invitees, strict=False):
                claimed = await post_ok(
                    http, f"/v1/campaigns/{gift['id']}/claims",
                    {"member_id": giver, "channel": "online"}, front,
                )  # fmt: skip
                given = await post_ok(
                    http, f"/v1/coupons/{claimed['code']}/transfer",
                    {"from_member_id": giver, "to_member_id": friend}, front,
                )  # fmt: skip
                transferred[friend] = (giver, given["code"])
            orders = {
                m: [
                    cart(m, f"{m}-a", 200, [transferred[m][1]] if m in transferred else []),
                    cart(m, f"{m}-b", 100, []),
                ]
                for m in invitees
            }

            driver = asyncio.create_task(place_all(http, checkout, orders))
            for share in (1, 2):  # a kill at a third of the orders, another at two thirds
                await wait_for(db, COMMITTED, share * 2 * INVITEES // 3, started)
                await asyncio.to_thread(stack.kill_gateway)
                kills.append(dict(await db.fetchrow(PROGRESS)))
                await asyncio.to_thread(stack.start_gateway, workers="2")
            await driver

            deadline = time.monotonic() + 60
            while (progress := await db.fetchrow(PROGRESS))["done"] < progress["made"]:
                assert time.monotonic() < deadline, dict(progress)
                await asyncio.sleep(0.1)
            stats = (await http.get(f"/v1/campaigns/{r}", headers=admin)).json()["stats"]
            while (
                await db.fetchval("SELECT count(*) FROM coupons WHERE campaign_id = $1", r)
                < stats["claimed"]
            ):
                assert time.monotonic() < deadline, "the ledger did not catch up"
                await asyncio.sleep(0.1)

        expected = await expected_rewards(
            db, referrer, transferred, orders, birthdays, tomorrow, lapsed, quiet_day
        )
        members = sorted({m for m, _ in expected})
        rows = await assert_once(db, members, expected, {})
        coupons = sum(1 for row in rows if row["coupon_code"])
        assert stats["claimed"] == stats["stock_total"] - stats["remaining"] == coupons
        assert any(k["done"] < k["made"] for k in kills), f"nothing was due at a kill: {kills}"
    finally:
        await db.close()
        stack.stop_gateway()
    print(
        f"\nreward crash drill (orders): due rows done/made at the kills {kills}; "
        f"{len(expected)} rewards; {time.monotonic() - started:.1f} s"
    )


async def expected_rewards(
    db: asyncpg.Connection,
    referrer: dict[str, str],
    transferred: dict[str, tuple[str, str]],
    orders: dict[str, list[dict[str, Any]]],
    birthdays: list[str],
    birthday: Any,
    lapsed: list[str],
    quiet_day: Any,
) -> set[tuple[str, str]]:
    """The (member, occasion) every reward due: from the orders the drill placed (their paid
    totals as the drill priced them), which of each invitee's two orders the gateway took as
    its first, and the local month each committed in."""
    firsts = dict(
        await db.fetch(
            "SELECT member_id, first_order_id FROM members WHERE member_id = ANY($1)",
            list(orders),
        )
    )
    committed = {
        r["order_id"]: r["committed_at"].astimezone(ZONE)
        for r in await db.fetch("SELECT order_id, committed_at FROM redemptions")
    }
    expected: set[tuple[str, str]] = set()
    for member, carts in orders.items():
        first = firsts[member]
        assert first in {c["order_id"] for c in carts}, (member, first)
        expected |= {(member, "first_order"), (member, "referral:invitee")}
        expected.add((referrer[member], f"referral:inviter:{member}"))
        month_paid: dict[str, int] = defaultdict(int)
        for body in carts:
            order_id = body["order_id"]
            paid = body["lines"][0]["unit_price"] - 500 * len(body["coupon_codes"])
            month_paid[f"{committed[order_id]:%Y-%m}"] += paid
            if paid >= ORDER_STEP:
                expected.add((member, f"spend_step:order:{order_id}"))
            if body["coupon_codes"]:
                giver, code = transferred[member]
                expected.add((giver, f"transfer:giver:{code}"))
                if order_id == first:
                    expected.add((member, f"transfer:first_order:{order_id}"))
                    expected.add((giver, f"transfer:first_order:{order_id}"))
        for month, paid in month_paid.items():
            if paid >= MONTH_STEP:
                expected.add((member, f"spend_step:month:{month}:{MONTH_STEP}"))
    expected |= {(m, f"birthday:{birthday.year}") for m in birthdays}
    expected |= {(m, f"win_back:{quiet_day}") for m in lapsed}
    return expected
