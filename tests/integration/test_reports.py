"""The reports operators read (API v1.1 "Reports", issue 14 item 4) against counts the test
computes itself from the history it made through the API: grants by two named clerks, claims,
reservations, commits, a cancel, refunds whole and partial, a transfer, exchanges, referrals
and their rewards, points adjustments and transfers, lots that count, expire and wait.

The history happens thousands of days ahead on the gateway's clock (`gateway.clock.clock`,
moved for the whole test), after every row earlier runs left, so the windows of the reports
hold this test's rows only. The points report's stocks (outstanding, pending, owed,
expiring) are of the whole member base at `as_of`: they are compared as the difference this
history made to a baseline read first, after every older lot was brought up to `as_of`.
Grants and claims record their key's name as the actor, through the Redis stream and
recovery too."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis

from gateway.auth.services import create_key
from gateway.clock import clock
from gateway.native import new_code
from gateway.points import jobs as points_jobs
from gateway.store import redis as keys
from gateway.store.ledger import recover_campaign
from gateway.store.redis import LuaScript
from gateway.wire import iso
from tests.conftest import campaign_body, unique
from tests.integration.points_helpers import (
    SET_PROGRAMME,
    Auth,
    Client,
    line,
    on_app,
    points_of,
    programme,
    silver_member,
)

pytestmark = pytest.mark.asyncio

DAY = timedelta(days=1)


def points_rules(expiry_days: int) -> dict[str, Any]:
    return {
        "expiry": {"mode": "days", "days": expiry_days},
        "pending_days": 7,
        "transferable": True,
        "multipliers": [],
    }


@dataclass
class Order:
    order_id: str
    member_id: str
    tier: str
    at: datetime
    total: int
    points: int
    refunded_whole: bool = False


@dataclass
class History:
    """What the test did, in the terms of the reports' definitions."""

    t0: datetime
    tiers: dict[str, str] = field(default_factory=dict)
    referred_by: dict[str, str] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    #: campaign id -> order ids that reserved / committed one of its coupons
    reserved: dict[str, set[str]] = field(default_factory=dict)
    converted: dict[str, set[str]] = field(default_factory=dict)


# The latest time any row the reports read stands at (a lot's expiry or start included).
LATEST = """
SELECT greatest(
    (SELECT max(at) FROM events), (SELECT max(registered_at) FROM members),
    (SELECT max(committed_at) FROM redemptions), (SELECT max(at) FROM rewards),
    (SELECT max(at) FROM point_entries),
    (SELECT max(greatest(counts_from, expires_at)) FROM point_lots)
)
"""


async def quiet_start(db: asyncpg.Pool) -> datetime:
    """Where the history starts: at least 3000 days ahead, after every row an earlier run (or
    another test that moved the clock) left, plus a random stretch so that two runs at once
    still keep apart."""
    latest: datetime | None = await db.fetchval(LATEST)
    start = clock.now() + 3000 * DAY
    if latest is not None:
        start = max(start, latest + 2 * DAY)
    return start + random.randrange(1000) * DAY


async def move_to(history: History, days: float) -> None:
    """The gateway's clock at t0 + `days` (forward only, as time goes)."""
    target = history.t0 + timedelta(days=days)
    step = (target - clock.now()).total_seconds()
    assert step >= 0, "the history moves forward only"
    clock.advance(step)


async def give_rewards(client: Client) -> None:
    await on_app(client, client.app.state.rewards.give_due, clock.now_ms())


