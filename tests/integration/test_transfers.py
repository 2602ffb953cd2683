"""Transfers (转赠) against the real Postgres: once only, refusals, the path, races."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from gateway.clock import clock
from gateway.native import new_code
from tests.conftest import live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


async def member(client: Client, auth: Auth) -> str:
    member_id = unique()
    response = await client.put(
        f"/v1/members/{member_id}", json={"tier": "standard"}, headers=auth["admin"]
    )
    assert response.status_code == 200
    return member_id


async def coupon(client: Client, auth: Auth, holder: str, **campaign: Any) -> str:
    created = await live_campaign(client, auth["admin"], stock=100, per_member_limit=5, **campaign)
    claimed = await client.post(
        f"/v1/campaigns/{created['id']}/claims",
        json={"member_id": holder, "channel": "online"},
        headers=auth["front"],
    )
    assert claimed.status_code == 201, claimed.text
    return str(claimed.json()["code"])


async def transfer(
    client: Client, auth: Auth, code: str, giver: str, to: str, **headers: str
) -> Any:
    return await client.post(
        f"/v1/coupons/{code}/transfer",
        json={"from_member_id": giver, "to_member_id": to},
        headers={**auth["front"], **headers},
    )


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.json()


async def test_a_transfer_gives_a_new_code_and_retires_the_old(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    giver, friend = await member(client, auth), await member(client, auth)
    code = await coupon(client, auth, giver)
    response = await transfer(client, auth, code.lower(), giver, friend)
    assert response.status_code == 201, response.text
    received = response.json()
    assert received["code"] != code and received["member_id"] == friend
    assert received["transferred_from"] == code and received["transferable"] is False
    assert received["state"] == "active" and received["kind"] == "threshold"
    old = (await client.get(f"/v1/coupons/{code}", headers=auth["front"])).json()
    assert old["state"] == "transferred" and old["member_id"] == giver
    assert received["valid_until"] == old["valid_until"]
    event = await db.fetchrow(
        "SELECT member_id, detail FROM events WHERE coupon_code = $1 AND kind = 'transfer'", code
    )
    assert event["member_id"] == giver
    assert event["detail"] == {"to_member_id": friend, "to_code": received["code"]}
    wallet = await client.get(f"/v1/members/{friend}/coupons", headers=auth["front"])
    assert [c["code"] for c in wallet.json()["coupons"]] == [received["code"]]


async def test_the_transfer_path_is_the_whole_chain_oldest_first(
    client: Client, auth: Auth
) -> None:
    giver, friend = await member(client, auth), await member(client, auth)
    code = await coupon(client, auth, giver)
    alone = await client.get(f"/v1/coupons/{code}/path", headers=auth["front"])
    assert alone.status_code == 200
    assert [c["code"] for c in alone.json()["path"]] == [code]
    received = (await transfer(client, auth, code, giver, friend)).json()["code"]
    for asked in (code, received, received.lower()):
        path = await client.get(f"/v1/coupons/{asked}/path", headers=auth["admin"])
        assert path.status_code == 200, path.text
        chain = path.json()["path"]
        assert [c["code"] for c in chain] == [code, received]
        assert [c["member_id"] for c in chain] == [giver, friend]
        assert [c["state"] for c in chain] == ["transferred", "active"]
        assert path.json()["code"] == asked.upper()
    for missing in (new_code(), "nonsense"):
        response = await client.get(f"/v1/coupons/{missing}/path", headers=auth["front"])
        refused(response, 404, "coupon_not_found")


async def test_every_transfer_refusal(client: Client, auth: Auth, db: asyncpg.Pool) -> None:
    giver, friend, stranger = [await member(client, auth) for _ in range(3)]
    code = await coupon(client, auth, giver)

    refused(await transfer(client, auth, new_code(), giver, friend), 404, "coupon_not_found")
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    refused(await transfer(client, auth, typo, giver, friend), 404, "coupon_not_found")
    refused(await transfer(client, auth, code, stranger, friend), 403, "not_owner")
    refused(await transfer(client, auth, code, giver, giver), 422, "same_member")
    refused(await transfer(client, auth, code, giver, unique()), 422, "recipient_not_registered")

    locked = await coupon(client, auth, giver, transferable=False)
    refused(await transfer(client, auth, locked, giver, friend), 409, "not_transferable")

    received = (await transfer(client, auth, code, giver, friend)).json()["code"]
    # Once only: the received code cannot travel on, and the old one is gone.
    refused(await transfer(client, auth, received, friend, stranger), 409, "not_transferable")
    refused(await transfer(client, auth, code, giver, stranger), 409, "not_active")

    used = await coupon(client, auth, giver)
    await db.execute("UPDATE coupons SET state = 'redeemed' WHERE code = $1", used)
    refused(await transfer(client, auth, used, giver, friend), 409, "not_active")

    lapsed = await coupon(client, auth, giver)
    clock.advance(8 * 86400)  # past the 7 days of validity
    refused(await transfer(client, auth, lapsed, giver, friend), 409, "not_active")
    clock.reset()

    # Nothing of the refusals moved a coupon.
    states = await db.fetch(
        "SELECT state FROM coupons WHERE code = ANY($1::text[])", [locked, lapsed]
    )
    assert {row["state"] for row in states} == {"active"}


async def test_racing_transfers_of_one_coupon_give_it_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    giver = await member(client, auth)
    friends = [await member(client, auth) for _ in range(10)]
    code = await coupon(client, auth, giver)
    responses = await asyncio.gather(
        *(transfer(client, auth, code, giver, friend) for friend in friends)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"not_active"}
    received = await db.fetchval("SELECT count(*) FROM coupons WHERE transferred_from = $1", code)
    assert received == 1


async def test_a_retried_transfer_with_a_key_returns_the_first_answer(
    client: Client, auth: Auth
) -> None:
    giver, friend, other = [await member(client, auth) for _ in range(3)]
    code = await coupon(client, auth, giver)
    key = unique("key")
    answers = await asyncio.gather(
        *(transfer(client, auth, code, giver, friend, **{"Idempotency-Key": key}) for _ in range(5))
    )
    assert all(a.status_code == 201 and a.json() == answers[0].json() for a in answers)
    mismatch = await transfer(client, auth, code, giver, other, **{"Idempotency-Key": key})
    refused(mismatch, 409, "idempotency_mismatch")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from_member_id": "m-1"}, "to_member_id"),
        ({"from_member_id": "m 1", "to_member_id": "m-2"}, "from_member_id"),
        ({"from_member_id": "m-1", "to_member_id": 2}, "to_member_id"),
        ({"from_member_id": "m-1", "to_member_id": "m-2", "note": "hi"}, "note"),
        (None, None),
        ([], None),
    ],
)
async def test_bad_transfer_bodies_are_400(
    client: Client, auth: Auth, body: Any, field: str | None
) -> None:
    response = await client.post(
        f"/v1/coupons/{new_code()}/transfer", json=body, headers=auth["front"]
    )
    refused(response, 400, "invalid_request")
    if field is not None:
        assert field in response.json()["detail"]


async def test_the_giver_cannot_redeem_the_old_code_and_the_friend_can_redeem_the_new(
    client: Client, auth: Auth
) -> None:
    giver, friend = await member(client, auth), await member(client, auth)
    code = await coupon(client, auth, giver)
    received = (await transfer(client, auth, code, giver, friend)).json()["code"]
    lines = [{"sku": "A", "category": "tops", "unit_price": 60000, "qty": 1}]

    def order(holder: str, codes: list[str]) -> dict[str, Any]:
        return {"order_id": unique("o"), "member_id": holder, "channel": "online",
                "lines": lines, "coupon_codes": codes}  # fmt: skip

    old = await client.post(
        "/v1/checkout/redemptions", json=order(giver, [code]), headers=auth["checkout"]
    )
    assert old.status_code == 422
    assert old.json()["rejected"] == [{"code": code, "reason": "transferred"}]
    stolen = await client.post(
        "/v1/checkout/redemptions", json=order(giver, [received]), headers=auth["checkout"]
    )
    assert stolen.status_code == 422
    assert stolen.json()["rejected"] == [{"code": received, "reason": "not_owner"}]
    new = await client.post(
        "/v1/checkout/redemptions", json=order(friend, [received]), headers=auth["checkout"]
    )
    assert new.status_code == 201 and new.json()["coupon_discount"] == 10000
