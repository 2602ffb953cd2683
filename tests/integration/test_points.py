"""The points ledger through the API: earning at commit, pending points, refunds and debt,
expiry on the clock (the turn of the year in Asia/Shanghai), adjustments, transfers, the
expiring list; every test ends by recomputing the ledger of the members it touched."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from gateway.clock import clock
from gateway.points.jobs import sweep_points
from gateway.wire import page_cursor, zone
from tests.conftest import live_campaign, unique
from tests.integration.points_helpers import (
    Auth,
    Client,
    assert_ledger,
    line,
    order,
    points_of,
    programme,
    programme_body,
    silver_member,
)
from tests.integration.test_members_v11 import set_clock

pytestmark = pytest.mark.asyncio


async def history(client: Client, auth: Auth, member_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(
        f"/v1/members/{member_id}/points/history", params=params, headers=auth["front"]
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def adjust(client: Client, auth: Auth, member_id: str, points: int, **headers: str) -> Any:
    return await client.post(
        f"/v1/members/{member_id}/points/adjustments",
        json={"points": points, "reason": "goodwill 补偿"},
        headers={**auth["admin"], **headers},
    )


async def test_a_commit_earns_what_its_quote_said(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = await silver_member(client, auth)
    quote = await client.post(
        "/v1/checkout/quote",
        json={"member_id": member, "channel": "online", "lines": [line(123), line(45, 2, "B")],
              "coupon_codes": []},
        headers=auth["checkout"],
    )  # fmt: skip
    assert quote.json()["points_earned"] == 123 + 90
    committed = await order(client, auth, member, [line(123), line(45, 2, "B")])
    assert committed["points_earned"] == 213
    points = await points_of(client, auth, member)
    assert points["balance"] == 213 and points["pending"] == 0 and points["debt"] == 0
    [lot] = points["lots"]
    assert lot["points"] == lot["remaining"] == 213 and lot["source"] == "order"
    # Earned in this local year: expires at the end of the next one, 23:59:59 local time.
    year = datetime.now(zone()).year
    assert lot["expires_at"].startswith(f"{year + 1}-12-31T")
    assert datetime.fromisoformat(lot["expires_at"]).astimezone(zone()).strftime("%H:%M:%S") == (
        "23:59:59"
    )
    entries = (await history(client, auth, member))["entries"]
    assert [(e["kind"], e["points"], e["balance_after"]) for e in entries] == [("earn", 213, 213)]
    assert entries[0]["order_id"] == committed["order_id"]
    await assert_ledger(db, [member])


async def test_an_unregistered_member_orders_without_points(client: Client, auth: Auth) -> None:
    committed = await order(client, auth, unique("guest"), [line(100)])
    assert committed["state"] == "committed"


async def test_pending_points_count_after_the_return_window(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    async with programme(db, programme_body(pending_days=7)):
        member = await silver_member(client, auth)
        await order(client, auth, member, [line(300)])
        points = await points_of(client, auth, member)
        assert (points["balance"], points["pending"]) == (0, 300)
        # Pending points cannot be spent.
        assert (await adjust(client, auth, member, -1)).json()["code"] == "insufficient_points"
        clock.advance(7 * 86400 - 60)
        assert (await points_of(client, auth, member))["pending"] == 300
        clock.advance(120)
        assert await sweep_points(db, clock.now_ms()) >= 1
        points = await points_of(client, auth, member)
        assert (points["balance"], points["pending"]) == (300, 0)
        kinds = [e["kind"] for e in (await history(client, auth, member))["entries"]]
        assert kinds == ["activate", "earn_pending"]
        await assert_ledger(db, [member])


async def test_a_refund_takes_back_from_its_order_then_the_balance_then_as_debt(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = await silver_member(client, auth)
    first = await order(client, auth, member, [line(100, 4)])  # 400 points
    await order(client, auth, member, [line(50)])  # 50 points
    assert (await adjust(client, auth, member, -420)).status_code == 201  # 30 left
    # Refund 2 of the 4 units: 200 points back, from the balance (the order's lot is spent).
    refund = await client.post(
        f"/v1/checkout/redemptions/{first['order_id']}/refund",
        json={"lines": [{"sku": "A", "qty": 2}]},
        headers=auth["checkout"],
    )
    assert refund.status_code == 200, refund.text
    points = await points_of(client, auth, member)
    assert (points["balance"], points["debt"]) == (-170, 170)
    # A negative balance cannot be spent; the next earning pays the debt first.
    assert (await adjust(client, auth, member, -1)).status_code == 409
    await order(client, auth, member, [line(200)])
    points = await points_of(client, auth, member)
    assert (points["balance"], points["debt"]) == (30, 0)
    assert [lot["remaining"] for lot in points["lots"]] == [30]
    # The rest of the first order: 200 more back, and nothing more the second time.
    for _ in range(2):
        rest = await client.post(
            f"/v1/checkout/redemptions/{first['order_id']}/refund",
            json={"lines": []},
            headers=auth["checkout"],
        )
        assert rest.status_code in (200, 409), rest.text
    points = await points_of(client, auth, member)
    assert (points["balance"], points["debt"]) == (-170, 170)
    await assert_ledger(db, [member])


async def test_a_refund_of_an_unspent_order_takes_its_own_lot(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = await silver_member(client, auth)
    await order(client, auth, member, [line(70)])
    target = await order(client, auth, member, [line(10, 3, "B"), line(5, 1, "C")])
    await client.post(
        f"/v1/checkout/redemptions/{target['order_id']}/refund",
        json={"lines": [{"sku": "B", "qty": 1}]},
        headers=auth["checkout"],
    )
    points = await points_of(client, auth, member)
    assert points["balance"] == 70 + 35 - 10
    by_points = {lot["points"]: lot["remaining"] for lot in points["lots"]}
    assert by_points == {70: 70, 35: 25}  # the refunded order's own lot, not the older one
    await assert_ledger(db, [member])


async def test_points_expire_at_the_end_of_the_next_year_in_shanghai(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = await silver_member(client, auth)
    await order(client, auth, member, [line(100)])
    expires_at = datetime.fromisoformat(
        (await points_of(client, auth, member))["lots"][0]["expires_at"]
    )
    # One second before the end of 12-31 local time: still there; the new year: gone.
    clock.advance((expires_at - datetime.now(zone())).total_seconds() - 1)
    assert (await points_of(client, auth, member))["balance"] == 100
    clock.advance(2)
    points = await points_of(client, auth, member)  # the read brings the ledger up to now
    assert (points["balance"], points["lots"]) == (0, [])
    [expired, _] = (await history(client, auth, member))["entries"]
    assert (expired["kind"], expired["points"]) == ("expire", -100)
    assert datetime.fromisoformat(expired["at"]) == expires_at
    await assert_ledger(db, [member])


async def test_days_expiry_and_spending_takes_the_soonest_expiry_first(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = await silver_member(client, auth)
    async with programme(db, programme_body(expiry={"mode": "never"})):
        await order(client, auth, member, [line(100)])
    async with programme(db, programme_body(expiry={"mode": "days", "days": 30})):
        await order(client, auth, member, [line(40)])
    assert (await adjust(client, auth, member, -50)).status_code == 201
    lots = (await points_of(client, auth, member))["lots"]
    assert [(lot["points"], lot["remaining"], lot["expires_at"] is None) for lot in lots] == [
        (100, 90, True)
    ]
    await assert_ledger(db, [member])


async def test_adjustments(client: Client, auth: Auth, db: asyncpg.Pool) -> None:
    member = await silver_member(client, auth)
    created = await adjust(client, auth, member, 500, **{"Idempotency-Key": "adj-1"})
    assert created.status_code == 201
    entry = created.json()
    assert (entry["kind"], entry["points"], entry["balance_after"]) == ("adjust", 500, 500)
    assert entry["reason"] == "goodwill 补偿"
    again = await adjust(client, auth, member, 500, **{"Idempotency-Key": "adj-1"})
    assert again.json() == entry
    assert (await points_of(client, auth, member))["balance"] == 500
    refused = await adjust(client, auth, member, -501)
    assert (refused.status_code, refused.json()["code"]) == (409, "insufficient_points")
    for bad in (0, 2**63, -(2**63), 10**13, "12", 1.5, None):
        response = await adjust(client, auth, member, bad)  # type: ignore[arg-type]
        assert response.status_code == 400, (bad, response.text)
        assert "points" in response.json()["detail"]
    for reason in ("", "\x00", "x" * 201):
        response = await client.post(
            f"/v1/members/{member}/points/adjustments",
            json={"points": 1, "reason": reason},
            headers=auth["admin"],
        )
        assert response.status_code == 400 and "reason" in response.json()["detail"]
    missing = await adjust(client, auth, unique(), 5)
    assert (missing.status_code, missing.json()["code"]) == (404, "member_not_found")
    for role in ("front", "clerk", "checkout"):
        response = await client.post(
            f"/v1/members/{member}/points/adjustments",
            json={"points": 1, "reason": "x"},
            headers=auth[role],
        )
        assert response.status_code == 403
    await assert_ledger(db, [member])


async def test_transfers_keep_expiry_and_refuse_what_they_must(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    giver = await silver_member(client, auth)
    friend = await silver_member(client, auth)
    await order(client, auth, giver, [line(100)])
    url = f"/v1/members/{giver}/points/transfers"
    refused = await client.post(
        url, json={"to_member_id": friend, "points": 10}, headers=auth["front"]
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "not_allowed")
    async with programme(db, programme_body(transferable=True)):
        given = await client.post(
            url, json={"to_member_id": friend, "points": 60}, headers=auth["front"]
        )
        assert given.status_code == 201, given.text
        body = given.json()
        assert (body["from"]["kind"], body["from"]["points"]) == ("transfer_out", -60)
        assert (body["to"]["kind"], body["to"]["points"], body["to"]["counterparty"]) == (
            "transfer_in", 60, giver,
        )  # fmt: skip
        giver_lot = (await points_of(client, auth, giver))["lots"][0]
        friend_lot = (await points_of(client, auth, friend))["lots"][0]
        assert friend_lot["expires_at"] == giver_lot["expires_at"]
        assert friend_lot["source"] == "transfer"
        cases = [
            ({"to_member_id": friend, "points": 41}, 409, "insufficient_points"),
            ({"to_member_id": giver, "points": 1}, 422, "same_member"),
            ({"to_member_id": unique(), "points": 1}, 422, "recipient_not_registered"),
            ({"to_member_id": friend, "points": 0}, 400, "invalid_request"),
            ({"to_member_id": friend, "points": -5}, 400, "invalid_request"),
            ({"to_member_id": friend, "points": 2**63}, 400, "invalid_request"),
            ({"to_member_id": "bad id!", "points": 1}, 400, "invalid_request"),
        ]
        for body, status, code in cases:
            response = await client.post(url, json=body, headers=auth["front"])
            assert (response.status_code, response.json()["code"]) == (status, code), body
    await assert_ledger(db, [giver, friend])


async def test_opposite_transfers_at_once_never_deadlock_or_double_spend(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    a = await silver_member(client, auth)
    b = await silver_member(client, auth)
    for member in (a, b):
        assert (await adjust(client, auth, member, 100)).status_code == 201
    async with programme(db, programme_body(transferable=True)):

        async def give(frm: str, to: str) -> int:
            response = await client.post(
                f"/v1/members/{frm}/points/transfers",
                json={"to_member_id": to, "points": 30},
                headers=auth["front"],
            )
            return response.status_code

        statuses = await asyncio.gather(*[give(a, b) if i % 2 else give(b, a) for i in range(12)])
    assert set(statuses) <= {201, 409}
    balances = [(await points_of(client, auth, m))["balance"] for m in (a, b)]
    assert sum(balances) == 200 and min(balances) >= 0
    await assert_ledger(db, [a, b])


async def test_history_pages_newest_first(client: Client, auth: Auth, db: asyncpg.Pool) -> None:
    member = await silver_member(client, auth)
    for points in range(1, 8):
        assert (await adjust(client, auth, member, points)).status_code == 201
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["before"] = cursor
        page = await history(client, auth, member, **params)
        seen += [entry["points"] for entry in page["entries"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    for bad in ({"limit": 0}, {"limit": 201}, {"before": "!!"}, {"before": "bm90IGEgbnVtYmVy"}):
        response = await client.get(
            f"/v1/members/{member}/points/history", params=bad, headers=auth["front"]
        )
        assert response.status_code == 400, bad
    missing = await client.get(f"/v1/members/{unique()}/points", headers=auth["front"])
    assert missing.json()["code"] == "member_not_found"


async def test_the_expiring_list(client: Client, auth: Auth, db: asyncpg.Pool) -> None:
    soon = await silver_member(client, auth)
    later = await silver_member(client, auth)
    async with programme(db, programme_body(expiry={"mode": "days", "days": 10})):
        assert (await adjust(client, auth, soon, 70)).status_code == 201
    async with programme(db, programme_body(expiry={"mode": "days", "days": 60})):
        assert (await adjust(client, auth, later, 80)).status_code == 201
    response = await client.get(
        "/v1/points/expiring", params={"within_days": 30, "limit": 1000}, headers=auth["admin"]
    )
    assert response.status_code == 200, response.text
    listed = {m["member_id"]: m for m in response.json()["members"]}
    assert listed[soon]["points"] == 70 and later not in listed
    at = datetime.fromisoformat(listed[soon]["at"])
    assert timedelta(days=9) < at - datetime.now(zone()) <= timedelta(days=10, minutes=1)
    # Paging: one at a time reaches the same members.
    paged: list[str] = []
    cursor = None
    for _ in range(1000):
        params: dict[str, Any] = {"within_days": 30, "limit": 1}
        if cursor:
            params["after"] = cursor
        page = (
            await client.get("/v1/points/expiring", params=params, headers=auth["admin"])
        ).json()
        paged += [m["member_id"] for m in page["members"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert paged == list(listed)
    assert (await client.get("/v1/points/expiring", headers=auth["front"])).status_code == 403
    # A forged cursor whose time is past the year 9999 (up to 18 digits pass the format).
    beyond = page_cursor(999_999_999_999_999_999, soon)
    for bad in ({"within_days": 0}, {"limit": 0}, {"after": "###"}, {"after": beyond}):
        response = await client.get("/v1/points/expiring", params=bad, headers=auth["admin"])
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["code"] == "invalid_request"
        assert next(iter(bad)) in response.json()["detail"]


async def test_points_given_back_while_the_member_owes_pay_the_debt_first(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """A refused exchange gives its points back after a refund has left the member in debt:
    they pay the debt (a member with debt holds no points), the balance as the moves say."""
    member = await silver_member(client, auth)
    placed = await order(client, auth, member, [line(100)])
    now = clock.now()
    async with db.acquire() as conn, conn.transaction():
        await conn.fetchval("SELECT gw_points_lock($1, $2)", member, now)
        spend = await conn.fetchval(
            "SELECT gw_points_debit($1, 80, $2, 'spend', NULL, NULL, NULL, 'exchange', 't')",
            member,
            now,
        )
    refund = await client.post(
        f"/v1/checkout/redemptions/{placed['order_id']}/refund",
        json={"lines": []},
        headers=auth["checkout"],
    )
    assert refund.status_code == 200
    assert (await points_of(client, auth, member))["debt"] == 80
    async with db.acquire() as conn, conn.transaction():
        await conn.fetchval("SELECT gw_points_lock($1, $2)", member, now)
        await conn.fetchval("SELECT gw_points_undo($1, $2, 'refused', 't')", spend, now)
    points = await points_of(client, auth, member)
    assert (points["balance"], points["debt"], points["lots"]) == (0, 0, [])
    await assert_ledger(db, [member])


async def test_the_commit_credits_the_quotes_points_and_a_refund_takes_back_its_lines(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """Multipliers per line (a category at x3), a member discount and a coupon split over the
    lines: the quote's points_earned is what the commit credits, and refunding one line's
    units takes back exactly what those units earned (floor per line, cumulative)."""
    tier = {"percent_off": 500, "birthday_percent_off": 0, "points_per_yuan": 2,
            "coupons_on_member_price": True}  # fmt: skip
    assert (await client.put("/v1/tiers/gold", json=tier, headers=auth["admin"])).status_code == 200
    member = unique()
    await client.put(f"/v1/members/{member}", json={"tier": "gold"}, headers=auth["admin"])
    campaign = await live_campaign(
        client, auth["admin"], kind="amount", amount_off=1234, min_spend=None
    )
    code = (
        await client.post(
            f"/v1/campaigns/{campaign['id']}/claims",
            json={"member_id": member, "channel": "online"},
            headers=auth["front"],
        )
    ).json()["code"]
    lines = [line(99, 3, "A", "outerwear"), line(57, 2, "B", "tops")]
    rule = {"name": "outerwear x3", "multiplier": 3, "when": {"categories": ["outerwear"]}}
    async with programme(db, programme_body(multipliers=[rule])):
        quote = await client.post(
            "/v1/checkout/quote",
            json={"member_id": member, "channel": "online", "lines": lines, "coupon_codes": [code]},
            headers=auth["checkout"],
        )
        expected = quote.json()["points_earned"]
        placed = await order(client, auth, member, lines, [code])
    assert placed["points_earned"] == expected
    assert (await points_of(client, auth, member))["balance"] == expected
    # Each line's paid amount and points, from the redemption's own shares.
    paid = [297 * 100, 114 * 100]
    for share in placed["member_lines"]:
        paid[share["line"]] -= share["discount"]
    for applied in placed["applied"]:
        for share in applied["lines"]:
            paid[share["line"]] -= share["discount"]
    per_line = [paid[0] * 2 * 3 // 100, paid[1] * 2 * 1 // 100]
    assert sum(per_line) == expected
    for qty, back in ((1, per_line[0] // 3), (1, per_line[0] * 2 // 3 - per_line[0] // 3)):
        before = (await points_of(client, auth, member))["balance"]
        refund = await client.post(
            f"/v1/checkout/redemptions/{placed['order_id']}/refund",
            json={"lines": [{"sku": "A", "qty": qty}]},
            headers=auth["checkout"],
        )
        assert refund.status_code == 200, refund.text
        assert before - (await points_of(client, auth, member))["balance"] == back
    await assert_ledger(db, [member])


@pytest.mark.parametrize(
    ("earned", "expires"),
    [
        ("2026-06-01T12:00:00", "2027-12-31T23:59:59+08:00"),  # issue 13's example
        ("2026-12-31T23:59:00", "2027-12-31T23:59:59+08:00"),  # the last minute of 2026
        ("2027-01-01T00:30:00", "2028-12-31T23:59:59+08:00"),  # still 2026-12-31 in UTC
    ],
)
async def test_points_earned_either_side_of_new_year_expire_at_the_end_of_the_next_local_year(
    client: Client, auth: Auth, db: asyncpg.Pool, earned: str, expires: str
) -> None:
    """`end_of_next_year` counts the year of the earning in GATEWAY_TIME_ZONE (Asia/Shanghai),
    not in UTC: 00:30 on 1 January local time is 31 December in UTC, and its points live a
    year longer than those of a minute before midnight. They count through 23:59:58 of their
    last day and are gone at the new year, with an `expire` entry at their expiry."""
    assert str(zone()) == "Asia/Shanghai"
    set_clock(earned)
    member = await silver_member(client, auth)
    await order(client, auth, member, [line(100)])
    [lot] = (await points_of(client, auth, member))["lots"]
    end = datetime.fromisoformat(expires)
    assert datetime.fromisoformat(lot["expires_at"]) == end
    set_clock(f"{end.year}-12-31T23:59:58")
    assert (await points_of(client, auth, member))["balance"] == 100
    set_clock(f"{end.year + 1}-01-01T00:00:00")
    points = await points_of(client, auth, member)
    assert (points["balance"], points["lots"]) == (0, [])
    [expired, _] = (await history(client, auth, member))["entries"]
    assert (expired["kind"], expired["points"], expired["balance_after"]) == ("expire", -100, 0)
    assert datetime.fromisoformat(expired["at"]) == end
    await assert_ledger(db, [member])


async def test_a_points_coupon_is_credited_at_commit_and_taken_back_with_the_whole_order(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """积分券: its points are part of the order's earning (one lot); a partial refund takes
    back only the refunded line's points, the refund that completes the order the coupon's
    too (its coupon comes back)."""
    member = await silver_member(client, auth)
    campaign = await live_campaign(
        client, auth["admin"], kind="points", points=500, amount_off=None, min_spend=None
    )
    claimed = await client.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": member, "channel": "online"},
        headers=auth["front"],
    )
    assert claimed.status_code == 201, claimed.text
    code = claimed.json()["code"]
    placed = await order(client, auth, member, [line(100), line(20, 1, "B")], [code])
    assert placed["points_earned"] == 100 + 20 + 500
    points = await points_of(client, auth, member)
    assert points["balance"] == 620
    assert [(lot["points"], lot["source"]) for lot in points["lots"]] == [(620, "order")]
    url = f"/v1/checkout/redemptions/{placed['order_id']}/refund"
    part = await client.post(
        url, json={"lines": [{"sku": "B", "qty": 1}]}, headers=auth["checkout"]
    )
    assert part.status_code == 200, part.text
    assert (await points_of(client, auth, member))["balance"] == 600
    rest = await client.post(url, json={"lines": []}, headers=auth["checkout"])
    assert rest.status_code == 200, rest.text
    points = await points_of(client, auth, member)
    assert (points["balance"], points["debt"], points["lots"]) == (0, 0, [])
    coupon = await client.get(f"/v1/coupons/{code}", headers=auth["admin"])
    assert coupon.json()["state"] == "active"
    await assert_ledger(db, [member])


BAD_MEMBER_IDS = ["会员", "m 1", "m" * 65, "m%00"]


@pytest.mark.parametrize("member_id", BAD_MEMBER_IDS)
async def test_a_bad_member_id_is_400_naming_it_on_every_points_route(
    client: Client, auth: Auth, member_id: str
) -> None:
    from urllib.parse import quote

    path = f"/v1/members/{quote(member_id, safe='%')}/points"
    friend = await silver_member(client, auth)
    campaign = await live_campaign(client, auth["admin"], points_price=10)
    calls: list[tuple[str, str, Any, str]] = [
        ("GET", path, None, "member_id"),
        ("GET", f"{path}/history", None, "member_id"),
        ("POST", f"{path}/adjustments", {"points": 5, "reason": "x"}, "member_id"),
        ("POST", f"{path}/transfers", {"to_member_id": friend, "points": 1}, "member_id"),
        (
            "POST",
            f"/v1/members/{friend}/points/transfers",
            {"to_member_id": member_id, "points": 1},
            "to_member_id",
        ),
        (
            "POST",
            f"/v1/campaigns/{campaign['id']}/exchanges",
            {"member_id": member_id, "channel": "online"},
            "member_id",
        ),
    ]
    for method, url, body, field in calls:
        response = await client.request(method, url, json=body, headers=auth["admin"])
        assert response.status_code == 400, (url, response.text)
        assert response.json()["code"] == "invalid_request"
        assert field in response.json()["detail"], (url, response.json())


async def test_unknown_members_are_404_or_the_contracts_422_on_every_points_route(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    known, stranger = await silver_member(client, auth), unique()
    assert (await adjust(client, auth, known, 50)).status_code == 201
    for url in (f"/v1/members/{stranger}/points", f"/v1/members/{stranger}/points/history"):
        response = await client.get(url, headers=auth["front"])
        assert (response.status_code, response.json()["code"]) == (404, "member_not_found")
    async with programme(db, programme_body(transferable=True)):
        giver = await client.post(
            f"/v1/members/{stranger}/points/transfers",
            json={"to_member_id": known, "points": 1},
            headers=auth["front"],
        )
        assert (giver.status_code, giver.json()["code"]) == (404, "member_not_found")
        both = await client.post(
            f"/v1/members/{stranger}/points/transfers",
            json={"to_member_id": unique(), "points": 1},
            headers=auth["front"],
        )
        assert (both.status_code, both.json()["code"]) == (404, "member_not_found")
        friend = await client.post(
            f"/v1/members/{known}/points/transfers",
            json={"to_member_id": stranger, "points": 1},
            headers=auth["front"],
        )
        assert (friend.status_code, friend.json()["code"]) == (422, "recipient_not_registered")
    assert (await points_of(client, auth, known))["balance"] == 50
    assert await db.fetchval("SELECT count(*) FROM members WHERE member_id = $1", stranger) == 0
    await assert_ledger(db, [known])
