"""Revoke and reissue (补发新券) against the real Postgres and Redis: the moves, their events,
refusals, retries, races, checkout's view of a revoked code, and stock left alone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from gateway.clock import clock
from gateway.coupons.schemas import ReissueRequest, RevokeRequest
from gateway.coupons.services import CouponService
from gateway.errors import NotActive
from gateway.native import new_code
from gateway.settings import get_settings
from gateway.store.postgres import create_pool
from gateway.store.redis import members_key, meta_key
from tests.conftest import live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]
LINE = {"sku": "A", "category": "tops", "unit_price": 60000, "qty": 1}


async def holding(client: Client, auth: Auth, **campaign: Any) -> tuple[dict[str, Any], str]:
    """A live campaign (stock 10, one per member) and a fresh member's coupon of it."""
    created = await live_campaign(client, auth["admin"], stock=10, **campaign)
    claimed = await client.post(
        f"/v1/campaigns/{created['id']}/claims",
        json={"member_id": unique(), "channel": "online"},
        headers=auth["front"],
    )
    assert claimed.status_code == 201, claimed.text
    return dict(claimed.json()), created["id"]


async def revoke(client: Client, auth: Auth, code: str, body: Any = None, **headers: str) -> Any:
    return await client.post(
        f"/v1/coupons/{code}/revoke",
        json={"reason": "lost phone"} if body is None else body,
        headers={**auth["clerk"], **headers},
    )


async def reissue(client: Client, auth: Auth, code: str, body: Any = None, **headers: str) -> Any:
    return await client.post(
        f"/v1/coupons/{code}/reissue",
        json={"reason": "code leaked"} if body is None else body,
        headers={**auth["clerk"], **headers},
    )


async def coupon(client: Client, auth: Auth, code: str) -> dict[str, Any]:
    response = await client.get(f"/v1/coupons/{code}", headers=auth["admin"])
    assert response.status_code == 200, response.text
    return dict(response.json())


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.json()


async def events(db: asyncpg.Pool, code: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT kind, campaign_id, member_id, actor, detail FROM events"
        " WHERE coupon_code = $1 AND kind LIKE 'coupon_%' ORDER BY id",
        code,
    )
    return [dict(row) for row in rows]


async def test_revoke_turns_an_active_coupon_revoked_and_records_why_and_who(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    held, campaign = await holding(client, auth)
    response = await revoke(client, auth, held["code"].lower())
    assert response.status_code == 200, response.text
    assert response.json() == {**held, "state": "revoked"}
    assert await coupon(client, auth, held["code"]) == {**held, "state": "revoked"}
    assert await events(db, held["code"]) == [
        {"kind": "coupon_revoked", "campaign_id": campaign, "member_id": held["member_id"],
         "actor": "clerk", "detail": {"reason": "lost phone"}},
    ]  # fmt: skip


async def test_revoke_refusals(client: Client, auth: Auth) -> None:
    held, _ = await holding(client, auth)
    refused(await revoke(client, auth, new_code()), 404, "coupon_not_found")
    refused(await revoke(client, auth, "not-a-code"), 404, "coupon_not_found")
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 201}, {"reason": 7}):
        bad = await revoke(client, auth, held["code"], body)
        refused(bad, 400, "invalid_request")
        assert "reason" in bad.json()["detail"], bad.json()
    for body in ({"reason": "ok", "extra": 1}, [], "lost"):
        refused(await revoke(client, auth, held["code"], body), 400, "invalid_request")
    assert (await coupon(client, auth, held["code"]))["state"] == "active"
    assert (await revoke(client, auth, held["code"], {"reason": "x" * 200})).status_code == 200
    refused(await revoke(client, auth, held["code"]), 409, "not_active")


async def test_only_an_active_coupon_can_be_revoked_or_reissued(client: Client, auth: Auth) -> None:
    held, _ = await holding(client, auth)
    order = unique("o")
    cart = {"member_id": held["member_id"], "channel": "online", "lines": [LINE],
            "coupon_codes": [held["code"]], "order_id": order}  # fmt: skip
    reserved = await client.post("/v1/checkout/redemptions", json=cart, headers=auth["checkout"])
    assert reserved.status_code == 201, reserved.text
    refused(await revoke(client, auth, held["code"]), 409, "not_active")
    refused(await reissue(client, auth, held["code"]), 409, "not_active")
    committed = await client.post(
        f"/v1/checkout/redemptions/{order}/commit", headers=auth["checkout"]
    )
    assert committed.status_code == 200, committed.text
    refused(await revoke(client, auth, held["code"]), 409, "not_active")
    refused(await reissue(client, auth, held["code"]), 409, "not_active")
    assert (await coupon(client, auth, held["code"]))["state"] == "redeemed"


