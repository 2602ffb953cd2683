"""Points exchange (积分兑换): points and stock move together, under races, refusals,
replays and a crash between the two writes."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from gateway.clock import clock
from gateway.points.schemas import ExchangeRequest
from tests.conftest import live_campaign, unique
from tests.integration.points_helpers import (
    Auth,
    Client,
    assert_ledger,
    line,
    on_app,
    order,
    points_of,
    programme,
    programme_body,
    silver_member,
    unthrottled,
)
from tests.integration.test_link_only import link_token

pytestmark = pytest.mark.asyncio


async def exchange(
    client: Client, auth: Auth, campaign_id: str, member_id: str, **headers: str
) -> Any:
    return await client.post(
        f"/v1/campaigns/{campaign_id}/exchanges",
        json={"member_id": member_id, "channel": "online"},
        headers={**auth["front"], **headers},
    )


async def member_with(client: Client, auth: Auth, points: int) -> str:
    member = await silver_member(client, auth)
    if points:
        response = await client.post(
            f"/v1/members/{member}/points/adjustments",
            json={"points": points, "reason": "test"},
            headers=auth["admin"],
        )
        assert response.status_code == 201, response.text
    return member


async def crashed_exchange(db: asyncpg.Pool, campaign_id: str, member: str, price: int) -> None:
    """What a process that died between an exchange's two writes leaves: the points taken
    and the exchange's row `pending` (id `x_crashed_<member>`), no coupon."""
    now = clock.now()
    async with db.acquire() as conn, conn.transaction():
        await conn.fetchval("SELECT gw_points_lock($1, $2)", member, now)
        entry = await conn.fetchval(
            "SELECT gw_points_debit($1, $2, $3, 'spend', NULL, $4, NULL, 'exchange', 'test')",
            member,
            price,
            now,
            campaign_id,
        )
        await conn.execute(
            "INSERT INTO exchanges (id, campaign_id, member_id, channel, points, body_hash, "
            "state, entry_id, created_at, updated_at) "
            "VALUES ($1, $2, $3, 'online', $4, 'x', 'pending', $5, $6, $6)",
            "x_crashed_" + member,
            campaign_id,
            member,
            price,
            entry,
            now,
        )


async def test_an_exchange_takes_the_points_and_gives_the_coupon(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], points_price=300, stock=5)
    assert campaign["points_price"] == 300
    member = await member_with(client, auth, 500)
    response = await exchange(client, auth, campaign["id"], member)
    assert response.status_code == 201, response.text
    coupon = response.json()
    assert coupon["points_spent"] == 300 and coupon["member_id"] == member
    assert (await points_of(client, auth, member))["balance"] == 200
    wallet = await client.get(f"/v1/members/{member}/coupons", headers=auth["front"])
    assert coupon["code"] in {c["code"] for c in wallet.json()["coupons"]}
    refused = await exchange(client, auth, campaign["id"], member)  # 200 < 300
    assert (refused.status_code, refused.json()["code"]) == (409, "insufficient_points")
    assert (await points_of(client, auth, member))["balance"] == 200
    row = await db.fetchrow("SELECT * FROM exchanges WHERE coupon_code = $1", coupon["code"])
    assert (row["state"], row["points"]) == ("done", 300)
    await assert_ledger(db, [member])


async def test_claims_of_an_exchange_campaign_are_refused(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"], points_price=10)
    member = await member_with(client, auth, 0)
    claim = await client.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": member, "channel": "online"},
        headers=auth["front"],
    )
    assert (claim.status_code, claim.json()["code"]) == (409, "exchange_only")
    plain = await live_campaign(client, auth["admin"])
    refused = await exchange(client, auth, plain["id"], member)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_exchangeable")
    missing = await exchange(client, auth, "cmp_nope", member)
    assert missing.status_code == 404
    unknown = await exchange(client, auth, campaign["id"], unique())
    assert (unknown.status_code, unknown.json()["code"]) == (404, "member_not_found")
    for bad in (0, -1, 2**63, 1.5, "10"):
        created = await client.post(
            "/v1/campaigns",
            json={**_body(), "points_price": bad},
            headers=auth["admin"],
        )
        assert created.status_code == 400 and "points_price" in created.json()["detail"], bad


def _body() -> dict[str, Any]:
    from tests.conftest import campaign_body

    return campaign_body()


