"""Rewards that run themselves (issue 14): each at most once per member and occasion, whatever
the concurrency, retries and crashes; coupons through the grant path (stock and limits apply,
refusals recorded with their reason); birthdays, win-backs and monthly steps on the clock."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest

from gateway.clock import clock
from gateway.wire import when, zone
from tests.conftest import live_campaign, unique
from tests.integration.points_helpers import (
    Auth,
    Client,
    assert_ledger,
    line,
    on_app,
    order,
    programme,
    silver_member,
)

pytestmark = pytest.mark.asyncio


def rewards_programme(**rewards: Any) -> dict[str, Any]:
    return {"rewards": rewards}


# Rows due now that another worker (the app's own, every 2 s) holds at this moment.
HELD_ELSEWHERE = (
    "SELECT 1 FROM reward_due WHERE state = 'due' AND due_at <= $1 AND lease_until >= now() LIMIT 1"
)


async def give(client: Client) -> int:
    """Runs the rewards worker now, and waits out the app's own worker (every 2 s beside it)
    if it leased some of the rows first: when this returns, every row due is given."""
    state: Any = client.app.state
    given = 0
    for _ in range(400):
        now_ms = clock.now_ms()
        given += await on_app(client, partial(state.rewards.give_due, slice_s=math.inf), now_ms)
        held = await on_app(client, state.rewards.pool.fetchval, HELD_ELSEWHERE, when(now_ms))
        if held is None:
            return given
        await asyncio.sleep(0.05)
    raise AssertionError("the rewards worker held its lease for 20 s")


async def scan(client: Client) -> int:
    state: Any = client.app.state
    made: int = await on_app(client, state.rewards.scan, clock.now_ms())
    return made


async def rewards_of(client: Client, auth: Auth, member_id: str) -> list[dict[str, Any]]:
    await give(client)
    response = await client.get(f"/v1/members/{member_id}/rewards", headers=auth["front"])
    assert response.status_code == 200, response.text
    return list(response.json()["rewards"])


async def coupons_of(db: asyncpg.Pool, campaign_id: str, member_id: str) -> int:
    held: int = await db.fetchval(
        "SELECT count(*) FROM coupons WHERE campaign_id = $1 AND member_id = $2",
        campaign_id,
        member_id,
    )
    return held


async def reward_campaign(client: Client, auth: Auth, **fields: Any) -> str:
    """A live campaign whose claims never end on any clock a test moves to (a grant outside
    the claim window is refused `ended`)."""
    body = {
        "stock": 1000,
        "per_member_limit": 100,
        "claim_ends_at": "2999-01-01T00:00:00+08:00",
        **fields,
    }
    return str((await live_campaign(client, auth["admin"], **body))["id"])


async def test_a_pass_gives_for_its_slice_and_leaves_the_rest_due(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """A surge of rewards does not hold the worker's other jobs: a pass stops after its slice,
    and what it did not give stays due for the next pass, given once."""
    async with programme(db, rewards_programme(welcome={"points": 7})):
        clock.advance(3 * 86400)  # due only on this clock: the app's own worker leaves them
        members = [unique() for _ in range(5)]
        for member in members:
            put = await client.put(f"/v1/members/{member}", json={}, headers=auth["front"])
            assert put.status_code == 200, put.text
        state: Any = client.app.state
        due = partial(state.rewards.give_due, batch=2, slice_s=0.0)
        assert await on_app(client, due, clock.now_ms()) == 2  # one batch, then its slice ended
        left = await db.fetchval(
            "SELECT count(*) FROM reward_due WHERE member_id = ANY($1) AND state = 'due'", members
        )
        assert left == 3
        assert await give(client) == 3
        for member in members:
            [reward] = await rewards_of(client, auth, member)
            assert (reward["kind"], reward["points"]) == ("welcome", 7)
        await assert_ledger(db, members)


async def test_welcome_once_however_often_the_member_registers(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    async with programme(db, rewards_programme(welcome={"campaign_id": campaign, "points": 20})):
        member = unique()
        answers = await asyncio.gather(
            *[
                client.put(f"/v1/members/{member}", json={"birthday": None}, headers=auth["front"])
                for _ in range(8)
            ]
        )
        assert {a.status_code for a in answers} == {200}
        await asyncio.gather(give(client), give(client))
        [reward] = await rewards_of(client, auth, member)
        assert (reward["kind"], reward["occasion"], reward["points"]) == ("welcome", "welcome", 20)
        assert reward["coupon_code"] and reward["refused"] is None
        assert await coupons_of(db, campaign, member) == 1
        points = (await client.get(f"/v1/members/{member}/points", headers=auth["front"])).json()
        assert points["balance"] == 20
        await assert_ledger(db, [member])


async def test_two_first_orders_committed_at_once_give_one_first_order_reward(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    async with programme(db, rewards_programme(first_order={"campaign_id": campaign})):
        member = await silver_member(client, auth)
        held = [await order(client, auth, member, [line(100)], commit=False) for _ in range(2)]
        commits = await asyncio.gather(
            *[
                client.post(
                    f"/v1/checkout/redemptions/{h['order_id']}/commit", headers=auth["checkout"]
                )
                for h in held
            ]
        )
        assert {c.status_code for c in commits} == {200}
        await order(client, auth, member, [line(100)])  # a third order: not a first
        rewards = await rewards_of(client, auth, member)
        assert [r["kind"] for r in rewards] == ["first_order"]
        assert rewards[0]["order_id"] in {h["order_id"] for h in held}
        assert await coupons_of(db, campaign, member) == 1


async def test_referral_rewards_both_sides_on_the_invitees_first_order(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    side = {"campaign_id": campaign, "points": 50}
    async with programme(db, rewards_programme(referral={"inviter": side, "invitee": side})):
        inviter = await silver_member(client, auth)
        invitee = await silver_member(client, auth, referred_by=inviter)
        assert await rewards_of(client, auth, invitee) == []  # registering is not enough
        await order(client, auth, invitee, [line(10)])
        await order(client, auth, invitee, [line(10)])
        [mine] = await rewards_of(client, auth, invitee)
        [theirs] = await rewards_of(client, auth, inviter)
        assert (mine["occasion"], mine["counterparty"], mine["points"]) == (
            "referral:invitee", inviter, 50,
        )  # fmt: skip
        assert (theirs["occasion"], theirs["counterparty"]) == (
            f"referral:inviter:{invitee}",
            invitee,
        )
        assert await coupons_of(db, campaign, inviter) == 1
        assert await coupons_of(db, campaign, invitee) == 1
        await assert_ledger(db, [inviter, invitee])


async def test_a_transferred_coupon_used_on_a_first_order_rewards_giver_and_friend(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    gift = await live_campaign(
        client, auth["admin"], kind="amount", amount_off=500, min_spend=None, transferable=True
    )
    bonus = await reward_campaign(client, auth)
    rules = {"giver_points": 30, "first_order_campaign_id": bonus}
    async with programme(db, rewards_programme(transfer=rules)):
        giver = await silver_member(client, auth)
        friend = await silver_member(client, auth)
        claimed = await client.post(
            f"/v1/campaigns/{gift['id']}/claims",
            json={"member_id": giver, "channel": "online"},
            headers=auth["front"],
        )
        given = await client.post(
            f"/v1/coupons/{claimed.json()['code']}/transfer",
            json={"from_member_id": giver, "to_member_id": friend},
            headers=auth["front"],
        )
        assert given.status_code == 201, given.text
        await order(client, auth, friend, [line(100)], [given.json()["code"]])
        giver_rewards = {r["occasion"]: r for r in await rewards_of(client, auth, giver)}
        friend_rewards = {r["occasion"]: r for r in await rewards_of(client, auth, friend)}
        assert giver_rewards[f"transfer:giver:{given.json()['code']}"]["points"] == 30
        first = [o for o in giver_rewards if o.startswith("transfer:first_order:")]
        assert len(first) == 1 and giver_rewards[first[0]]["coupon_code"]
        assert list(friend_rewards) == first
        assert await coupons_of(db, bonus, giver) == 1
        assert await coupons_of(db, bonus, friend) == 1
        await assert_ledger(db, [giver, friend])


async def test_spend_steps_by_order_give_only_the_highest_step(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    small = await reward_campaign(client, auth, name="满288")
    big = await reward_campaign(client, auth, name="满888")
    steps = [
        {"period": "order", "min_paid": 28800, "campaign_id": small},
        {"period": "order", "min_paid": 88800, "campaign_id": big},
    ]
    async with programme(db, rewards_programme(spend_steps=steps)):
        member = await silver_member(client, auth)
        await order(client, auth, member, [line(900)])
        await order(client, auth, member, [line(100)])  # below every step
        [reward] = await rewards_of(client, auth, member)
        assert reward["campaign_id"] == big
        assert await coupons_of(db, small, member) == 0


async def test_monthly_steps_count_the_local_month_across_its_boundary(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    back = await reward_campaign(client, auth, name="月满500返30")
    steps = [{"period": "month", "min_paid": 50000, "campaign_id": back}]
    # 23:30 on the last day of a month, local time (Asia/Shanghai).
    now = datetime.now(zone())
    first_of_next = (now.replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    clock.advance((first_of_next - now).total_seconds() - 30 * 60)
    async with programme(db, rewards_programme(spend_steps=steps)):
        member = await silver_member(client, auth)
        await order(client, auth, member, [line(300)])  # last month: 300
        clock.advance(60 * 60)  # 00:30 of the 1st
        await order(client, auth, member, [line(300)])  # this month: 300
        assert await rewards_of(client, auth, member) == []
        await order(client, auth, member, [line(250)])  # this month: 550, the step is reached
        await order(client, auth, member, [line(250)])  # 800: the same step, once a month
        [reward] = await rewards_of(client, auth, member)
        assert reward["occasion"] == f"spend_step:month:{first_of_next:%Y-%m}:50000"


async def test_a_coupon_that_cannot_be_granted_is_recorded_with_its_reason(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth, stock=1)
    async with programme(db, rewards_programme(welcome={"campaign_id": campaign, "points": 5})):
        first = await silver_member(client, auth)
        second = await silver_member(client, auth)
        # Given in one batch, the two grants race for the one coupon: one wins.
        [one] = await rewards_of(client, auth, first)
        [other] = await rewards_of(client, auth, second)
        given, refused = sorted([one, other], key=lambda r: r["coupon_code"] is None)
        assert given["coupon_code"] and given["refused"] is None, (given, refused)
        assert (refused["coupon_code"], refused["refused"], refused["points"]) == (
            None, "sold_out", 5,
        )  # fmt: skip
        await assert_ledger(db, [first, second])


@pytest.mark.parametrize("cause", ["not_live", "limit_reached", "ended"])
async def test_a_refused_reward_coupon_is_recorded_with_its_reason_and_its_points_given(
    client: Client, auth: Auth, db: asyncpg.Pool, cause: str
) -> None:
    """The campaign paused, the member already at its limit, the campaign's claims over: the
    order commits all the same, the reward names the grant's refusal, its points are given."""
    ends = datetime.now(UTC) + timedelta(days=1)
    campaign = await reward_campaign(
        client, auth, per_member_limit=1, claim_ends_at=ends.isoformat()
    )
    member = await silver_member(client, auth)
    if cause == "not_live":
        paused = await client.post(f"/v1/campaigns/{campaign}/pause", headers=auth["admin"])
        assert paused.status_code == 200, paused.text
    elif cause == "limit_reached":
        claimed = await client.post(
            f"/v1/campaigns/{campaign}/claims",
            json={"member_id": member, "channel": "online"},
            headers=auth["front"],
        )
        assert claimed.status_code == 201, claimed.text
    else:
        clock.advance(2 * 86400)  # the campaign's claims ended a day after it was made
    rules = rewards_programme(first_order={"campaign_id": campaign, "points": 9})
    async with programme(db, rules):
        await order(client, auth, member, [line(10)])
        [reward] = await rewards_of(client, auth, member)
        assert (reward["refused"], reward["coupon_code"], reward["points"]) == (cause, None, 9)
        assert await coupons_of(db, campaign, member) == (cause == "limit_reached")
        await assert_ledger(db, [member])


