"""Members in v1.1 (API.md "Members (changes)"): who may set a tier, the referrer, and the
programme's view of a member (rolling spend, next tier, the next review, points); upgrades at
the commit that crosses a threshold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from gateway.clock import clock
from gateway.wire import zone
from tests.conftest import unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

#: The thresholds of API.md's example programme.
TIERS: dict[str, Any] = {
    "silver": {"single_order": 250000, "yearly_spend": 300000},
    "gold": {"single_order": 400000, "yearly_spend": 500000},
    "diamond": {"single_order": 800000, "yearly_spend": 1000000},
    "downgrade": "one_step",
}
# Only the `tiers` part is this test's: the rest of a programme another test set stays.
SET_TIERS = """
INSERT INTO programme (id, body, version) VALUES (true, jsonb_build_object('tiers', $1::jsonb), 1)
ON CONFLICT (id) DO UPDATE
SET body = programme.body || jsonb_build_object('tiers', $1::jsonb),
    version = programme.version + 1
"""
RESTORE = "UPDATE programme SET body = $1, version = version + 1"
ADD_SPEND = """
INSERT INTO member_spend_days AS d (member_id, day, paid, orders) VALUES ($1, $2, $3, $4)
ON CONFLICT (member_id, day) DO UPDATE SET paid = d.paid + $3, orders = d.orders + $4
"""
EVENTS = "SELECT kind, actor, detail, at FROM events WHERE member_id = $1 AND kind = $2 ORDER BY id"


@asynccontextmanager
async def programme_tiers(db: asyncpg.Pool, tiers: dict[str, Any]) -> AsyncIterator[None]:
    """The programme's `tiers` for the block; the programme as it was afterwards."""
    before = await db.fetchval("SELECT body FROM programme")
    await db.execute(SET_TIERS, tiers)
    try:
        yield
    finally:
        if before is None:
            await db.execute("DELETE FROM programme")
        else:
            await db.execute(RESTORE, before)


def set_clock(local: str) -> int:
    """Moves the clock to a local time in GATEWAY_TIME_ZONE ("2027-05-10T12:00"); its ms."""
    target = int(datetime.fromisoformat(local).replace(tzinfo=zone()).timestamp() * 1000)
    clock.offset_ms = target - time.time_ns() // 1_000_000
    return target


def local_iso(local: str) -> str:
    """The gateway's rendering of a local time: "2028-01-01T00:00:00.000+08:00"."""
    moment = datetime.fromisoformat(local).replace(tzinfo=zone())
    return moment.isoformat(timespec="milliseconds")


async def put(client: Client, auth: Auth, role: str, member: str, **body: Any) -> Any:
    return await client.put(f"/v1/members/{member}", json=body, headers=auth[role])


async def get(client: Client, auth: Auth, member: str) -> dict[str, Any]:
    response = await client.get(f"/v1/members/{member}", headers=auth["front"])
    assert response.status_code == 200, response.text
    return dict(response.json())


async def order(client: Client, auth: Auth, member: str, unit_price: int, qty: int = 1) -> Any:
    """Reserves an order of `member` without coupons; its reservation."""
    reserved = await client.post(
        "/v1/checkout/redemptions",
        json={
            "order_id": unique("o"),
            "member_id": member,
            "channel": "online",
            "lines": [{"sku": "A", "category": "tops", "unit_price": unit_price, "qty": qty}],
            "coupon_codes": [],
        },
        headers=auth["checkout"],
    )
    assert reserved.status_code == 201, reserved.text
    return reserved.json()


async def commit(client: Client, auth: Auth, order_id: str) -> None:
    committed = await client.post(
        f"/v1/checkout/redemptions/{order_id}/commit", headers=auth["checkout"]
    )
    assert committed.status_code == 200, committed.text


# -- who sets the tier -------------------------------------------------------------------------


async def test_a_new_member_starts_at_standard_whoever_registers_it(
    client: Client, auth: Auth
) -> None:
    for role in ("front", "admin"):
        member = unique()
        response = await put(client, auth, role, member, birthday="05-12")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["tier"] == "standard" and body["birthday"] == "05-12"
        assert body["tier_since"] == body["registered_at"]
        assert body["referred_by"] is None
    explicit = await put(client, auth, "front", unique(), tier="standard")
    assert explicit.status_code == 200 and explicit.json()["tier"] == "standard"


async def test_a_front_key_cannot_register_a_member_above_standard(
    client: Client, auth: Auth
) -> None:
    member = unique()
    refused = await put(client, auth, "front", member, tier="gold")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert "tier" in refused.json()["detail"]
    missing = await client.get(f"/v1/members/{member}", headers=auth["front"])
    assert missing.status_code == 404  # nothing was registered