async def test_a_refused_exchange_gives_the_points_back(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], points_price=100, stock=1)
    first = await member_with(client, auth, 100)
    second = await member_with(client, auth, 150)
    assert (await exchange(client, auth, campaign["id"], first)).status_code == 201
    refused = await exchange(client, auth, campaign["id"], second)
    assert (refused.status_code, refused.json()["code"]) == (409, "sold_out")
    points = await points_of(client, auth, second)
    assert points["balance"] == 150
    assert [lot["remaining"] for lot in points["lots"]] == [150]  # back in its own lot
    kinds = [
        r["kind"]
        for r in await db.fetch(
            "SELECT kind FROM point_entries WHERE member_id = $1 ORDER BY id", second
        )
    ]
    assert kinds == ["adjust", "spend", "reverse"]
    await assert_ledger(db, [first, second])


async def test_the_same_idempotency_key_gives_the_same_coupon_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], points_price=100, per_member_limit=5)
    member = await member_with(client, auth, 1000)
    key = {"Idempotency-Key": "exchange-1"}
    answers = await asyncio.gather(
        *[exchange(client, auth, campaign["id"], member, **key) for _ in range(5)]
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["code"] for a in answers}) == 1
    assert (await points_of(client, auth, member))["balance"] == 900
    other = await client.post(
        f"/v1/campaigns/{campaign['id']}/exchanges",
        json={"member_id": member, "channel": "store"},
        headers={**auth["front"], **key},
    )
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_mismatch")
    # The same key for another member is another body too, as for a claim: nothing is spent.
    stranger = await member_with(client, auth, 1000)
    theirs = await exchange(client, auth, campaign["id"], stranger, **key)
    assert (theirs.status_code, theirs.json()["code"]) == (409, "idempotency_mismatch")
    assert (await points_of(client, auth, stranger))["balance"] == 1000
    await assert_ledger(db, [member, stranger])


async def test_one_idempotency_key_at_once_on_the_apps_loop_spends_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """Twenty requests with one key interleaved on the app's own loop (the test client's
    requests barely overlap): one exchange, one coupon for all, its points taken once (without
    the key's lock the later ones took points too and failed on the row's primary key)."""
    campaign = await live_campaign(client, auth["admin"], points_price=10, per_member_limit=50)
    member = await member_with(client, auth, 1000)
    service = client.app.state.exchanges
    request = ExchangeRequest(member_id=member, channel="online")
    body = b'{"member_id": "%s", "channel": "online"}' % member.encode()

    async def twenty() -> list[Any]:
        return await asyncio.gather(
            *[
                service.exchange(campaign["id"], request, "front", "one-key", body)
                for _ in range(20)
            ],
            return_exceptions=True,
        )

    answers = await on_app(client, twenty)
    assert len(set(answers)) == 1 and isinstance(answers[0], bytes), answers
    assert (await points_of(client, auth, member))["balance"] == 990
    rows = await db.fetch("SELECT state FROM exchanges WHERE member_id = $1", member)
    assert [r["state"] for r in rows] == ["done"]
    await assert_ledger(db, [member])


