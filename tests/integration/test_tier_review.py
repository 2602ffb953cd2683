"""The tier review (保级): at each anniversary of `tier_since` (calendar years, local midnight)
a member whose spend of the tier year is below the tier's `yearly_spend` moves down,
`one_step` or `recalculate`; idempotent, and safe with several workers at once."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from gateway.clock import clock
from gateway.tiers.review import review_due
from gateway.wire import zone
from tests.conftest import unique
from tests.integration.test_members_v11 import (
    ADD_SPEND,
    EVENTS,
    TIERS,
    get,
    local_iso,
    programme_tiers,
    put,
    set_clock,
)

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

STATE = "SELECT tier, tier_since FROM members WHERE member_id = $1"


async def member_at(client: Client, auth: Auth, tier: str) -> str:
    """A member an admin puts at `tier` now (on the clock): its tier since now."""
    member = unique()
    response = await put(client, auth, "admin", member, tier=tier)
    assert response.status_code == 200, response.text
    return member


async def review(client: Client, auth: Auth) -> dict[str, int]:
    response = await client.post("/v1/tiers/review", headers=auth["admin"])
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert set(body) == {"reviewed", "kept", "downgraded"}
    assert body["reviewed"] == body["kept"] + body["downgraded"]
    return body


async def tier_of(db: asyncpg.Pool, member: str) -> tuple[str, str]:
    """The member's tier and, to the minute in local time, since when (the clock runs on
    between a test's moves)."""
    row = await db.fetchrow(STATE, member)
    return row["tier"], row["tier_since"].astimezone(zone()).strftime("%Y-%m-%dT%H:%M")


async def reviewed_at(db: asyncpg.Pool, member: str) -> str | None:
    """The last anniversary at which the member kept its tier."""
    at = await db.fetchval("SELECT tier_reviewed_at FROM members WHERE member_id = $1", member)
    return None if at is None else at.astimezone(zone()).isoformat(timespec="milliseconds")


async def order(client: Client, auth: Auth, member: str, unit_price: int) -> int:
    """Reserves and commits an order of one line; what the member paid."""
    held = await client.post(
        "/v1/checkout/redemptions",
        json={
            "order_id": unique("o"),
            "member_id": member,
            "channel": "online",
            "lines": [{"sku": "A", "category": "tops", "unit_price": unit_price, "qty": 1}],
            "coupon_codes": [],
        },
        headers=auth["checkout"],
    )
    assert held.status_code == 201, held.text
    committed = await client.post(
        f"/v1/checkout/redemptions/{held.json()['order_id']}/commit", headers=auth["checkout"]
    )
    assert committed.status_code == 200, committed.text
    return int(held.json()["total"])


async def test_only_admins_run_the_review(client: Client, auth: Auth) -> None:
    for role in ("front", "clerk", "checkout"):
        response = await client.post("/v1/tiers/review", headers=auth[role])
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert (await client.post("/v1/tiers/review")).status_code == 401
    await review(client, auth)


