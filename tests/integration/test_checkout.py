"""Checkout against the real Postgres: quotes, reservations, races, time-outs, settle, refunds."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from gateway.checkout.services import sweep
from gateway.clock import clock
from gateway.native import new_code
from gateway.ops.lanes import hot_lanes
from gateway.settings import get_settings
from tests.conftest import live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

# 2 x 300.00 + 1 x 200.00 = 800.00
LINES = [
    {"sku": "A", "category": "tops", "unit_price": 30000, "qty": 2},
    {"sku": "B", "category": "socks", "unit_price": 20000, "qty": 1},
]


async def coupon(
    client: Client, auth: Auth, member: str, channel: str = "online", **campaign: Any
) -> str:
    """A fresh coupon of a new live campaign (default: 100.00 off 500.00), claimed by `member`."""
    created = await live_campaign(client, auth["admin"], stock=100, per_member_limit=5, **campaign)
    claimed = await client.post(
        f"/v1/campaigns/{created['id']}/claims",
        json={"member_id": member, "channel": channel},
        headers=auth["front"],
    )
    assert claimed.status_code == 201, claimed.text
    return str(claimed.json()["code"])


def cart(member: str, codes: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "member_id": member,
        "channel": "online",
        "lines": LINES,
        "coupon_codes": codes,
        **extra,
    }


async def quote(client: Client, auth: Auth, body: dict[str, Any]) -> Any:
    return await client.post("/v1/checkout/quote", json=body, headers=auth["checkout"])


async def reserve(client: Client, auth: Auth, order: str, body: dict[str, Any]) -> Any:
    return await client.post(
        "/v1/checkout/redemptions", json={**body, "order_id": order}, headers=auth["checkout"]
    )


async def move(client: Client, auth: Auth, order: str, verb: str, body: Any = None) -> Any:
    return await client.post(
        f"/v1/checkout/redemptions/{order}/{verb}", json=body, headers=auth["checkout"]
    )


async def coupon_state(client: Client, auth: Auth, code: str) -> str:
    response = await client.get(f"/v1/coupons/{code}", headers=auth["admin"])
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def reasons(response: Any) -> list[str]:
    return [r["reason"] for r in response.json()["rejected"]]


# -- quotes -----------------------------------------------------------------------------------


async def test_a_quote_prices_the_cart_and_changes_nothing(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    response = await quote(client, auth, cart(member, [code.lower()]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subtotal"] == 80000 and body["coupon_discount"] == 10000
    assert body["total"] == 70000 and body["member_discount"] == 0 and body["rejected"] == []
    [applied] = body["applied"]
    assert applied["code"] == code and applied["discount"] == 10000
    assert sum(share["discount"] for share in applied["lines"]) == 10000
    assert {share["sku"] for share in applied["lines"]} == {"A", "B"}
    assert await coupon_state(client, auth, code) == "active"
    moves = await db.fetchval(
        "SELECT count(*) FROM events WHERE coupon_code = $1 AND kind <> 'claim'", code
    )
    assert moves == 0


async def test_a_clerk_may_quote_and_a_coupon_claimed_a_moment_ago_applies(
    client: Client, auth: Auth
) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    response = await client.post(
        "/v1/checkout/quote", json=cart(member, [code]), headers=auth["clerk"]
    )
    assert response.status_code == 200 and response.json()["coupon_discount"] == 10000


async def test_a_quote_without_codes_is_the_subtotal(client: Client, auth: Auth) -> None:
    response = await quote(client, auth, cart(unique(), []))
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == body["subtotal"] == 80000 and body["applied"] == []


@pytest.mark.parametrize("registered", [True, False])
async def test_points_and_gift_coupons_show_in_the_quote(
    client: Client, auth: Auth, registered: bool
) -> None:
    """A points coupon's points are the holder's when it is registered; a member who is not
    has no ledger to credit, so the quote promises none (the commit credits none)."""
    member = unique()
    if registered:
        put = await client.put(f"/v1/members/{member}", json={}, headers=auth["admin"])
        assert put.status_code in (200, 201), put.text
    points = await coupon(client, auth, member, kind="points", points=500, amount_off=None,
                          min_spend=None, stackable=True)  # fmt: skip
    gift = await coupon(client, auth, member, kind="gift", sku="GIFT-1", amount_off=None,
                        min_spend=None, stackable=True)  # fmt: skip
    response = await quote(client, auth, cart(member, [points, gift]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rejected"] == [] and body["coupon_discount"] == 0
    by_code = {a["code"]: a for a in body["applied"]}
    granted = 500 if registered else 0
    assert by_code[points]["points"] == granted and by_code[points]["gift_sku"] is None
    assert by_code[gift]["gift_sku"] == "GIFT-1" and by_code[gift]["points"] == 0
    if registered:
        assert body["points_earned"] >= 500
    else:
        assert body["points_earned"] == 0


# -- every rejection reason, through HTTP --------------------------------------------------------


async def test_every_rejection_reason_is_given(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member, other = unique(), unique()
    await client.put(f"/v1/members/{other}", json={"tier": "standard"}, headers=auth["admin"])
    now = datetime.now(UTC)
    later = {"mode": "fixed", "starts_at": (now + timedelta(days=2)).isoformat(),
             "ends_at": (now + timedelta(days=9)).isoformat()}  # fmt: skip
    # Codes that cannot be found, as typed.
    typo = await coupon(client, auth, member)
    typo = typo[:-1] + ("0" if typo[-1] != "0" else "1")
    unknown = new_code()
    for text in (typo, unknown, "hello"):
        response = await quote(client, auth, cart(member, [text]))
        assert reasons(response) == ["not_found"] and response.json()["rejected"][0]["code"] == text

    async def only(code: str, reason: str, **extra: Any) -> None:
        response = await quote(client, auth, cart(member, [code], **extra))
        assert response.status_code == 200, response.text
        assert reasons(response) == [reason], (reason, response.json())
        held = await reserve(client, auth, unique("o"), cart(member, [code], **extra))
        assert held.status_code == 422 and held.json()["code"] == "coupons_rejected"
        assert [r["reason"] for r in held.json()["rejected"]] == [reason]

    others = await coupon(client, auth, other)
    await only(others, "not_owner")
    await only(await coupon(client, auth, member, validity=later), "not_yet_valid")
    # A store-only coupon at the online checkout.
    await only(await coupon(client, auth, member, "store", channels=["store"]), "wrong_channel")
    in_store = await coupon(client, auth, member, scope={"stores": ["S1"]})
    await only(in_store, "wrong_store", channel="store", store_id="S2")
    await only(await coupon(client, auth, member, scope={"skus": ["Z"]}), "out_of_scope")
    await only(await coupon(client, auth, member, min_spend=90000), "below_threshold")

    reserved = await coupon(client, auth, member)
    assert (await reserve(client, auth, unique("o"), cart(member, [reserved]))).status_code == 201
    await only(reserved, "reserved")

    redeemed = await coupon(client, auth, member)
    order = unique("o")
    assert (await reserve(client, auth, order, cart(member, [redeemed]))).status_code == 201
    assert (await move(client, auth, order, "commit")).status_code == 200
    await only(redeemed, "redeemed")

    friend = unique()
    await client.put(f"/v1/members/{friend}", json={"tier": "standard"}, headers=auth["admin"])
    given = await coupon(client, auth, member)
    moved = await client.post(
        f"/v1/coupons/{given}/transfer",
        json={"from_member_id": member, "to_member_id": friend},
        headers=auth["front"],
    )
    assert moved.status_code == 201
    await only(given, "transferred")

    # No route revokes coupons yet: an operator does it in the ledger.
    revoked = await coupon(client, auth, member)
    await db.execute("UPDATE coupons SET state = 'revoked' WHERE code = $1", revoked)
    await only(revoked, "revoked")

    # Expired by date (the clock moves past the 7 days of validity)...
    old = await coupon(client, auth, member)
    clock.advance(8 * 86400)
    await only(old, "expired")
    clock.reset()
    # ... and by state.
    await db.execute("UPDATE coupons SET state = 'expired' WHERE code = $1", old)
    await only(old, "expired")

    # Two non-stackable coupons: the better one applies, the other is `not_stackable`.
    small = await coupon(client, auth, member, amount_off=5000)
    big = await coupon(client, auth, member)
    response = await quote(client, auth, cart(member, [small, big]))
    assert [a["code"] for a in response.json()["applied"]] == [big]
    assert response.json()["rejected"] == [{"code": small, "reason": "not_stackable"}]

    # The same code twice: the second is a duplicate (also spelled differently).
    twice = await coupon(client, auth, member)
    response = await quote(client, auth, cart(member, [twice, twice.lower()]))
    assert [a["code"] for a in response.json()["applied"]] == [twice]
    assert reasons(response) == ["duplicate"]


async def test_a_rejected_code_reserves_nothing(client: Client, auth: Auth) -> None:
    member = unique()
    good = await coupon(client, auth, member, stackable=True, amount_off=1000, min_spend=None,
                        kind="amount")  # fmt: skip
    bad = await coupon(client, auth, member, min_spend=99000)
    order = unique("o")
    response = await reserve(client, auth, order, cart(member, [good, bad]))
    assert response.status_code == 422
    assert response.json()["rejected"] == [{"code": bad, "reason": "below_threshold"}]
    assert await coupon_state(client, auth, good) == "active"
    missing = await client.get(f"/v1/checkout/redemptions/{order}", headers=auth["checkout"])
    assert missing.status_code == 404 and missing.json()["code"] == "order_not_found"


# -- reservations under concurrency -------------------------------------------------------------


async def test_50_orders_racing_for_one_coupon_reserve_it_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    orders = [unique("race") for _ in range(50)]
    responses = await asyncio.gather(
        *(reserve(client, auth, order, cart(member, [code])) for order in orders)
    )
    won = [(order, r) for order, r in zip(orders, responses, strict=True) if r.status_code == 201]
    assert len(won) == 1, [r.status_code for r in responses]
    winner, reserved = won[0]
    assert reserved.json()["state"] == "reserved" and reserved.json()["coupon_discount"] == 10000
    for response in responses:
        if response is reserved:
            continue
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "coupons_rejected"
        assert response.json()["rejected"] == [{"code": code, "reason": "reserved"}]
    row = await db.fetchrow("SELECT state, order_id FROM coupons WHERE code = $1", code)
    assert row["state"] == "reserved" and row["order_id"] == winner
    reserves = await db.fetchval(
        "SELECT count(*) FROM events WHERE coupon_code = $1 AND kind = 'reserve'", code
    )
    assert reserves == 1

    # Cancel: the coupon is usable again, by another order.
    cancelled = await move(client, auth, winner, "cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert await coupon_state(client, auth, code) == "active"
    second = unique("o")
    assert (await reserve(client, auth, second, cart(member, [code]))).status_code == 201

    # Commit: `redeemed` everywhere.
    committed = await move(client, auth, second, "commit")
    assert committed.status_code == 200 and committed.json()["state"] == "committed"
    assert await coupon_state(client, auth, code) == "redeemed"
    read = await client.get(f"/v1/checkout/redemptions/{second}", headers=auth["checkout"])
    assert read.json()["state"] == "committed"
    wallet = await client.get(f"/v1/members/{member}/coupons", headers=auth["front"])
    assert {c["code"]: c["state"] for c in wallet.json()["coupons"]}[code] == "redeemed"
    again = await reserve(client, auth, unique("o"), cart(member, [code]))
    assert again.status_code == 422 and reasons(again) == ["redeemed"]
    kinds = await db.fetch("SELECT kind FROM events WHERE coupon_code = $1 ORDER BY id", code)
    assert [k["kind"] for k in kinds] == ["claim", "reserve", "release", "reserve", "redeem"]


async def test_one_order_sent_20_times_at_once_reserves_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    percent = {"kind": "percent", "percent_off": 1000, "amount_off": None, "min_spend": None}
    codes = [await coupon(client, auth, member, stackable=True, **percent) for _ in range(2)]
    order = unique("o")
    responses = await asyncio.gather(
        *(reserve(client, auth, order, cart(member, codes)) for _ in range(20))
    )
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["state"] == "reserved" and len(bodies[0]["applied"]) == 2
    events = await db.fetchval(
        "SELECT count(*) FROM events WHERE order_id = $1 AND kind = 'reserve'", order
    )
    assert events == 2


async def test_the_same_order_with_another_cart_conflicts(client: Client, auth: Auth) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    order = unique("o")
    assert (await reserve(client, auth, order, cart(member, [code]))).status_code == 201
    same = await reserve(client, auth, order, cart(member, [code.lower()]))
    assert same.status_code == 200
    other = await reserve(client, auth, order, {**cart(member, [code]), "lines": LINES[:1]})
    assert other.status_code == 409 and other.json()["code"] == "order_conflict"


async def test_one_order_sent_at_once_with_two_carts_reserves_one_cart(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    first = await coupon(client, auth, member)
    second = await coupon(client, auth, member)
    order = unique("o")
    bodies = [cart(member, [first]), cart(member, [second])] * 6
    responses = await asyncio.gather(*(reserve(client, auth, order, body) for body in bodies))
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1, statuses
    won = bodies[statuses.index(201)]["coupon_codes"][0]
    lost = second if won == first else first
    for body, response in zip(bodies, responses, strict=True):
        if body["coupon_codes"][0] == won:
            assert response.status_code in (200, 201), response.text
            assert response.json()["applied"][0]["code"] == won
        else:
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "order_conflict"
    assert await coupon_state(client, auth, won) == "reserved"
    assert await coupon_state(client, auth, lost) == "active"  # the losing cart held nothing
    events = await db.fetch("SELECT coupon_code FROM events WHERE order_id = $1", order)
    assert [e["coupon_code"] for e in events] == [won]


async def test_a_reserve_retried_after_commit_answers_the_order_as_it_is(
    client: Client, auth: Auth
) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    order = unique("o")
    assert (await reserve(client, auth, order, cart(member, [code]))).status_code == 201
    assert (await move(client, auth, order, "commit")).status_code == 200
    retried = await reserve(client, auth, order, cart(member, [code]))
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "committed" and retried.json()["coupon_discount"] == 10000
    other = await reserve(client, auth, order, cart(member, []))
    assert other.status_code == 409 and other.json()["code"] == "order_conflict"


async def test_quotes_priced_in_one_tick_each_get_their_own_cart(
    client: Client, auth: Auth
) -> None:
    # Quotes arriving together share one Postgres round trip: none may see another's coupons.
    members = [unique() for _ in range(12)]
    codes = [
        await coupon(client, auth, m, amount_off=1000 * (i + 1), min_spend=None, kind="amount")
        for i, m in enumerate(members)
    ]
    stranger = unique()
    bodies = [cart(m, [c]) for m, c in zip(members, codes, strict=True)]
    bodies += [cart(stranger, [codes[0]]), cart(members[1], ["NOT-A-CODE", codes[1], codes[1]])]
    responses = await asyncio.gather(*(quote(client, auth, body) for body in bodies))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    for i, response in enumerate(responses[:12]):
        assert response.json()["coupon_discount"] == 1000 * (i + 1)
        assert response.json()["applied"][0]["code"] == codes[i]
    assert responses[12].json()["rejected"] == [{"code": codes[0], "reason": "not_owner"}]
    assert responses[13].json()["coupon_discount"] == 2000
    assert reasons(responses[13]) == ["not_found", "duplicate"]


async def test_a_quote_sees_a_reservation_made_a_moment_ago(client: Client, auth: Auth) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    assert (await quote(client, auth, cart(member, [code]))).json()["coupon_discount"] == 10000
    order = unique("o")
    assert (await reserve(client, auth, order, cart(member, [code]))).status_code == 201
    assert reasons(await quote(client, auth, cart(member, [code]))) == ["reserved"]
    assert (await move(client, auth, order, "commit")).status_code == 200
    assert reasons(await quote(client, auth, cart(member, [code]))) == ["redeemed"]


async def test_commits_arriving_together_each_settle_their_own_order_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    # Commits of one tick share one statement: each order moves once, with its own events,
    # and an order that may not commit in the same batch still gets its 409.
    members = [unique() for _ in range(8)]
    codes = [await coupon(client, auth, m) for m in members]
    orders = [unique("o") for _ in members]
    for member, code, order in zip(members, codes, orders, strict=True):
        assert (await reserve(client, auth, order, cart(member, [code]))).status_code == 201
    assert (await move(client, auth, orders[0], "cancel")).status_code == 200
    verbs = [move(client, auth, order, "commit") for order in orders]
    verbs += [move(client, auth, orders[1], "commit"), move(client, auth, unique("o"), "commit")]
    responses = await asyncio.gather(*verbs)
    assert responses[0].status_code == 409 and responses[0].json()["code"] == "invalid_transition"
    for response, order in zip(responses[1:8], orders[1:], strict=True):
        assert response.status_code == 200, response.text
        assert response.json()["order_id"] == order and response.json()["state"] == "committed"
    assert responses[8].status_code == 200 and responses[8].json() == responses[1].json()
    assert responses[9].status_code == 404 and responses[9].json()["code"] == "order_not_found"
    assert await coupon_state(client, auth, codes[0]) == "active"
    for code in codes[1:]:
        assert await coupon_state(client, auth, code) == "redeemed"
    redeems = await db.fetch(
        "SELECT order_id, coupon_code, actor FROM events WHERE kind = 'redeem'"
        " AND order_id = ANY($1::text[])",
        orders,
    )
    assert sorted((r["order_id"], r["coupon_code"]) for r in redeems) == sorted(
        zip(orders[1:], codes[1:], strict=True)
    )
    assert {r["actor"] for r in redeems} == {"checkout"}


# -- time-out -----------------------------------------------------------------------------------


async def test_a_reservation_left_alone_is_released_and_cannot_commit(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    order = unique("o")
    assert (await reserve(client, auth, order, cart(member, [code]))).status_code == 201
    await sweep(db, clock.now_ms())
    assert await coupon_state(client, auth, code) == "reserved"  # not yet
    clock.advance(get_settings().reservation_ttl_s + 1)
    await sweep(db, clock.now_ms())
    assert await coupon_state(client, auth, code) == "active"
    late = await move(client, auth, order, "commit")
    assert late.status_code == 409 and late.json()["code"] == "invalid_transition"
    read = await client.get(f"/v1/checkout/redemptions/{order}", headers=auth["checkout"])
    assert read.json()["state"] == "expired"
    release = await db.fetchrow(
        "SELECT kind, detail FROM events WHERE order_id = $1 AND coupon_code = $2 ORDER BY id DESC",
        order,
        code,
    )
    assert release["kind"] == "release" and release["detail"] == {"reason": "timeout"}
    # A late cancel is harmless, and the coupon serves another order.
    assert (await move(client, auth, order, "cancel")).json()["state"] == "cancelled"
    assert (await reserve(client, auth, unique("o"), cart(member, [code]))).status_code == 201


async def test_a_commit_after_the_time_out_fails_even_before_the_sweep(
    client: Client, auth: Auth
) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    order = unique("o")
    assert (await reserve(client, auth, order, cart(member, [code]))).status_code == 201
    clock.advance(get_settings().reservation_ttl_s)
    late = await move(client, auth, order, "commit")
    assert late.status_code == 409 and late.json()["code"] == "invalid_transition"
    assert await coupon_state(client, auth, code) == "active"


# -- the state machine --------------------------------------------------------------------------


async def test_commit_and_cancel_are_idempotent_and_forbidden_moves_409(
    client: Client, auth: Auth
) -> None:
    member = unique()
    first, second = await coupon(client, auth, member), await coupon(client, auth, member)
    kept, dropped = unique("o"), unique("o")
    assert (await reserve(client, auth, kept, cart(member, [first]))).status_code == 201
    assert (await reserve(client, auth, dropped, cart(member, [second]))).status_code == 201

    commits = await asyncio.gather(*(move(client, auth, kept, "commit") for _ in range(10)))
    assert all(r.status_code == 200 and r.json() == commits[0].json() for r in commits)
    cancels = await asyncio.gather(*(move(client, auth, dropped, "cancel") for _ in range(10)))
    assert all(r.status_code == 200 and r.json() == cancels[0].json() for r in cancels)

    for order, verb in ((kept, "cancel"), (dropped, "commit"), (dropped, "refund")):
        refused = await move(client, auth, order, verb, {"lines": []})
        assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    pending = unique("o")
    assert (await reserve(client, auth, pending, cart(member, []))).status_code == 201
    refused = await move(client, auth, pending, "refund", {"lines": []})
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"

    for verb in ("commit", "cancel", "refund"):
        missing = await move(client, auth, unique("nope"), verb, {"lines": []})
        assert missing.status_code == 404 and missing.json()["code"] == "order_not_found"


# -- refunds ------------------------------------------------------------------------------------


async def test_refunds_give_back_each_line_share_and_never_more(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    code = await coupon(client, auth, member, kind="percent", percent_off=1000, amount_off=None,
                        min_spend=None)  # fmt: skip
    order = unique("o")
    held = await reserve(client, auth, order, cart(member, [code]))
    assert held.status_code == 201
    shares = {s["sku"]: s["discount"] for s in held.json()["applied"][0]["lines"]}
    assert shares == {"A": 6000, "B": 2000}
    assert (await move(client, auth, order, "commit")).status_code == 200

    one_b = await move(client, auth, order, "refund", {"lines": [{"sku": "B", "qty": 1}]})
    assert one_b.status_code == 200, one_b.text
    assert one_b.json()["refund"]["discount"] == 2000
    assert one_b.json()["refunded_discount"] == 2000 and one_b.json()["state"] == "committed"
    assert await coupon_state(client, auth, code) == "redeemed"  # a partial refund keeps it used

    one_a = await move(client, auth, order, "refund", {"lines": [{"sku": "A", "qty": 1}]})
    assert one_a.json()["refund"]["discount"] == 3000 and one_a.json()["refunded_discount"] == 5000

    too_many = await move(client, auth, order, "refund", {"lines": [{"sku": "A", "qty": 2}]})
    # API.md lists no `refund_exceeds_order`: more units than are left is an invalid request
    # naming the line, and nothing is taken.
    assert too_many.status_code == 400, too_many.text
    assert too_many.json()["code"] == "invalid_request"
    assert "lines[0].qty" in too_many.json()["detail"] and "'A'" in too_many.json()["detail"]
    unchanged = await client.get(f"/v1/checkout/redemptions/{order}", headers=auth["checkout"])
    assert unchanged.json()["refunded_discount"] == 5000
    stranger = await move(client, auth, order, "refund", {"lines": [{"sku": "Z", "qty": 1}]})
    assert stranger.status_code == 400 and "lines[0].sku" in stranger.json()["detail"]

    rest = await move(client, auth, order, "refund", {"lines": []})
    assert rest.json()["refund"]["discount"] == 3000
    assert rest.json()["refunded_discount"] == 8000 == rest.json()["coupon_discount"]
    assert rest.json()["state"] == "refunded"
    assert await coupon_state(client, auth, code) == "active"  # a full refund gives it back

    again = await move(client, auth, order, "refund", None)
    assert again.status_code == 200 and again.json()["refunded_discount"] == 8000
    assert again.json()["refund"]["discount"] == 0
    total = await db.fetchval(
        "SELECT refunded_discount FROM redemptions WHERE order_id = $1", order
    )
    assert total == 8000


async def test_unit_by_unit_refunds_add_up_to_the_share(client: Client, auth: Auth) -> None:
    member = unique()
    # 10.00 off, spread over 3 units of 1.00 + ...: shares that do not divide evenly.
    code = await coupon(client, auth, member, kind="amount", amount_off=1000, min_spend=None)
    lines = [{"sku": "C", "category": "misc", "unit_price": 333, "qty": 3},
             {"sku": "D", "category": "misc", "unit_price": 100, "qty": 1}]  # fmt: skip
    order = unique("o")
    held = await reserve(client, auth, order, {**cart(member, [code]), "lines": lines})
    assert held.status_code == 201, held.text
    assert (await move(client, auth, order, "commit")).status_code == 200
    given = []
    for _ in range(3):
        step = await move(client, auth, order, "refund", {"lines": [{"sku": "C", "qty": 1}]})
        given.append(step.json()["refund"]["discount"])
    share_c = next(s["discount"] for s in held.json()["applied"][0]["lines"] if s["sku"] == "C")
    assert sum(given) == share_c
    last = await move(client, auth, order, "refund", {"lines": [{"sku": "D", "qty": 1}]})
    assert last.json()["refunded_discount"] == held.json()["coupon_discount"] == 1000
    assert last.json()["state"] == "refunded"


async def test_a_full_refund_after_validity_leaves_the_coupon_expired(
    client: Client, auth: Auth
) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    order = unique("o")
    assert (await reserve(client, auth, order, cart(member, [code]))).status_code == 201
    assert (await move(client, auth, order, "commit")).status_code == 200
    clock.advance(8 * 86400)
    refunded = await move(client, auth, order, "refund", {"lines": []})
    assert refunded.status_code == 200 and refunded.json()["state"] == "refunded"
    assert await coupon_state(client, auth, code) == "expired"


async def test_a_retried_partial_refund_with_a_key_counts_once(client: Client, auth: Auth) -> None:
    member = unique()
    code = await coupon(client, auth, member, kind="percent", percent_off=1000, amount_off=None,
                        min_spend=None)  # fmt: skip
    order = unique("o")
    assert (await reserve(client, auth, order, cart(member, [code]))).status_code == 201
    assert (await move(client, auth, order, "commit")).status_code == 200
    key = {**auth["checkout"], "Idempotency-Key": unique("key")}
    url = f"/v1/checkout/redemptions/{order}/refund"
    body = {"lines": [{"sku": "A", "qty": 1}]}
    retries = await asyncio.gather(*(client.post(url, json=body, headers=key) for _ in range(5)))
    assert all(r.status_code == 200 and r.json() == retries[0].json() for r in retries)
    assert retries[0].json()["refunded_discount"] == 3000
    other = await client.post(url, json={"lines": [{"sku": "B", "qty": 1}]}, headers=key)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_mismatch"


# -- bad input ----------------------------------------------------------------------------------


def _line(**overrides: Any) -> dict[str, Any]:
    return {"sku": "A", "category": "tops", "unit_price": 100, "qty": 1, **overrides}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [_line()] * 201}, "lines"),
        ({"coupon_codes": ["X"] * 21}, "coupon_codes"),
        ({"coupon_codes": ["X" * 65]}, "coupon_codes[0]"),
        ({"coupon_codes": [5]}, "coupon_codes[0]"),
        ({"lines": [_line(qty=0)]}, "lines[0].qty"),
        ({"lines": [_line(qty=1000)]}, "lines[0].qty"),
        ({"lines": [_line(qty="1")]}, "lines[0].qty"),
        ({"lines": [_line(unit_price=-1)]}, "lines[0].unit_price"),
        ({"lines": [_line(unit_price=10**9 + 1)]}, "lines[0].unit_price"),
        ({"lines": [_line(unit_price=1.5)]}, "lines[0].unit_price"),
        ({"lines": [_line(sku="a b")]}, "lines[0].sku"),
        ({"lines": [{"sku": "A", "unit_price": 1, "qty": 1}]}, "category"),
        ({"channel": "phone"}, "channel"),
        ({"member_id": ""}, "member_id"),
        ({"store_id": "x" * 65}, "store_id"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_carts_are_400_naming_the_field(
    client: Client, auth: Auth, overrides: dict[str, Any], field: str
) -> None:
    body = {"member_id": "m-1", "channel": "online", "lines": [_line()], **overrides}
    for url, payload in (
        ("/v1/checkout/quote", body),
        ("/v1/checkout/redemptions", {**body, "order_id": unique("o")}),
    ):
        response = await client.post(url, json=payload, headers=auth["checkout"])
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_request"
        assert field in response.json()["detail"], response.json()


@pytest.mark.parametrize("body", [None, [], "cart", {"order_id": "o-1"}, {"order_id": "o 1"}])
async def test_malformed_redemption_bodies_are_400(client: Client, auth: Auth, body: Any) -> None:
    response = await client.post("/v1/checkout/redemptions", json=body, headers=auth["checkout"])
    assert response.status_code == 400 and response.json()["code"] == "invalid_request"


async def test_bad_order_ids_and_refund_bodies_are_400(client: Client, auth: Auth) -> None:
    bad = await client.post("/v1/checkout/redemptions/o%20x/commit", headers=auth["checkout"])
    assert bad.status_code == 400 and "order_id" in bad.json()["detail"]
    order = unique("o")
    assert (await reserve(client, auth, order, cart(unique(), []))).status_code == 201
    assert (await move(client, auth, order, "commit")).status_code == 200
    for body, field in (
        ({"lines": [{"sku": "A", "qty": 0}]}, "lines[0].qty"),
        ({"lines": [{"sku": "A"}]}, "qty"),
        ({"lines": "all"}, "lines"),
        ({"line": []}, "line"),
    ):
        response = await move(client, auth, order, "refund", body)
        assert response.status_code == 400 and field in response.json()["detail"], response.text


async def test_the_raw_quote_route_keeps_auth_and_the_error_format(
    client: Client, auth: Auth
) -> None:
    body = cart(unique(), [])
    nobody = await client.post("/v1/checkout/quote", json=body)
    assert nobody.status_code == 401 and nobody.json()["code"] == "unauthorized"
    front = await client.post("/v1/checkout/quote", json=body, headers=auth["front"])
    assert front.status_code == 403 and front.json()["code"] == "forbidden"
    read = await client.get("/v1/checkout/quote", headers=auth["checkout"])
    assert read.status_code == 405 and set(read.json()) == {"code", "detail"}
    huge = await client.post(
        "/v1/checkout/quote",
        content=b'{"member_id": "' + b"x" * (1024 * 1024) + b'"}',
        headers={**auth["checkout"], "Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["code"] == "request_too_large"
    lenient = await quote(client, auth, {**body, "lines": [{**LINES[0], "qty": "2"}]})
    assert lenient.status_code == 400 and lenient.json()["code"] == "invalid_request"
    assert "lines[0].qty" in lenient.json()["detail"]


async def test_the_raw_reserve_route_keeps_auth_and_records_the_actor(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    code = await coupon(client, auth, member)
    body = {**cart(member, [code]), "order_id": unique("o")}
    nobody = await client.post("/v1/checkout/redemptions", json=body)
    assert nobody.status_code == 401 and nobody.json()["code"] == "unauthorized"
    front = await client.post("/v1/checkout/redemptions", json=body, headers=auth["front"])
    assert front.status_code == 403 and front.json()["code"] == "forbidden"
    listed = await client.get("/v1/checkout/redemptions", headers=auth["checkout"])
    assert listed.status_code == 405 and set(listed.json()) == {"code", "detail"}
    clerk = await client.post("/v1/checkout/redemptions", json=body, headers=auth["clerk"])
    assert clerk.status_code == 201, clerk.text
    assert clerk.headers["content-type"].startswith("application/json")
    actor = await db.fetchval(
        "SELECT actor FROM events WHERE order_id = $1 AND kind = 'reserve'", body["order_id"]
    )
    assert actor == "clerk"
    assert await coupon_state(client, auth, code) == "reserved"


async def test_the_hot_lanes_answer_quotes_and_reservations_as_the_router_does(
    client: Any, auth: dict[str, dict[str, str]]
) -> None:
    # Quotes and reservations are served before Litestar's router (gateway.ops.lanes); the
    # same requests through the router must get the same statuses, codes and bodies.
    json_type = {"Content-Type": "application/json"}
    line = {"sku": "SKU-1", "category": "food", "unit_price": 52000, "qty": 1}
    cart = {"member_id": "m-lanes", "channel": "online", "lines": [line]}

    async def answers(lane: bool) -> list[tuple[int, str]]:
        app: Any = client.app
        hot_lanes(app).enabled = lane
        order = {**cart, "order_id": f"o-lanes-{lane}-{uuid.uuid4().hex[:8]}"}
        requests: list[tuple[str, dict[str, str], bytes]] = [
            ("/v1/checkout/quote", auth["checkout"], json.dumps(cart).encode()),
            ("/v1/checkout/quote", auth["checkout"], json.dumps({**cart, "x": 1}).encode()),
            ("/v1/checkout/quote", auth["checkout"], b'{"member_id":'),
            ("/v1/checkout/quote", {}, json.dumps(cart).encode()),
            ("/v1/checkout/quote", auth["front"], json.dumps(cart).encode()),
            ("/v1/checkout/quote", auth["checkout"], b"x" * (1024 * 1024 + 1)),
            ("/v1/checkout/redemptions", auth["checkout"], json.dumps(order).encode()),
            ("/v1/checkout/redemptions", auth["checkout"], json.dumps(order).encode()),
            ("/v1/checkout/redemptions", auth["checkout"], json.dumps(cart).encode()),
            ("/v1/checkout/redemptions", {"Authorization": "Bearer no"}, b"{}"),
            ("/v1/checkout/redemptions", auth["front"], json.dumps(order).encode()),
            (f"/v1/checkout/redemptions/{order['order_id']}/commit", auth["front"], b""),
            (f"/v1/checkout/redemptions/{order['order_id']}/commit", auth["checkout"], b""),
            (f"/v1/checkout/redemptions/{order['order_id']}/commit", auth["checkout"], b""),
            ("/v1/checkout/redemptions/o-never-reserved/commit", auth["checkout"], b""),
            (f"/v1/checkout/redemptions/{'x' * 65}/commit", auth["checkout"], b""),
        ]
        out = []
        for url, headers, body in requests:
            response = await client.post(url, content=body, headers={**json_type, **headers})
            payload = response.json()
            if response.status_code >= 300:
                out.append((response.status_code, payload["code"]))
            elif "order_id" in payload:
                out.append((response.status_code, payload["state"]))
            else:
                out.append((response.status_code, json.dumps(payload, sort_keys=True)))
        return out

    try:
        via_lane = await answers(True)
        via_router = await answers(False)
    finally:
        app: Any = client.app
        hot_lanes(app).enabled = True
    assert via_lane == via_router
    assert [status for status, _ in via_lane] == [
        200,
        400,
        400,
        401,
        403,
        413,
        201,
        200,
        400,
        401,
        403,
        403,
        200,
        200,
        404,
        400,
    ]
    assert via_lane[-4][1] == via_lane[-3][1] == "committed"


async def test_a_deadlock_in_postgres_is_a_503_to_retry_never_a_500(
    client: Any, auth: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Postgres rolls a statement back whole on a deadlock or serialization failure: the caller
    # is told to retry (503 unavailable), through the hot lane and through the router alike.
    from gateway.checkout.services import CheckoutService

    async def deadlocked(self: CheckoutService, cart: Any) -> bytes:
        raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")

    monkeypatch.setattr(CheckoutService, "quote", deadlocked)
    cart = {
        "member_id": "m-deadlock",
        "channel": "online",
        "lines": [{"sku": "A", "category": "food", "unit_price": 100, "qty": 1}],
    }
    app: Any = client.app
    answers = []
    try:
        for lane in (True, False):
            hot_lanes(app).enabled = lane
            response = await client.post("/v1/checkout/quote", json=cart, headers=auth["checkout"])
            answers.append((response.status_code, response.json()["code"]))
    finally:
        hot_lanes(app).enabled = True
    assert answers == [(503, "unavailable"), (503, "unavailable")]


async def test_a_redemption_stored_before_quotes_had_search_loads_as_exact_and_settles(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    # Rows reserved before the work budget (issue 10) store a result without `search`, which
    # Redemption requires: reading or settling such an order was a 500.
    member = unique()
    first, second = await coupon(client, auth, member), await coupon(client, auth, member)
    kept, dropped = unique("o"), unique("o")
    assert (await reserve(client, auth, kept, cart(member, [first]))).status_code == 201
    assert (await reserve(client, auth, dropped, cart(member, [second]))).status_code == 201
    stripped = await db.execute(
        "UPDATE redemptions SET result = result - 'search' WHERE order_id = ANY($1::text[])",
        [kept, dropped],
    )
    assert stripped == "UPDATE 2"

    def exact(response: Any, state: str) -> None:
        assert response.status_code in (200, 201), response.text
        assert response.json()["search"] == "exact" and response.json()["state"] == state

    path = f"/v1/checkout/redemptions/{kept}"
    exact(await client.get(path, headers=auth["checkout"]), "reserved")
    exact(await reserve(client, auth, kept, cart(member, [first])), "reserved")  # a retry
    exact(await move(client, auth, kept, "commit"), "committed")
    exact(await move(client, auth, kept, "commit"), "committed")  # idempotent, from the row
    exact(await move(client, auth, kept, "refund", {"lines": []}), "refunded")
    exact(await client.get(path, headers=auth["checkout"]), "refunded")
    exact(await move(client, auth, dropped, "cancel"), "cancelled")