async def report(client: Client, auth: Auth, name: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/v1/reports/{name}", params=params, headers=auth["admin"])
    assert response.status_code == 200, response.text
    return dict(response.json())


async def campaign(client: Client, auth: Auth, t0: datetime, **fields: Any) -> dict[str, Any]:
    body = campaign_body(
        name=unique("reports"),
        claim_starts_at=(t0 - timedelta(hours=1)).isoformat(),
        claim_ends_at=(t0 + 90 * DAY).isoformat(),
        validity={"mode": "relative", "days": 90},
        **fields,
    )
    created = await client.post("/v1/campaigns", json=body, headers=auth["admin"])
    assert created.status_code == 201, created.text
    published = await client.post(
        f"/v1/campaigns/{created.json()['id']}/publish", headers=auth["admin"]
    )
    assert published.status_code == 200, published.text
    return dict(published.json())


async def register(
    client: Client, auth: Auth, history: History, tier: str, referred_by: str | None = None
) -> str:
    if tier == "silver":  # the silver policy of the points tests: 1 point per yuan
        member = await silver_member(
            client, auth, **({"referred_by": referred_by} if referred_by else {})
        )
    else:
        member = unique()
        body: dict[str, Any] = {"tier": tier}
        if referred_by:
            body["referred_by"] = referred_by
        put = await client.put(f"/v1/members/{member}", json=body, headers=auth["admin"])
        assert put.status_code == 200, put.text
    history.tiers[member] = tier
    if referred_by:
        history.referred_by[member] = referred_by
    return member


async def reserve(
    client: Client,
    auth: Auth,
    history: History,
    member: str,
    lines: list[dict[str, Any]],
    coupons: dict[str, str] | None = None,
) -> str:
    """Reserves an order (`coupons`: code -> its campaign); its id."""
    order_id = unique("o")
    body = {
        "member_id": member,
        "order_id": order_id,
        "channel": "online",
        "lines": lines,
        "coupon_codes": list(coupons or {}),
    }
    reserved = await client.post("/v1/checkout/redemptions", json=body, headers=auth["checkout"])
    assert reserved.status_code == 201, reserved.text
    for campaign_id in (coupons or {}).values():
        history.reserved.setdefault(campaign_id, set()).add(order_id)
    return order_id


async def commit(
    client: Client,
    auth: Auth,
    history: History,
    member: str,
    order_id: str,
    coupons: dict[str, str] | None = None,
) -> Order:
    committed = await client.post(
        f"/v1/checkout/redemptions/{order_id}/commit", headers=auth["checkout"]
    )
    assert committed.status_code == 200, committed.text
    body = committed.json()
    for campaign_id in (coupons or {}).values():
        history.converted.setdefault(campaign_id, set()).add(order_id)
    placed = Order(
        order_id, member, history.tiers[member], clock.now(), body["total"], body["points_earned"]
    )
    history.orders.append(placed)
    return placed


async def order(
    client: Client,
    auth: Auth,
    history: History,
    member: str,
    lines: list[dict[str, Any]],
    coupons: dict[str, str] | None = None,
) -> Order:
    order_id = await reserve(client, auth, history, member, lines, coupons)
    return await commit(client, auth, history, member, order_id, coupons)


async def grant(client: Client, key: str, campaign_id: str, members: list[str]) -> dict[str, str]:
    """A clerk's grant; each member's code."""
    response = await client.post(
        f"/v1/campaigns/{campaign_id}/grants",
        json={"member_ids": members, "channel": "store"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []
    return {c["member_id"]: c["code"] for c in response.json()["granted"]}


async def post_ok(client: Client, path: str, body: Any, headers: dict[str, str]) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def expected_members(history: History, start: datetime, end: datetime) -> dict[str, Any]:
    """The members report by its definitions, from the orders the test placed."""
    figures: dict[str, dict[str, Any]] = {}
    for tier in ("standard", "silver", "gold", "diamond"):
        figures[tier] = dict.fromkeys(
            ("new_members", "active_members", "ordering_members", "repeat_members", "orders",
             "paid_total"), 0,
        )  # fmt: skip
    for tier in history.tiers.values():
        figures[tier]["new_members"] += 1  # every member was registered at t0
    counted = [o for o in history.orders if not o.refunded_whole]
    for member, tier in history.tiers.items():
        mine = sorted(o.at for o in counted if o.member_id == member and start <= o.at < end)
        if any(end - 30 * DAY <= o.at < end for o in counted if o.member_id == member):
            figures[tier]["active_members"] += 1
        if mine:
            figures[tier]["ordering_members"] += 1
        if any(b - a <= 30 * DAY for a, b in pairwise(mine)):
            figures[tier]["repeat_members"] += 1
    for o in counted:
        if start <= o.at < end:
            figures[o.tier]["orders"] += 1
            figures[o.tier]["paid_total"] += o.total
    overall = {k: sum(f[k] for f in figures.values()) for k in figures["silver"]}
    for f in [*figures.values(), overall]:
        f["repeat_rate"] = (
            round(f["repeat_members"] / f["ordering_members"], 4) if f["ordering_members"] else None
        )
        f["average_order_value"] = f["paid_total"] // f["orders"] if f["orders"] else None
    return {"overall": overall, "tiers": figures}


async def test_reports_agree_with_the_history_the_test_made(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    clock.advance((await quiet_start(db) - clock.now()).total_seconds())
    history = History(t0=clock.now())
    t_end = history.t0 + 45 * DAY
    state: Any = client.app.state
    # Every older lot brought up to the end of this history: nothing of theirs moves while
    # it runs, so the points stocks move by this history's lots alone.
    await on_app(client, points_jobs.sweep_points, state.pool, int(t_end.timestamp() * 1000))
    before = await report(client, auth, "points", as_of=t_end.isoformat())

    clerk_a, clerk_b = unique("store-12 Li Na"), unique("store-7 Wang Fang")
    key_a = await create_key(db, "clerk", clerk_a)
    key_b = await create_key(db, "clerk", clerk_b)
    admin, front = auth["admin"], auth["front"]
    reward = await campaign(client, auth, history.t0, stock=100, per_member_limit=1)
    side = {"campaign_id": reward["id"], "points": 50}
    body = {"points": points_rules(20), "rewards": {"referral": {"inviter": side, "invitee": side}}}
    async with programme(db, body):
        coupon = await campaign(
            client, auth, history.t0, kind="amount", amount_off=1000, min_spend=None,
            stock=100, per_member_limit=5,
        )  # fmt: skip
        shop = await campaign(client, auth, history.t0, stock=100, per_member_limit=5,
                              points_price=30)  # fmt: skip
        c1, ex = coupon["id"], shop["id"]

        # t0: members, grants, the first orders.
        i1 = await register(client, auth, history, "silver")
        i2 = await register(client, auth, history, "standard")
        i3 = await register(client, auth, history, "silver")
        e1 = await register(client, auth, history, "silver", i1)
        e2 = await register(client, auth, history, "silver", i1)
        e3 = await register(client, auth, history, "silver", i2)
        e4 = await register(client, auth, history, "gold", i1)  # invited, never orders
        e5 = await register(client, auth, history, "silver", i3)
        m1 = await register(client, auth, history, "silver")
        m2 = await register(client, auth, history, "silver")
        by_a = await grant(client, key_a, c1, [m1, e1, e2, e4])
        by_b = await grant(client, key_b, c1, [m2, i1])
        claimed = await post_ok(
            client, f"/v1/campaigns/{c1}/claims", {"member_id": i3, "channel": "online"}, front
        )
        await post_ok(client, f"/v1/members/{i1}/points/adjustments",
                      {"points": 200, "reason": "launch"}, admin)  # fmt: skip
        await order(client, auth, history, m1, [line(100)], {by_a[m1]: c1})
        await order(client, auth, history, e1, [line(50)], {by_a[e1]: c1})
        await give_rewards(client)
        cancelled = await reserve(client, auth, history, e2, [line(80)], {by_a[e2]: c1})
        await post_ok(client, f"/v1/checkout/redemptions/{cancelled}/cancel", None,
                      auth["checkout"])  # fmt: skip
        m2_order = await order(client, auth, history, m2, [line(100)], {by_b[m2]: c1})
        gift = await post_ok(client, f"/v1/coupons/{by_b[i1]}/transfer",
                             {"from_member_id": i1, "to_member_id": m1}, front)  # fmt: skip

        await move_to(history, 1)
        await order(client, auth, history, e2, [line(80)], {by_a[e2]: c1})  # the same coupon
        await give_rewards(client)  # i1's second inviter coupon: limit_reached
        await post_ok(client, f"/v1/campaigns/{ex}/exchanges",
                      {"member_id": i1, "channel": "online"}, front)  # fmt: skip

        await move_to(history, 2)
        e3_first = await order(client, auth, history, e3, [line(60, qty=2)])
        await order(client, auth, history, e5, [line(30)])
        await give_rewards(client)

        await move_to(history, 3)
        await post_ok(client, f"/v1/checkout/redemptions/{e3_first.order_id}/refund",
                      {"lines": [{"sku": "A", "qty": 1}]}, auth["checkout"])  # fmt: skip

        await move_to(history, 8)  # m2's points count: m2 spends 30, then its order goes back
        await post_ok(client, f"/v1/campaigns/{ex}/exchanges",
                      {"member_id": m2, "channel": "online"}, front)  # fmt: skip
        await move_to(history, 9)
        await post_ok(client, f"/v1/checkout/redemptions/{m2_order.order_id}/refund",
                      {"lines": []}, auth["checkout"])  # fmt: skip
        m2_order.refunded_whole = True
        assert (await points_of(client, auth, m2))["debt"] == 30

        await move_to(history, 10)
        await order(client, auth, history, m1, [line(60)], {gift["code"]: c1})
        await move_to(history, 16)
        i2_order = await order(client, auth, history, i2, [line(200)])
        await post_ok(client, f"/v1/members/{i1}/points/transfers",
                      {"to_member_id": i2, "points": 40}, front)  # fmt: skip
        await move_to(history, 18)
        await post_ok(client, f"/v1/members/{m1}/points/adjustments",
                      {"points": -30, "reason": "correction"}, admin)  # fmt: skip
        await move_to(history, 20)
        m1_third = await order(client, auth, history, m1, [line(100)])
        await move_to(history, 30)
        await post_ok(client, f"/v1/campaigns/{ex}/exchanges",
                      {"member_id": m1, "channel": "online"}, front)  # fmt: skip
        await move_to(history, 40)
        e3_second = await order(client, auth, history, e3, [line(70)])
        await move_to(history, 41)
        await db.execute(SET_PROGRAMME, {**body, "points": points_rules(60)})
        await post_ok(client, f"/v1/members/{e3}/points/adjustments",
                      {"points": 100, "reason": "apology"}, admin)  # fmt: skip
        await move_to(history, 45)
        start = history.t0 - timedelta(hours=1)
        window = {"from": start.isoformat(), "to": t_end.isoformat()}

        # -- campaign stats -----------------------------------------------------------------
        stats = (await client.get(f"/v1/campaigns/{c1}", headers=admin)).json()["stats"]
        reservations, conversions = len(history.reserved[c1]), len(history.converted[c1])
        assert (reservations, conversions) == (6, 5)
        assert stats["conversion_rate"] == round(conversions / reservations, 4) == 0.8333
        assert (stats["transferred"], stats["exchanged"]) == (1, 0)
        assert stats["claimed"] == 4 + 2 + 1  # the grants and the claim; the gift took no stock
        shop_stats = (await client.get(f"/v1/campaigns/{ex}", headers=admin)).json()["stats"]
        assert (shop_stats["exchanged"], shop_stats["conversion_rate"]) == (3, None)
        name = coupon["name"]
        listed = await client.get("/v1/campaigns", params={"q": name, "limit": 200}, headers=admin)
        [in_list] = [c for c in listed.json()["campaigns"] if c["id"] == c1]
        assert in_list["stats"] == stats

        # -- clerks -------------------------------------------------------------------------
        clerks = await report(client, auth, "clerks", **window)
        assert clerks["clerks"] == [
            # m1's, e1's and e2's were redeemed (e2's after a cancelled order); e4 never came.
            {"actor": clerk_a, "granted": 4, "redeemed": 3, "redemption_rate": 0.75},
            # m2's coupon was redeemed (its order refunded later); i1's was given on.
            {"actor": clerk_b, "granted": 2, "redeemed": 1, "redemption_rate": 0.5},
        ]
        assert clerks["total"] == {"granted": 6, "redeemed": 4, "redemption_rate": 0.6667}
        actors = dict(
            await db.fetch(
                "SELECT coupon_code, actor FROM events WHERE kind IN ('claim', 'grant') "
                "AND campaign_id = $1",
                c1,
            )
        )
        assert actors[claimed["code"]] == "front"
        assert {actors[code] for code in by_a.values()} == {clerk_a}
        assert {actors[code] for code in by_b.values()} == {clerk_b}

        # -- referrals ----------------------------------------------------------------------
        referrals = await report(client, auth, "referrals", **window)
        invitees_ordered: dict[str, int] = {}
        for invitee, inviter in history.referred_by.items():
            if any(o.member_id == invitee for o in history.orders):
                invitees_ordered[inviter] = invitees_ordered.get(inviter, 0) + 1
        board = sorted(invitees_ordered.items(), key=lambda kv: (-kv[1], kv[0]))
        first_orders = sum(invitees_ordered.values())
        assert referrals["invitations"] == len(history.referred_by) == 5
        assert referrals["first_orders"] == first_orders == 4
        # Each first order rewards both sides: i1's second inviter coupon is over its limit.
        assert referrals["rewards"] == {
            "given": 2 * first_orders - 1, "refused": 1, "points": 50 * 2 * first_orders,
            "coupons": 2 * first_orders - 1,
        }  # fmt: skip
        assert referrals["top_inviters"] == [
            {"member_id": m, "invitees_ordered": n} for m, n in board
        ]
        assert referrals["top_inviters"][0] == {"member_id": i1, "invitees_ordered": 2}

        # -- members ------------------------------------------------------------------------
        members = await report(client, auth, "members", **window)
        want = expected_members(history, start, t_end)
        assert {k: members["overall"][k] for k in want["overall"]} == want["overall"]
        for tier in members["tiers"]:
            assert {k: tier[k] for k in want["tiers"][tier["tier"]]} == want["tiers"][tier["tier"]]
        assert [t["tier"] for t in members["tiers"]] == ["standard", "silver", "gold", "diamond"]
        silver = next(t for t in members["tiers"] if t["tier"] == "silver")
        # m1 ordered every 10 days; e3's two orders were 38 days apart; m2's went back whole.
        assert (silver["ordering_members"], silver["repeat_members"]) == (5, 1)
        assert (silver["active_members"], members["overall"]["active_members"]) == (2, 3)

        # -- points -------------------------------------------------------------------------
        # First with the lots as they are (some past their expiry but not yet swept), then
        # with every member of the history brought up to date by a read: the same figures.
        unswept = await report(client, auth, "points", as_of=t_end.isoformat())
        entries: list[dict[str, Any]] = []
        for member in history.tiers:
            await points_of(client, auth, member)
            page = await client.get(
                f"/v1/members/{member}/points/history", params={"limit": 200}, headers=admin
            )
            entries += page.json()["entries"]
        points = await report(client, auth, "points", as_of=t_end.isoformat())
        assert unswept == points
        last = points["last_30_days"]
        since = t_end - 30 * DAY

        def moved(kind: str) -> int:
            return sum(
                e["points"]
                for e in entries
                if e["kind"] == kind and since < datetime.fromisoformat(e["at"]) <= t_end
            )

        late = [o for o in history.orders if o.at > since]  # i2's, m1's third, e3's second
        assert [o.at for o in late] == [i2_order.at, m1_third.at, e3_second.at]
        assert (
            last["earned"] == sum(o.points for o in late) == moved("earn") + moved("earn_pending")
        )
        assert last["spent"] == 30 == -moved("spend")  # m1's exchange on day 30
        assert last["transferred"] == 40 == moved("transfer_in")
        assert last["adjusted"] == -30 + 100 == moved("adjust")
        assert last["reversed"] == 0  # the refunds were on days 3 and 9
        # Every lot of the history but m1's third order's (day 47), e3's second (pending
        # until day 47) and e3's apology (day 101) expired between day 20 and day 43.
        expired = -moved("expire")
        assert expired > 0 and last["expired"] == expired
        assert (last["from"], last["to"]) == (iso(since), iso(t_end))
        change = {k: points[k] - before[k] for k in
                  ("outstanding", "pending", "owed", "expiring_30d", "expiring_90d")}  # fmt: skip
        assert change == {
            "outstanding": m1_third.points + 100,
            "pending": e3_second.points,
            "owed": 30,  # m2 spent 30 of its order's points before the order went back
            "expiring_30d": m1_third.points,  # day 47; the apology expires on day 101
            "expiring_90d": m1_third.points + 100,
        }


async def test_reports_default_to_the_last_30_days_and_name_a_bad_parameter(
    client: Client, auth: Auth
) -> None:
    for name in ("clerks", "referrals", "members"):
        body = await report(client, auth, name)
        start, end = datetime.fromisoformat(body["from"]), datetime.fromisoformat(body["to"])
        assert end - start == 30 * DAY
        assert abs((end - clock.now()).total_seconds()) < 60
        only_to = await report(client, auth, name, to="2030-01-31T00:00:00+08:00")
        assert datetime.fromisoformat(only_to["from"]) == datetime.fromisoformat(
            "2030-01-01T00:00:00+08:00"
        )
        for params, field_name in (
            ({"from": "yesterday"}, "from"),
            ({"to": "2026-13-01T00:00:00+08:00"}, "to"),
            ({"from": "2026-11-11T00:00:00"}, "from"),  # no offset
            ({"from": "2026-11-11"}, "from"),
            ({"from": "2026-11-12T00:00:00Z", "to": "2026-11-11T00:00:00Z"}, "to"),
            ({"from": "x" * 5000}, "from"),
            ({"from": "0001-01-01T00:00:00+08:00"}, "from"),
            ({"to": "9999-12-31T23:59:59-08:00"}, "to"),
            ({"from": "2999-01-01T00:00:00Z"}, "from"),  # after the default `to`, now
        ):
            response = await client.get(f"/v1/reports/{name}", params=params, headers=auth["admin"])
            assert response.status_code == 400, (params, response.text)
            assert response.json()["code"] == "invalid_request"
            assert response.json()["detail"].startswith(field_name + ":"), response.text
    # A '+' left unescaped in the query string arrives as a space: read as the '+' meant.
    response = await client.get(
        "/v1/reports/clerks?from=2026-11-11T00:00:00+08:00&to=2026-11-12T00:00:00Z",
        headers=auth["admin"],
    )
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["from"]) == datetime.fromisoformat(
        "2026-11-11T00:00:00+08:00"
    )
    points = await report(client, auth, "points")
    assert abs((datetime.fromisoformat(points["as_of"]) - clock.now()).total_seconds()) < 60
    for as_of in ("soon", "2026-11-11", "0001-01-01T00:00:00Z"):
        bad = await client.get("/v1/reports/points", params={"as_of": as_of}, headers=auth["admin"])
        assert (bad.status_code, bad.json()["detail"].split(":")[0]) == (400, "as_of")


async def test_recovery_writes_a_grant_with_the_actor_the_stream_kept(
    client: Client, auth: Auth, db: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    """A worker that died between the claim script and its ledger write left the stream
    entry: recovery writes the grant's event with the clerk it named, and a claim without an
    actor (the member's pages) with none."""
    clerk = unique("store-3 Zhao Lei")
    live = await campaign(client, auth, clock.now())
    cid = live["id"]
    named, nameless = new_code(), new_code()
    records = [
        f"{unique()}\x1f{named}\x1fstore\x1f0\x1f-\x1f{clerk}",
        f"{unique()}\x1f{nameless}\x1fonline\x1f0\x1f-",
    ]
    results = await LuaScript("claim_coupons")(
        redis_client,
        [keys.meta_key(cid), keys.members_key(cid), keys.ledger_key(cid)],
        [clock.now_ms(), "grant", 86400, len(records), "\x1e".join(records)],
    )
    assert [r[0] for r in results] == [1, 1], results
    assert await recover_campaign(db, redis_client, cid) >= 2
    rows = dict(
        await db.fetch(
            "SELECT coupon_code, actor FROM events WHERE kind = 'grant' AND campaign_id = $1",
            cid,
        )
    )
    assert rows == {named: clerk, nameless: None}


async def test_the_referral_board_is_the_top_10_inviters_most_first_orders_first_ties_by_id(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """Twelve inviters whose invitees' first orders fall in the window: the ten with the most,
    ties by member id; a second order, an invitee who never orders and a first order after
    the window count for nobody."""
    clock.advance((await quiet_start(db) - clock.now()).total_seconds())
    history = History(t0=clock.now())
    inviters = [await register(client, auth, history, "standard") for _ in range(12)]
    counts: dict[str, int] = {}
    for i, inviter in enumerate(inviters):
        counts[inviter] = 1 + i % 3
        for n in range(counts[inviter]):
            invitee = await register(client, auth, history, "silver", inviter)
            await order(client, auth, history, invitee, [line(10)])
            if n == 0:
                await order(client, auth, history, invitee, [line(10)])  # not a first
    await register(client, auth, history, "silver", inviters[0])  # never orders
    late = await register(client, auth, history, "silver", inviters[0])
    await move_to(history, 2)
    await order(client, auth, history, late, [line(10)])  # after the window
    window = {
        "from": (history.t0 - timedelta(hours=1)).isoformat(),
        "to": (history.t0 + DAY).isoformat(),
    }
    referrals = await report(client, auth, "referrals", **window)
    board = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert referrals["top_inviters"] == [{"member_id": m, "invitees_ordered": n} for m, n in board]
    assert referrals["first_orders"] == sum(counts.values())
    assert referrals["invitations"] == sum(counts.values()) + 2