async def test_one_step_moves_a_member_below_yearly_spend_down_one_tier_at_the_anniversary(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-03-01T10:00")
    short, enough = await member_at(client, auth, "diamond"), await member_at(client, auth, "gold")
    async with programme_tiers(db, TIERS):
        # 9999.99 of diamond's 10000.00; gold's 5000.00 exactly, on the first day of its year.
        await db.execute(ADD_SPEND, short, date(2027, 6, 1), 999999, 4)
        await db.execute(ADD_SPEND, enough, date(2027, 3, 1), 500000, 1)
        set_clock("2028-02-29T23:59")  # the day before the anniversary: nothing is due yet
        await review(client, auth)
        assert (await tier_of(db, short))[0] == "diamond"
        set_clock("2028-03-01T00:00")
        await review(client, auth)
        assert await tier_of(db, short) == ("gold", "2028-03-01T00:00")
        assert await tier_of(db, enough) == ("gold", "2027-03-01T10:00")
        (event,) = await db.fetch(EVENTS, short, "tier_downgraded")
        assert {k: event["detail"][k] for k in ("from", "to", "spend")} == {
            "from": "diamond",
            "to": "gold",
            "spend": 999999,
        }
        assert await db.fetch(EVENTS, enough, "tier_downgraded") == []
        # The member who kept gold is reviewed again a year later, on that year's spend.
        kept = await get(client, auth, enough)
        assert kept["keep_tier"] == {"until": local_iso("2029-03-01T00:00"), "spend_needed": 500000}
        set_clock("2029-03-01T00:00")
        await review(client, auth)
        assert await tier_of(db, enough) == ("silver", "2029-03-01T00:00")
        # The one moved down is reviewed at the anniversary of its new tier_since.
        assert await tier_of(db, short) == ("silver", "2029-03-01T00:00")


async def test_recalculate_moves_to_the_highest_tier_the_spend_still_reaches(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-05-10T12:00")
    to_silver = await member_at(client, auth, "diamond")
    to_standard = await member_at(client, auth, "diamond")
    to_gold = await member_at(client, auth, "diamond")
    async with programme_tiers(db, {**TIERS, "downgrade": "recalculate"}):
        await db.execute(ADD_SPEND, to_silver, date(2027, 12, 1), 350000, 2)
        await db.execute(ADD_SPEND, to_standard, date(2027, 12, 1), 299999, 2)
        await db.execute(ADD_SPEND, to_gold, date(2027, 12, 1), 500000, 2)
        set_clock("2028-05-10T00:00")
        await review(client, auth)
    assert (await tier_of(db, to_silver))[0] == "silver"
    assert (await tier_of(db, to_standard))[0] == "standard"
    assert (await tier_of(db, to_gold))[0] == "gold"
    (event,) = await db.fetch(EVENTS, to_standard, "tier_downgraded")
    assert event["detail"]["to"] == "standard" and event["detail"]["spend"] == 299999
    assert event["detail"]["mode"] == "recalculate"


async def test_one_step_skips_a_tier_the_programme_turned_off(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-05-10T12:00")
    member = await member_at(client, auth, "diamond")
    async with programme_tiers(db, {**TIERS, "gold": None}):
        set_clock("2028-05-10T00:00")
        await review(client, auth)
    assert (await tier_of(db, member))[0] == "silver"


async def test_without_thresholds_the_review_keeps_every_tier(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-05-10T12:00")
    member = await member_at(client, auth, "gold")
    off = {"silver": None, "gold": None, "diamond": None, "downgrade": "one_step"}
    async with programme_tiers(db, off):
        set_clock("2028-05-10T00:00")
        await review(client, auth)
    assert await tier_of(db, member) == ("gold", "2027-05-10T12:00")
    assert await reviewed_at(db, member) == local_iso("2028-05-10T00:00")  # kept, this year


async def test_a_rerun_changes_nothing(client: Client, auth: Auth, db: asyncpg.Pool) -> None:
    set_clock("2027-05-10T12:00")
    members = [await member_at(client, auth, "gold") for _ in range(3)]
    async with programme_tiers(db, TIERS):
        set_clock("2028-05-10T08:00")
        await review(client, auth)
        again = await review(client, auth)
        assert again == {"reviewed": 0, "kept": 0, "downgraded": 0}
        assert (await review_due(db, clock.now_ms())).reviewed == 0
    for member in members:
        assert (await tier_of(db, member))[0] == "silver"
        assert len(await db.fetch(EVENTS, member, "tier_downgraded")) == 1


async def test_two_reviews_at_once_move_each_member_down_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-05-10T12:00")
    members = [await member_at(client, auth, "diamond") for _ in range(40)]
    async with programme_tiers(db, TIERS):
        set_clock("2028-05-11T00:00")
        now_ms = clock.now_ms()
        reports = await asyncio.gather(
            review_due(db, now_ms, batch=7),
            review_due(db, now_ms, batch=7),
            review(client, auth),
        )
    assert sum(r.downgraded for r in reports[:2]) + reports[2]["downgraded"] >= len(members)
    for member in members:
        assert (await tier_of(db, member))[0] == "gold"
        events = await db.fetch(EVENTS, member, "tier_downgraded")
        assert [(e["detail"]["from"], e["detail"]["to"]) for e in events] == [("diamond", "gold")]


async def test_missed_anniversaries_are_reviewed_each_in_turn(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-05-10T12:00")
    member = await member_at(client, auth, "diamond")
    async with programme_tiers(db, TIERS):
        await db.execute(ADD_SPEND, member, date(2027, 6, 1), 1000000, 1)  # keeps year one
        set_clock("2029-06-01T00:00")  # two anniversaries past, the review never ran
        await review(client, auth)
    assert await tier_of(db, member) == ("gold", "2029-05-10T00:00")
    events = await db.fetch(EVENTS, member, "tier_downgraded")
    assert [e["detail"]["to"] for e in events] == ["gold"]


async def test_an_upgrade_at_commit_restarts_the_count_to_the_next_review(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-05-10T12:00")
    member = await member_at(client, auth, "silver")
    async with programme_tiers(db, TIERS):
        await db.execute(ADD_SPEND, member, date(2027, 6, 1), 300000, 1)
        set_clock("2028-05-10T00:00")
        await review(client, auth)
        assert await reviewed_at(db, member) == local_iso("2028-05-10T00:00")  # kept silver
        set_clock("2028-07-01T15:00")
        # 4400.00 less any silver rate other tests set (at most 5%): past gold's single_order,
        # short of its yearly_spend.
        assert 400000 <= await order(client, auth, member, 440000) < 500000
        body = await get(client, auth, member)
        assert body["tier"] == "gold" and body["tier_since"].startswith("2028-07-01T15:00")
        assert body["keep_tier"]["until"] == local_iso("2029-07-01T00:00")
        set_clock("2029-05-10T00:00")
        await review(client, auth)
        assert (await tier_of(db, member))[0] == "gold"  # silver's anniversary is gone
        set_clock("2029-07-01T00:00")
        await review(client, auth)
    assert (await tier_of(db, member))[0] == "silver"


async def test_an_admin_change_of_tier_restarts_the_count_too(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2027-05-10T12:00")
    member = await member_at(client, auth, "silver")
    async with programme_tiers(db, TIERS):
        await db.execute(ADD_SPEND, member, date(2027, 6, 1), 300000, 1)
        set_clock("2028-05-10T00:00")
        await review(client, auth)
        set_clock("2028-08-02T08:00")
        await put(client, auth, "admin", member, tier="diamond")
        assert await reviewed_at(db, member) is None
        set_clock("2029-08-01T23:59")
        await review(client, auth)
        assert (await tier_of(db, member))[0] == "diamond"
        set_clock("2029-08-02T00:00")
        await review(client, auth)
    assert await tier_of(db, member) == ("gold", "2029-08-02T00:00")


async def test_a_tier_held_since_02_29_is_reviewed_on_02_28_and_on_02_29_in_leap_years(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    set_clock("2028-02-29T09:00")
    member = await member_at(client, auth, "silver")
    async with programme_tiers(db, TIERS):
        assert (await get(client, auth, member))["keep_tier"]["until"] == local_iso(
            "2029-02-28T00:00"
        )
        for year in (2028, 2029, 2030):  # enough spend in three tier years, none in the fourth
            await db.execute(ADD_SPEND, member, date(year, 12, 1), 300000, 1)
        for anniversary in ("2029-02-28", "2030-02-28", "2031-02-28"):
            set_clock(f"{anniversary}T00:00")
            assert (await review(client, auth))["kept"] >= 1
        body = await get(client, auth, member)
        assert body["keep_tier"]["until"] == local_iso("2032-02-29T00:00")
        set_clock("2032-02-28T23:59")
        await review(client, auth)
        assert (await tier_of(db, member))[0] == "silver"
        set_clock("2032-02-29T00:00")
        await review(client, auth)
    assert await tier_of(db, member) == ("standard", "2032-02-29T00:00")


async def test_the_turn_of_the_year_is_counted_in_the_gateway_zone(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    # 00:30 on 1 January in Shanghai is still 31 December in UTC: the spend's day, the tier
    # year and the anniversary all follow Asia/Shanghai.
    assert str(zone()) == "Asia/Shanghai"
    set_clock("2027-01-01T00:30")
    member, late = await member_at(client, auth, "silver"), await member_at(client, auth, "silver")
    async with programme_tiers(db, TIERS):
        # 3200.00 less any silver rate other tests set (at most 5%): silver's 3000.00, not gold.
        paid = await order(client, auth, member, 320000)
        assert 300000 <= paid < 400000
        day = await db.fetchval("SELECT day FROM member_spend_days WHERE member_id = $1", member)
        assert day == date(2027, 1, 1)
        # The same amount on the local day before `late` reached silver: outside its tier year.
        await db.execute(ADD_SPEND, late, date(2026, 12, 31), 300000, 1)
        body = await get(client, auth, member)
        assert body["spend_12m"] == paid
        assert body["keep_tier"] == {"until": local_iso("2028-01-01T00:00"), "spend_needed": 0}
        assert (await get(client, auth, late))["keep_tier"]["spend_needed"] == 300000
        set_clock("2027-12-31T23:59")
        assert (await get(client, auth, member))["spend_12m"] == paid  # its 365th day
        await review(client, auth)
        assert (await tier_of(db, late))[0] == "silver"
        set_clock("2028-01-01T00:00")
        assert (await get(client, auth, member))["spend_12m"] == 0
        await review(client, auth)
    assert await tier_of(db, member) == ("silver", "2027-01-01T00:30")
    assert await reviewed_at(db, member) == local_iso("2028-01-01T00:00")
    assert await tier_of(db, late) == ("standard", "2028-01-01T00:00")


async def test_batches_of_two_review_each_due_member_once_per_anniversary(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """The review's batches run in the order of the last anniversary passed: a member with two
    anniversaries past is found again in a later batch for the second, members not due yet
    (an anniversary tomorrow: in the index's range) are passed over, every other due member
    is reviewed once."""
    set_clock("2026-05-10T12:00")
    twice = await member_at(client, auth, "diamond")
    set_clock("2027-05-10T12:00")
    short = [await member_at(client, auth, "diamond") for _ in range(4)]
    kept = [await member_at(client, auth, "gold") for _ in range(3)]
    standard = [await member_at(client, auth, "standard") for _ in range(3)]
    set_clock("2027-05-11T12:00")
    tomorrow = [await member_at(client, auth, "gold") for _ in range(2)]
    async with programme_tiers(db, TIERS):
        await db.execute(ADD_SPEND, twice, date(2026, 6, 1), 1000000, 1)  # keeps year one
        for member in kept:
            await db.execute(ADD_SPEND, member, date(2027, 6, 1), 500000, 1)
        set_clock("2028-05-10T12:00")  # the anniversary of all but `tomorrow`
        report = await review_due(db, clock.now_ms(), batch=2)
        assert report.reviewed >= len(short) + len(kept) + 2
        assert (await review_due(db, clock.now_ms(), batch=2)).reviewed == 0
    assert await tier_of(db, twice) == ("gold", "2028-05-10T00:00")
    assert [e["detail"]["to"] for e in await db.fetch(EVENTS, twice, "tier_downgraded")] == ["gold"]
    for member in short:
        assert await tier_of(db, member) == ("gold", "2028-05-10T00:00")
        assert len(await db.fetch(EVENTS, member, "tier_downgraded")) == 1
    for member in kept:
        assert await tier_of(db, member) == ("gold", "2027-05-10T12:00")
        assert await reviewed_at(db, member) == local_iso("2028-05-10T00:00")
    for member in standard:
        assert await tier_of(db, member) == ("standard", "2027-05-10T12:00")
    for member in tomorrow:
        assert await tier_of(db, member) == ("gold", "2027-05-11T12:00")
        assert await reviewed_at(db, member) is None