async def test_a_crash_between_the_grant_and_its_record_gives_the_same_coupon_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """The reward became due with its trigger; a worker granted its coupon and died before its
    commit (the row is still due): the next pass records that coupon, and grants none more."""
    campaign = await reward_campaign(client, auth)
    member = await silver_member(client, auth)
    due_id = await db.fetchval(
        "INSERT INTO reward_due (member_id, occasion, kind, campaign_id, points, due_at) "
        "VALUES ($1, 'welcome', 'welcome', $2, 7, now()) RETURNING id",
        member,
        campaign,
    )
    state: Any = client.app.state
    first = await on_app(
        client, state.claims.grant_keyed, campaign, member, "online", f"reward:{due_id}"
    )
    await asyncio.gather(give(client), give(client), give(client))
    [reward] = await rewards_of(client, auth, member)
    assert reward["coupon_code"] == first.code and reward["points"] == 7
    assert await coupons_of(db, campaign, member) == 1
    await assert_ledger(db, [member])


async def test_birthday_rewards_come_days_before_once_a_year_and_02_29_in_common_years(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    rules = rewards_programme(birthday={"campaign_id": campaign, "days_before": 3})
    # 2027 is a common year: a 02-29 birthday is celebrated on 02-28, so due from 02-25.
    target = datetime(2027, 2, 25, 9, 0, tzinfo=zone())
    clock.advance((target - datetime.now(zone())).total_seconds())
    leapling = await silver_member(client, auth, birthday="02-29")
    not_yet = await silver_member(client, auth, birthday="03-01")
    async with programme(db, rules):
        await scan(client)
        await scan(client)
        [reward] = await rewards_of(client, auth, leapling)
        assert reward["occasion"] == "birthday:2027"
        assert reward["coupon_code"] and reward["refused"] is None, reward
        assert await rewards_of(client, auth, not_yet) == []
        clock.advance(2 * 86400)  # 02-27: 03-01 is three days away
        await scan(client)
        assert [r["occasion"] for r in await rewards_of(client, auth, not_yet)] == ["birthday:2027"]
        assert len(await rewards_of(client, auth, leapling)) == 1


async def test_win_back_after_the_quiet_days_once_per_lapse(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    member = await silver_member(client, auth)
    rules = rewards_programme(win_back={"campaign_id": campaign, "after_days": 60})
    async with programme(db, rules):
        await order(client, auth, member, [line(50)])
        clock.advance(59 * 86400)
        await scan(client)
        assert await rewards_of(client, auth, member) == []
        clock.advance(2 * 86400)
        await scan(client)
        await scan(client)
        [reward] = await rewards_of(client, auth, member)
        assert reward["coupon_code"] and reward["refused"] is None, reward
        await order(client, auth, member, [line(50)])  # back; then quiet again
        clock.advance(61 * 86400)
        await scan(client)
        assert len(await rewards_of(client, auth, member)) == 2


async def test_rewards_route_roles_paging_and_unknown_members(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    member = await silver_member(client, auth)
    await db.execute(  # one statement: the worker takes them in one batch, in order
        "INSERT INTO reward_due (member_id, occasion, kind, points, due_at) "
        "SELECT $1, 'welcome:' || i, 'welcome', 1, now() FROM generate_series(0, 4) i",
        member,
    )
    await give(client)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["before"] = cursor
        page = (
            await client.get(f"/v1/members/{member}/rewards", params=params, headers=auth["admin"])
        ).json()
        seen += [r["occasion"] for r in page["rewards"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [f"welcome:{i}" for i in reversed(range(5))]
    missing = await client.get(f"/v1/members/{unique()}/rewards", headers=auth["admin"])
    assert missing.json()["code"] == "member_not_found"
    bad = await client.get(
        f"/v1/members/{member}/rewards", params={"before": "$$"}, headers=auth["admin"]
    )
    assert bad.status_code == 400