async def test_an_admin_registers_a_member_at_a_tier_with_a_tier_set_event(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    response = await put(client, auth, "admin", member, tier="gold")
    assert response.status_code == 200 and response.json()["tier"] == "gold"
    (event,) = await db.fetch(EVENTS, member, "tier_set")
    assert event["actor"] == "admin" and event["detail"] == {"from": None, "to": "gold"}


async def test_a_front_key_may_repeat_the_stored_tier_but_not_change_it(
    client: Client, auth: Auth
) -> None:
    member = unique()
    assert (await put(client, auth, "admin", member, tier="gold")).status_code == 200
    same = await put(client, auth, "front", member, tier="gold", birthday="12-31")
    assert same.status_code == 200 and same.json()["birthday"] == "12-31"
    for tier in ("silver", "diamond", "standard"):
        changed = await put(client, auth, "front", member, tier=tier)
        assert changed.status_code == 403 and changed.json()["code"] == "forbidden"
    absent = await put(client, auth, "front", member)
    assert absent.status_code == 200
    assert absent.json()["tier"] == "gold" and absent.json()["birthday"] is None


async def test_an_admin_change_of_tier_restarts_tier_since_and_is_recorded(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-05-10T12:00")
    member = unique()
    first = (await put(client, auth, "admin", member, tier="gold")).json()
    assert first["tier_since"].startswith("2027-05-10T12:00")
    set_clock("2027-06-01T09:30")
    kept = (await put(client, auth, "admin", member, tier="gold", birthday="01-02")).json()
    assert kept["tier_since"] == first["tier_since"]  # the same tier: nothing moves
    moved = (await put(client, auth, "admin", member, tier="diamond")).json()
    assert moved["tier"] == "diamond" and moved["tier_since"].startswith("2027-06-01T09:30")
    assert moved["registered_at"] == first["registered_at"]
    events = await db.fetch(EVENTS, member, "tier_set")
    assert [e["detail"] for e in events] == [
        {"from": None, "to": "gold"},
        {"from": "gold", "to": "diamond"},
    ]
    assert events[1]["actor"] == "admin"
    assert events[1]["at"].astimezone(zone()).isoformat().startswith("2027-06-01T09:30")
    absent = (await put(client, auth, "admin", member)).json()
    assert absent["tier"] == "diamond" and absent["tier_since"] == moved["tier_since"]


async def test_other_roles_cannot_put_members(client: Client, auth: Auth) -> None:
    for role in ("clerk", "checkout"):
        response = await put(client, auth, role, unique())
        assert response.status_code == 403 and response.json()["code"] == "forbidden"


# -- the referrer ------------------------------------------------------------------------------


async def test_the_referrer_is_set_at_registration_and_never_changes(
    client: Client, auth: Auth
) -> None:
    inviter, other, member = unique(), unique(), unique()
    for someone in (inviter, other):
        assert (await put(client, auth, "front", someone)).status_code == 200
    joined = await put(client, auth, "front", member, referred_by=inviter)
    assert joined.status_code == 200 and joined.json()["referred_by"] == inviter
    assert (await get(client, auth, member))["referred_by"] == inviter
    again = await put(client, auth, "front", member, referred_by=inviter, birthday="03-04")
    assert again.status_code == 200 and again.json()["referred_by"] == inviter
    assert (await put(client, auth, "admin", member)).json()["referred_by"] == inviter
    for role in ("front", "admin"):
        changed = await put(client, auth, role, member, referred_by=other)
        assert changed.status_code == 409, changed.text
        assert changed.json()["code"] == "referrer_fixed"
    assert (await get(client, auth, member))["referred_by"] == inviter


async def test_a_member_registered_without_a_referrer_cannot_get_one_later(
    client: Client, auth: Auth
) -> None:
    inviter, member = unique(), unique()
    await put(client, auth, "front", inviter)
    await put(client, auth, "front", member)
    late = await put(client, auth, "front", member, referred_by=inviter)
    assert late.status_code == 409 and late.json()["code"] == "referrer_fixed"
    assert (await get(client, auth, member))["referred_by"] is None


async def test_the_referrer_must_be_another_registered_member(client: Client, auth: Auth) -> None:
    member = unique()
    unknown = await put(client, auth, "front", member, referred_by=unique())
    assert unknown.status_code == 422 and unknown.json()["code"] == "referrer_not_registered"
    assert (await client.get(f"/v1/members/{member}", headers=auth["front"])).status_code == 404
    itself = await put(client, auth, "front", member, referred_by=member)
    assert itself.status_code == 422 and itself.json()["code"] == "same_member"
    assert (await client.get(f"/v1/members/{member}", headers=auth["front"])).status_code == 404


async def test_first_registrations_at_once_lose_nothing(client: Client, auth: Auth) -> None:
    inviter = unique()
    await put(client, auth, "front", inviter)
    # The same registration ten times at once: one row, every answer 200, the referrer kept.
    member = unique()
    same = await asyncio.gather(
        *(put(client, auth, "front", member, birthday="05-12", referred_by=inviter)
          for _ in range(10))
    )  # fmt: skip
    assert [r.status_code for r in same] == [200] * 10
    got = await get(client, auth, member)
    assert got["referred_by"] == inviter and got["birthday"] == "05-12"
    # With and without the referrer at once: whichever came first, the referrer is never
    # dropped after a 200 said it was set.
    for _ in range(5):
        member = unique()
        with_referrer, without = await asyncio.gather(
            put(client, auth, "front", member, referred_by=inviter),
            put(client, auth, "front", member, birthday="01-01"),
        )
        assert without.status_code == 200
        assert with_referrer.status_code in (200, 409), with_referrer.text
        stored = (await get(client, auth, member))["referred_by"]
        assert stored == (inviter if with_referrer.status_code == 200 else None)


# -- what GET reads --------------------------------------------------------------------------------


async def test_get_reads_the_rolling_spend_the_next_tier_and_the_points(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-05-10T12:00")
    today = date(2027, 5, 10)
    member = unique()
    await put(client, auth, "front", member)
    async with programme_tiers(db, TIERS):
        await db.execute(ADD_SPEND, member, today, 100000, 2)
        await db.execute(ADD_SPEND, member, today - timedelta(days=364), 50000, 1)
        await db.execute(ADD_SPEND, member, today - timedelta(days=365), 70000, 1)  # too old
        await db.execute(ADD_SPEND, member, today + timedelta(days=1), 9000, 1)  # not yet
        body = await get(client, auth, member)
    assert body["spend_12m"] == 150000 and body["orders_12m"] == 3
    assert body["next_tier"] == {"tier": "silver", "spend_needed": 150000}
    assert body["keep_tier"] is None  # standard: nothing to keep, never reviewed
    assert body["points"] == {"balance": 0, "pending": 0, "next_expiry": None}
    assert set(body) == {
        "member_id", "tier", "birthday", "registered_at", "referred_by", "tier_since",
        "spend_12m", "orders_12m", "next_tier", "keep_tier", "points",
    }  # fmt: skip


async def test_keep_tier_is_the_next_anniversary_and_the_spend_still_needed(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-03-01T10:00")
    member = unique()
    await put(client, auth, "admin", member, tier="gold")
    async with programme_tiers(db, TIERS):
        await db.execute(ADD_SPEND, member, date(2027, 3, 1), 120000, 1)
        await db.execute(ADD_SPEND, member, date(2027, 2, 28), 40000, 1)  # before the window
        body = await get(client, auth, member)
        assert body["keep_tier"] == {
            "until": local_iso("2028-03-01T00:00"),
            "spend_needed": 500000 - 120000,
        }
        assert body["next_tier"] == {"tier": "diamond", "spend_needed": 1000000 - 160000}
        await db.execute(ADD_SPEND, member, date(2027, 9, 1), 400000, 3)
        body = await get(client, auth, member)
        assert body["keep_tier"]["spend_needed"] == 0
        diamond = unique()
        await put(client, auth, "admin", diamond, tier="diamond")
        top = await get(client, auth, diamond)
        assert top["next_tier"] is None and top["keep_tier"]["spend_needed"] == 1000000


async def test_without_thresholds_there_is_no_next_tier_and_nothing_to_keep(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    await put(client, auth, "admin", member, tier="silver")
    off = {"silver": None, "gold": None, "diamond": None, "downgrade": "one_step"}
    async with programme_tiers(db, off):
        body = await get(client, auth, member)
    assert body["next_tier"] is None and body["keep_tier"] is None


async def test_a_member_registered_before_the_programme_holds_its_tier_since_registering(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    # 008 gave existing rows tier_since = registered_at; a row written without one (the CLI's
    # demo member) gets the same moment by default.
    member = unique()
    await db.execute("INSERT INTO members (member_id, tier) VALUES ($1, 'gold')", member)
    body = await get(client, auth, member)
    assert body["tier_since"] == body["registered_at"] and body["referred_by"] is None
    assert await db.fetchval("SELECT count(*) FROM members WHERE tier_since IS NULL") == 0


# -- upgrades at commit ---------------------------------------------------------------------------


async def test_one_order_reaching_single_order_raises_the_tier_at_its_commit(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    await put(client, auth, "front", member)
    async with programme_tiers(db, TIERS):
        below = await order(client, auth, member, 249999)
        await commit(client, auth, below["order_id"])
        assert (await get(client, auth, member))["tier"] == "standard"
        reached = await order(client, auth, member, 400000)
        assert (await get(client, auth, member))["tier"] == "standard"  # reserved only
        await commit(client, auth, reached["order_id"])
        body = await get(client, auth, member)
    assert body["tier"] == "gold"
    assert body["spend_12m"] == 649999 and body["orders_12m"] == 2
    (event,) = await db.fetch(EVENTS, member, "tier_upgraded")
    assert event["detail"]["from"] == "standard" and event["detail"]["to"] == "gold"
    assert body["tier_since"] == event["at"].astimezone(zone()).isoformat(timespec="milliseconds")


async def test_yearly_spend_raises_the_tier_at_the_commit_that_crosses_it(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    await put(client, auth, "front", member)
    async with programme_tiers(db, TIERS):
        for _ in range(2):
            held = await order(client, auth, member, 100000)
            await commit(client, auth, held["order_id"])
        before = await get(client, auth, member)
        assert before["tier"] == "standard"
        assert before["next_tier"] == {"tier": "silver", "spend_needed": 100000}
        held = await order(client, auth, member, 100000)
        await commit(client, auth, held["order_id"])
        after = await get(client, auth, member)
    assert after["tier"] == "silver" and after["spend_12m"] == 300000
    assert after["next_tier"] == {"tier": "gold", "spend_needed": 200000}


async def test_twenty_commits_at_once_crossing_a_threshold_upgrade_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = unique()
    await put(client, auth, "front", member)
    async with programme_tiers(db, TIERS):
        held = [await order(client, auth, member, 20000) for _ in range(20)]  # 4000.00 in all
        await asyncio.gather(*(commit(client, auth, h["order_id"]) for h in held))
        body = await get(client, auth, member)
    assert body["tier"] == "silver" and body["spend_12m"] == 400000 and body["orders_12m"] == 20
    events = await db.fetch(EVENTS, member, "tier_upgraded")
    assert [(e["detail"]["from"], e["detail"]["to"]) for e in events] == [("standard", "silver")]


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tier": "platinum"}, "tier"),
        ({"tier": None}, "tier"),
        ({"tier": "gold\u0000"}, "tier"),
        ({"tier": "g" * 100_000}, "tier"),
        ({"birthday": "05-12\u0000"}, "birthday"),
        ({"birthday": "0" * 100_000}, "birthday"),
        ({"birthday": "02-30"}, "birthday"),
        ({"referred_by": "m\u00001"}, "referred_by"),
        ({"referred_by": "m" * 65}, "referred_by"),
        ({"referred_by": "m" * 500_000}, "referred_by"),
        ({"referred_by": None}, "referred_by"),
        ({"referred_by": 5}, "referred_by"),
        ({"referred_by": ""}, "referred_by"),
        ({"tier_since": "2020-01-01T00:00:00+08:00"}, "tier_since"),
        ({"nul\u0000": 1}, None),
    ],
)
async def test_bad_member_bodies_are_400_naming_the_field(
    client: Client, auth: Auth, body: dict[str, Any], field: str | None
) -> None:
    member = unique()
    for role in ("admin", "front"):
        response = await client.put(f"/v1/members/{member}", json=body, headers=auth[role])
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_request"
        if field is not None:
            assert field in response.json()["detail"], response.json()
    assert (await client.get(f"/v1/members/{member}", headers=auth["admin"])).status_code == 404


async def test_bad_member_ids_are_400_and_huge_bodies_413(client: Client, auth: Auth) -> None:
    for member_id in ("m%00", "m" * 65, "m" * 10_000):
        for method in ("GET", "PUT"):
            response = await client.request(
                method, f"/v1/members/{member_id}", json={}, headers=auth["admin"]
            )
            assert response.status_code == 400, response.text
            assert "member_id" in response.json()["detail"]
    huge = b'{"referred_by": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await client.put(
        f"/v1/members/{unique()}",
        content=huge,
        headers={**auth["admin"], "Content-Type": "application/json"},
    )
    assert response.status_code == 413