async def test_reissue_gives_a_new_code_for_the_same_member_campaign_and_validity(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    held, campaign = await holding(client, auth)
    response = await reissue(client, auth, held["code"], **auth["admin"])
    assert response.status_code == 201, response.text
    fresh = response.json()
    assert fresh["code"] != held["code"] and fresh["state"] == "active"
    same = ("campaign_id", "member_id", "kind", "valid_from", "valid_until", "channel",
            "transferable", "transferred_from")  # fmt: skip
    assert {k: fresh[k] for k in same} == {k: held[k] for k in same}
    assert await coupon(client, auth, fresh["code"]) == fresh
    assert (await coupon(client, auth, held["code"]))["state"] == "revoked"
    who = {"campaign_id": campaign, "member_id": held["member_id"], "actor": "admin"}
    assert await events(db, held["code"]) == [
        {"kind": "coupon_revoked", **who,
         "detail": {"reason": "code leaked", "reissued_as": fresh["code"]}},
    ]  # fmt: skip
    assert await events(db, fresh["code"]) == [
        {"kind": "coupon_reissued", **who,
         "detail": {"reason": "code leaked", "reissued_from": held["code"]}},
    ]  # fmt: skip
    wallet = await client.get(f"/v1/members/{held['member_id']}/coupons", headers=auth["clerk"])
    assert {c["code"]: c["state"] for c in wallet.json()["coupons"]} == {
        held["code"]: "revoked",
        fresh["code"]: "active",
    }
    # The new code can itself be reissued (lost again); the first stays revoked.
    again = await reissue(client, auth, fresh["code"])
    assert again.status_code == 201 and again.json()["valid_until"] == held["valid_until"]


async def test_reissue_takes_no_stock_and_leaves_the_members_count(
    client: Client, auth: Auth, redis_client: Any
) -> None:
    held, campaign = await holding(client, auth)
    member = held["member_id"]

    async def counters() -> tuple[Any, ...]:
        stats = (await client.get(f"/v1/campaigns/{campaign}", headers=auth["admin"])).json()
        return (
            stats["stats"]["remaining"],
            stats["stats"]["claimed"],
            await redis_client.hget(meta_key(campaign), "remaining"),
            await redis_client.hget(members_key(campaign), member),
        )

    before = await counters()
    assert before[:2] == (9, 1)
    fresh = await reissue(client, auth, held["code"])
    assert fresh.status_code == 201, fresh.text
    assert (await reissue(client, auth, fresh.json()["code"])).status_code == 201
    assert await counters() == before
    # The member still holds their one coupon's worth: the limit still refuses a second claim.
    again = await client.post(
        f"/v1/campaigns/{campaign}/claims",
        json={"member_id": member, "channel": "online"},
        headers=auth["front"],
    )
    refused(again, 409, "limit_reached")


async def test_twenty_concurrent_reissues_of_one_code_make_exactly_one_new_coupon(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    held, _ = await holding(client, auth)
    # The in-process test client serves one request at a time, so the race is run on the
    # service the route calls, with twenty connections of its own: truly concurrent in Postgres.
    pool = await create_pool(get_settings().database_url, 20)
    try:
        service = CouponService(pool, clock, 3600)
        answers = await asyncio.gather(
            *(service.reissue(held["code"], ReissueRequest(reason="race"), "race", None)
              for _ in range(20)),
            return_exceptions=True,
        )  # fmt: skip
    finally:
        await pool.close()
    won = [a for a in answers if isinstance(a, tuple)]
    assert [status for status, _ in won] == [201], answers
    assert all(isinstance(a, NotActive) for a in answers if not isinstance(a, tuple)), answers
    fresh = json.loads(won[0][1])["code"]
    codes = await db.fetch(
        "SELECT code FROM coupons WHERE member_id = $1 AND state = 'active'", held["member_id"]
    )
    assert [row["code"] for row in codes] == [fresh]
    assert len(await events(db, held["code"])) == 1
    # And through HTTP: the code is revoked now, every further reissue is 409.
    responses = await asyncio.gather(*(reissue(client, auth, held["code"]) for _ in range(20)))
    assert {(r.status_code, r.json()["code"]) for r in responses} == {(409, "not_active")}


async def test_concurrent_retries_with_one_idempotency_key_reissue_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    held, _ = await holding(client, auth)
    pool = await create_pool(get_settings().database_url, 20)
    try:
        service = CouponService(pool, clock, 3600)
        retry = ReissueRequest(reason="retry")
        key = "k-" + held["code"]
        answers = await asyncio.gather(
            *(service.reissue(held["code"], retry, "race", key) for _ in range(20))
        )
    finally:
        await pool.close()
    assert len(set(answers)) == 1 and answers[0][0] == 201
    active = await db.fetchval(
        "SELECT count(*) FROM coupons WHERE member_id = $1 AND state = 'active'", held["member_id"]
    )
    assert active == 1


async def test_revokes_and_reissues_racing_on_one_code_move_it_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    held, _ = await holding(client, auth)
    pool = await create_pool(get_settings().database_url, 20)
    try:
        service = CouponService(pool, clock, 3600)
        moves = [
            service.revoke(held["code"], RevokeRequest(reason="r"), "race", None) for _ in range(10)
        ]
        moves += [service.reissue(held["code"], ReissueRequest(reason="r"), "race", None)
                  for _ in range(10)]  # fmt: skip
        answers = await asyncio.gather(*moves, return_exceptions=True)
    finally:
        await pool.close()
    won = [a for a in answers if isinstance(a, tuple)]
    assert len(won) == 1, answers
    assert all(isinstance(a, NotActive) for a in answers if not isinstance(a, tuple)), answers
    active = await db.fetchval(
        "SELECT count(*) FROM coupons WHERE member_id = $1 AND state = 'active'", held["member_id"]
    )
    assert active == (1 if won[0][0] == 201 else 0)
    assert len(await events(db, held["code"])) == 1


@pytest.mark.parametrize("verb", ["revoke", "reissue"])
async def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(
    client: Client, auth: Auth, db: asyncpg.Pool, verb: str
) -> None:
    held, _ = await holding(client, auth)
    move = revoke if verb == "revoke" else reissue
    key = {"Idempotency-Key": unique("idem")}
    first = await move(client, auth, held["code"], **key)
    assert first.status_code in (200, 201), first.text
    retries = await asyncio.gather(*(move(client, auth, held["code"], **key) for _ in range(5)))
    for retry in retries:
        assert (retry.status_code, retry.json()) == (first.status_code, first.json())
    other = await move(client, auth, held["code"], {"reason": "another reason"}, **key)
    refused(other, 409, "idempotency_mismatch")
    active = await db.fetchval(
        "SELECT count(*) FROM coupons WHERE member_id = $1 AND state = 'active'", held["member_id"]
    )
    assert active == (1 if verb == "reissue" else 0)


async def test_a_revoked_coupon_cannot_be_quoted_reserved_or_transferred(
    client: Client, auth: Auth
) -> None:
    held, _ = await holding(client, auth)
    fresh = (await reissue(client, auth, held["code"])).json()
    cart = {"member_id": held["member_id"], "channel": "online", "lines": [LINE]}
    quote = await client.post(
        "/v1/checkout/quote",
        json={**cart, "coupon_codes": [held["code"], fresh["code"]]},
        headers=auth["checkout"],
    )
    assert quote.status_code == 200, quote.text
    assert quote.json()["rejected"] == [{"code": held["code"], "reason": "revoked"}]
    assert [a["code"] for a in quote.json()["applied"]] == [fresh["code"]]
    order = {**cart, "coupon_codes": [held["code"]], "order_id": unique("o")}
    reserved = await client.post("/v1/checkout/redemptions", json=order, headers=auth["checkout"])
    refused(reserved, 422, "coupons_rejected")
    assert reserved.json()["rejected"] == [{"code": held["code"], "reason": "revoked"}]
    friend = unique()
    registered = await client.put(
        f"/v1/members/{friend}", json={"tier": "standard"}, headers=auth["admin"]
    )
    assert registered.status_code == 200
    given = await client.post(
        f"/v1/coupons/{held['code']}/transfer",
        json={"from_member_id": held["member_id"], "to_member_id": friend},
        headers=auth["front"],
    )
    refused(given, 409, "not_active")
    order = {**cart, "coupon_codes": [fresh["code"]], "order_id": unique("o")}
    ok = await client.post("/v1/checkout/redemptions", json=order, headers=auth["checkout"])
    assert ok.status_code == 201, ok.text


async def test_a_coupon_past_its_validity_is_not_reissued(client: Client, auth: Auth) -> None:
    held, _ = await holding(client, auth, validity={"mode": "relative", "days": 1})
    clock.advance(2 * 86400)
    refused(await reissue(client, auth, held["code"]), 409, "not_active")
    assert (await coupon(client, auth, held["code"]))["state"] == "active"


async def test_front_and_checkout_keys_may_not_revoke_or_reissue(
    client: Client, auth: Auth
) -> None:
    held, _ = await holding(client, auth)
    for role in ("front", "checkout"):
        for move in (revoke, reissue):
            refused(await move(client, auth, held["code"], **auth[role]), 403, "forbidden")
    assert (await coupon(client, auth, held["code"]))["state"] == "active"