async def test_fifty_exchanges_at_once_with_points_for_seven(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(
        client, auth["admin"], points_price=100, stock=1000, per_member_limit=1000
    )
    member = await member_with(client, auth, 700)
    with unthrottled(client):
        answers = await asyncio.gather(
            *[exchange(client, auth, campaign["id"], member) for _ in range(50)]
        )
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 7, statuses
    assert {a.json()["code"] for a in answers if a.status_code != 201} == {"insufficient_points"}
    assert (await points_of(client, auth, member))["balance"] == 0
    held = await db.fetchval(
        "SELECT count(*) FROM coupons WHERE campaign_id = $1 AND member_id = $2",
        campaign["id"],
        member,
    )
    assert held == 7
    await assert_ledger(db, [member])


async def test_an_exchange_racing_a_transfer_and_a_refund_never_spends_a_point_twice(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(
        client, auth["admin"], points_price=100, stock=1000, per_member_limit=1000
    )
    member = await silver_member(client, auth)
    friend = await silver_member(client, auth)
    placed = await order(client, auth, member, [line(100, 3)])  # 300 points
    async with programme(db, programme_body(transferable=True)):
        tasks = [exchange(client, auth, campaign["id"], member) for _ in range(4)]
        tasks.append(
            client.post(
                f"/v1/members/{member}/points/transfers",
                json={"to_member_id": friend, "points": 100},
                headers=auth["front"],
            )
        )
        tasks.append(
            client.post(
                f"/v1/checkout/redemptions/{placed['order_id']}/refund",
                json={"lines": [{"sku": "A", "qty": 1}]},
                headers=auth["checkout"],
            )
        )
        with unthrottled(client):
            answers = await asyncio.gather(*tasks)
    assert all(a.status_code < 500 for a in answers)
    exchanged = sum(1 for a in answers[:4] if a.status_code == 201)
    transferred = 100 if answers[4].status_code == 201 else 0
    balance = (await points_of(client, auth, member))["balance"]
    assert balance == 300 - 100 * exchanged - transferred - 100
    negative = await db.fetchval(
        "SELECT count(*) FROM point_lots WHERE member_id = ANY($1::text[]) AND remaining < 0",
        [member, friend],
    )
    assert negative == 0
    await assert_ledger(db, [member, friend])


async def test_a_crash_between_the_points_and_the_coupon_is_finished_by_recovery(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """The points were taken and the row written, then the process died before the claim:
    recovery runs the claim with the exchange's own key; run again, it changes nothing."""
    campaign = await live_campaign(client, auth["admin"], points_price=40)
    member = await member_with(client, auth, 100)
    app_state: Any = client.app.state
    service = app_state.exchanges
    await crashed_exchange(db, campaign["id"], member, 40)
    assert (await points_of(client, auth, member))["balance"] == 60
    clock.advance(60)
    assert await on_app(client, service.recover_pending, 30) >= 1
    row = await db.fetchrow("SELECT * FROM exchanges WHERE id = $1", "x_crashed_" + member)
    assert row["state"] == "done" and row["coupon_code"]
    assert await on_app(client, service.recover_pending, 30) == 0
    coupons = await db.fetchval(
        "SELECT count(*) FROM coupons WHERE campaign_id = $1 AND member_id = $2",
        campaign["id"],
        member,
    )
    assert coupons == 1
    assert (await points_of(client, auth, member))["balance"] == 60
    await assert_ledger(db, [member])


async def test_a_crashed_exchange_whose_claim_is_refused_gets_its_points_back(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], points_price=40, stock=1)
    taker = await member_with(client, auth, 40)
    assert (await exchange(client, auth, campaign["id"], taker)).status_code == 201
    member = await member_with(client, auth, 100)
    await crashed_exchange(db, campaign["id"], member, 40)
    clock.advance(60)
    app_state: Any = client.app.state
    await on_app(client, app_state.exchanges.recover_pending, 30)
    row = await db.fetchrow("SELECT * FROM exchanges WHERE id = $1", "x_crashed_" + member)
    assert (row["state"], row["reason"]) == ("refused", "sold_out")
    assert (await points_of(client, auth, member))["balance"] == 100
    await assert_ledger(db, [member, taker])


async def test_exchanged_points_do_not_come_back_with_a_refund(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """Exchanges are final: the coupon used and its order refunded, the points stay spent."""
    campaign = await live_campaign(
        client, auth["admin"], points_price=50, kind="amount", amount_off=1000, min_spend=None
    )
    member = await member_with(client, auth, 50)
    coupon = (await exchange(client, auth, campaign["id"], member)).json()
    placed = await order(client, auth, member, [line(100)], [coupon["code"]])  # earns 90
    await client.post(
        f"/v1/checkout/redemptions/{placed['order_id']}/refund",
        json={"lines": []},
        headers=auth["checkout"],
    )
    assert (await points_of(client, auth, member))["balance"] == 0
    await assert_ledger(db, [member])


async def test_a_link_only_exchange_needs_the_links_token_as_a_claim_does(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """ "Refusals as for claims": without its link's token (or with another's) a `link_only`
    campaign refuses the exchange (403 `invalid_token`) and takes no points."""
    campaign = await live_campaign(client, auth["admin"], link_only=True, points_price=10)
    other = await live_campaign(client, auth["admin"], link_only=True, points_price=10)
    member = await member_with(client, auth, 100)
    url = f"/v1/campaigns/{campaign['id']}/exchanges"
    body = {"member_id": member, "channel": "online"}
    for token in (None, "not-the-token", "令牌", await link_token(client, auth, other["id"])):
        extra = {} if token is None else {"token": token}
        refused = await client.post(url, json={**body, **extra}, headers=auth["front"])
        assert (refused.status_code, refused.json()["code"]) == (403, "invalid_token"), token
    assert (await points_of(client, auth, member))["balance"] == 100
    token = await link_token(client, auth, campaign["id"])
    done = await client.post(url, json={**body, "token": token}, headers=auth["front"])
    assert done.status_code == 201, done.text
    assert done.json()["points_spent"] == 10
    assert (await points_of(client, auth, member))["balance"] == 90
    for bad in (5, "x" * 201):
        response = await client.post(url, json={**body, "token": bad}, headers=auth["front"])
        assert response.status_code == 400 and "token" in response.json()["detail"], bad
    await assert_ledger(db, [member])
