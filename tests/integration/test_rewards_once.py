"""Exactly once, for every reward (issue 14, "Correctness, proven").

Each test fires one reward's trigger concurrently: the same registration twice at once; two
first orders of one member committed at once, each commit sent twice at once (a retry); two
orders that reach a month's step together; two scans at once. The rows it makes due are then
leased by a worker that dies: the coupons of half of them were granted before it died (a kill
-9 between the grant and its record), the others not (a kill -9 between the trigger's commit
and the grant). While its lease lasts nobody gives them; once it has run out, two workers at
once give what is due. Then, for the test's members: one reward per member and occasion, each
made due once; the coupon granted before the crash is the one recorded; one coupon of the
reward's campaign per coupon reward, each granted once under its key `reward:<due id>`; each
reward's points given once, and every ledger sums.

The app's own rewards worker (a pass every 2 s) is held off while the triggers run and the
dying worker leases (`held_off`), so that the test decides which worker takes the rows.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from gateway.clock import clock
from gateway.rewards import services as reward_services
from gateway.rewards.services import reward_key
from gateway.wire import zone
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
from tests.integration.test_rewards import give, scan

pytestmark = pytest.mark.asyncio

# What the held-off worker leases: nothing (the statement takes LEASE's three parameters).
LEASE_NOTHING = """
SELECT * FROM reward_due
WHERE $1::timestamptz IS NULL AND $2::integer IS NULL AND $3::float8 IS NULL
"""
DEAD_LEASE = """
UPDATE reward_due SET lease_until = now() + interval '1 hour'
WHERE member_id = ANY($1::text[]) AND state = 'due'
RETURNING *
"""
LEASE_RUNS_OUT = """
UPDATE reward_due SET lease_until = now() - interval '1 second' WHERE id = ANY($1::bigint[])
"""
DUES = "SELECT * FROM reward_due WHERE member_id = ANY($1::text[])"
REWARDS = "SELECT * FROM rewards WHERE member_id = ANY($1::text[])"
COUPONS = "SELECT code, member_id FROM coupons WHERE campaign_id = $1 AND member_id = ANY($2)"
GRANTS = """
SELECT idempotency_key, coupon_code FROM events
WHERE kind = 'grant' AND campaign_id = $1 AND member_id = ANY($2::text[])
"""
REWARD_ENTRIES = """
SELECT member_id, count(*) AS n, sum(points) AS points FROM point_entries
WHERE kind = 'reward' AND member_id = ANY($1::text[]) GROUP BY member_id
"""

#: Far beyond any clock a test moves to: the reward campaigns' claims never end.
NEVER = "2999-01-01T00:00:00+08:00"


@asynccontextmanager
async def held_off() -> AsyncIterator[None]:
    """The app's own rewards worker leases nothing for the block (a pass already under way
    finishes the rows it holds, none of this test's: they are made due inside the block)."""
    saved = reward_services.LEASE
    reward_services.LEASE = LEASE_NOTHING
    try:
        yield
    finally:
        reward_services.LEASE = saved


async def reward_campaign(client: Client, auth: Auth, **fields: Any) -> str:
    body = {"stock": 100_000, "per_member_limit": 100, "claim_ends_at": NEVER, **fields}
    return str((await live_campaign(client, auth["admin"], **body))["id"])


async def commit_twice_at_once(client: Client, auth: Auth, order_ids: list[str]) -> None:
    """Every order's commit sent twice, all at once: each is answered 200."""
    commits = await asyncio.gather(
        *[
            client.post(f"/v1/checkout/redemptions/{order_id}/commit", headers=auth["checkout"])
            for order_id in order_ids
            for _ in range(2)
        ]
    )
    assert [c.status_code for c in commits] == [200] * len(commits), [c.text for c in commits]


async def reserved(client: Client, auth: Auth, member: str, *lines: Any, codes: Any = ()) -> str:
    held = await order(client, auth, member, list(lines), codes, commit=False)
    return str(held["order_id"])


async def died(client: Client, db: asyncpg.Pool, members: list[str]) -> dict[int, str]:
    """Inside `held_off`: a worker leases every row due for `members`, grants the coupons of
    every other one, and dies. The coupons it granted, by due id."""
    state: Any = client.app.state
    rows = sorted(await db.fetch(DEAD_LEASE, members), key=lambda row: row["id"])
    assert rows, "the trigger made nothing due"
    granted: dict[int, str] = {}
    for row in rows[::2]:
        if row["campaign_id"] is not None:
            coupon = await on_app(
                client,
                state.claims.grant_keyed,
                row["campaign_id"],
                row["member_id"],
                "online",
                reward_key(row["id"]),
            )
            granted[row["id"]] = coupon.code
    return granted


async def recover(client: Client, db: asyncpg.Pool, members: list[str]) -> None:
    """After the worker died: a pass gives none of its rows while its lease lasts; once the
    lease has run out, two workers at once give them."""
    state: Any = client.app.state
    await on_app(client, state.rewards.give_due, clock.now_ms())
    dues = await db.fetch(DUES, members)
    assert {d["state"] for d in dues} == {"due"}, "a row was given under a live lease"
    await db.execute(LEASE_RUNS_OUT, [d["id"] for d in dues])
    await asyncio.gather(give(client), give(client))


async def assert_once(
    db: asyncpg.Pool | asyncpg.Connection,
    members: list[str],
    expected: set[tuple[str, str]],
    granted: dict[int, str],
) -> list[asyncpg.Record]:
    """One reward per (member, occasion) of `expected` and nothing else for `members`; see the
    module's doc. The rewards."""
    dues = await db.fetch(DUES, members)
    assert Counter((d["member_id"], d["occasion"]) for d in dues) == Counter(expected)
    assert {d["state"] for d in dues} == {"done"}
    rewards: list[asyncpg.Record] = await db.fetch(REWARDS, members)
    assert Counter((r["member_id"], r["occasion"]) for r in rewards) == Counter(expected)
    assert {r["due_id"] for r in rewards} == {d["id"] for d in dues}
    for reward in rewards:
        if reward["campaign_id"] is not None:
            assert reward["coupon_code"] and reward["refused"] is None, dict(reward)
        if reward["due_id"] in granted:
            assert reward["coupon_code"] == granted[reward["due_id"]], "a second coupon"
    for campaign_id in {r["campaign_id"] for r in rewards} - {None}:
        given = [r for r in rewards if r["campaign_id"] == campaign_id]
        held = await db.fetch(COUPONS, campaign_id, members)
        assert sorted((c["member_id"], c["code"]) for c in held) == sorted(
            (r["member_id"], r["coupon_code"]) for r in given
        ), "a member holds a reward coupon twice, or one without its reward"
        grants = await db.fetch(GRANTS, campaign_id, members)
        assert sorted((g["idempotency_key"], g["coupon_code"]) for g in grants) == sorted(
            (reward_key(r["due_id"]), r["coupon_code"]) for r in given
        )
    entries = {e["member_id"]: e for e in await db.fetch(REWARD_ENTRIES, members)}
    for member in members:
        mine = [r for r in rewards if r["member_id"] == member and r["points"] > 0]
        entry = entries.get(member)
        assert (entry["n"] if entry else 0) == len(mine), member
        assert (entry["points"] if entry else 0) == sum(r["points"] for r in mine), member
    await assert_ledger(db, members)
    return rewards


def mid_month() -> None:
    """The clock at noon on the 15th of next month, local time: far from a month's turn."""
    now = datetime.now(zone())
    target = (now.replace(day=1) + timedelta(days=32)).replace(
        day=15, hour=12, minute=0, second=0, microsecond=0
    )
    clock.advance((target - now).total_seconds())


async def test_welcome_once_for_the_same_registration_twice_at_once_and_a_crash(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    members = [unique() for _ in range(4)]
    rules = {"rewards": {"welcome": {"campaign_id": campaign, "points": 20}}}
    async with programme(db, rules):
        async with held_off():
            answers = await asyncio.gather(
                *[
                    client.put(f"/v1/members/{m}", json={}, headers=auth["front"])
                    for m in members
                    for _ in range(2)
                ]
            )
            assert {a.status_code for a in answers} == {200}
            granted = await died(client, db, members)
        await recover(client, db, members)
        await assert_once(db, members, {(m, "welcome") for m in members}, granted)


async def test_first_order_once_for_two_first_orders_committed_at_once_and_a_crash(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    rules = {"rewards": {"first_order": {"campaign_id": campaign, "points": 10}}}
    async with programme(db, rules):
        members = [await silver_member(client, auth) for _ in range(2)]
        held = [await reserved(client, auth, m, line(100)) for m in members for _ in range(2)]
        async with held_off():
            await commit_twice_at_once(client, auth, held)
            granted = await died(client, db, members)
        await recover(client, db, members)
        for member in members:
            await order(client, auth, member, [line(100)])  # a third order: not a first
        await give(client)
        rewards = await assert_once(db, members, {(m, "first_order") for m in members}, granted)
        firsts = dict(
            await db.fetch(
                "SELECT member_id, first_order_id FROM members WHERE member_id = ANY($1)", members
            )
        )
        assert {r["member_id"]: r["order_id"] for r in rewards} == firsts


async def test_referral_once_per_side_for_the_invitees_first_orders_at_once_and_a_crash(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    side = {"campaign_id": campaign, "points": 50}
    rules = {"rewards": {"referral": {"inviter": side, "invitee": side}}}
    async with programme(db, rules):
        inviter = await silver_member(client, auth)
        invitees = [unique() for _ in range(2)]
        body = {"tier": "silver", "referred_by": inviter}
        registered = await asyncio.gather(
            *[
                client.put(f"/v1/members/{m}", json=body, headers=auth["admin"])
                for m in invitees
                for _ in range(2)
            ]
        )
        assert {r.status_code for r in registered} == {200}
        held = [await reserved(client, auth, m, line(100)) for m in invitees for _ in range(2)]
        everyone = [inviter, *invitees]
        async with held_off():
            await commit_twice_at_once(client, auth, held)
            granted = await died(client, db, everyone)
        await recover(client, db, everyone)
        expected = {(m, "referral:invitee") for m in invitees}
        expected |= {(inviter, f"referral:inviter:{m}") for m in invitees}
        await assert_once(db, everyone, expected, granted)


async def test_transfer_once_per_code_and_first_order_at_once_and_a_crash(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    gift = await live_campaign(
        client,
        auth["admin"],
        kind="amount",
        amount_off=500,
        min_spend=None,
        transferable=True,
        per_member_limit=2,
    )
    bonus = await reward_campaign(client, auth)
    rules = {"rewards": {"transfer": {"giver_points": 30, "first_order_campaign_id": bonus}}}
    async with programme(db, rules):
        giver = await silver_member(client, auth)
        friend = await silver_member(client, auth)
        claimed = [
            await client.post(
                f"/v1/campaigns/{gift['id']}/claims",
                json={"member_id": giver, "channel": "online"},
                headers=auth["front"],
            )
            for _ in range(2)
        ]
        given = await asyncio.gather(
            *[
                client.post(
                    f"/v1/coupons/{c.json()['code']}/transfer",
                    json={"from_member_id": giver, "to_member_id": friend},
                    headers=auth["front"],
                )
                for c in claimed
            ]
        )
        assert [g.status_code for g in given] == [201, 201], [g.text for g in given]
        codes = [g.json()["code"] for g in given]
        # Two orders of the friend, each with one of the coupons: one of them is its first.
        held = [await reserved(client, auth, friend, line(100), codes=[code]) for code in codes]
        async with held_off():
            await commit_twice_at_once(client, auth, held)
            granted = await died(client, db, [giver, friend])
        await recover(client, db, [giver, friend])
        first = await db.fetchval("SELECT first_order_id FROM members WHERE member_id = $1", friend)
        assert first in held
        expected = {(giver, f"transfer:giver:{code}") for code in codes}
        expected |= {(m, f"transfer:first_order:{first}") for m in (giver, friend)}
        rewards = await assert_once(db, [giver, friend], expected, granted)
        assert sum(r["points"] for r in rewards) == 2 * 30


async def test_order_steps_once_per_order_committed_twice_at_once_and_a_crash(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    small = await reward_campaign(client, auth, name="满288")
    big = await reward_campaign(client, auth, name="满888")
    steps = [
        {"period": "order", "min_paid": 28800, "campaign_id": small},
        {"period": "order", "min_paid": 88800, "campaign_id": big},
    ]
    async with programme(db, {"rewards": {"spend_steps": steps}}):
        member = await silver_member(client, auth)
        held = [await reserved(client, auth, member, line(yuan)) for yuan in (900, 300, 100)]
        async with held_off():
            await commit_twice_at_once(client, auth, held)
            granted = await died(client, db, [member])
        await recover(client, db, [member])
        rewards = await assert_once(
            db, [member], {(member, f"spend_step:order:{o}") for o in held[:2]}, granted
        )
        # Only the highest step each order reached; the 100 yuan order reached none.
        assert {r["order_id"]: r["campaign_id"] for r in rewards} == {
            held[0]: big,
            held[1]: small,
        }


async def test_a_month_step_once_for_orders_that_reach_it_together_and_a_crash(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    back = await reward_campaign(client, auth, name="月满500返30")
    steps = [{"period": "month", "min_paid": 50000, "campaign_id": back}]
    mid_month()
    async with programme(db, {"rewards": {"spend_steps": steps}}):
        members = [await silver_member(client, auth) for _ in range(2)]
        # 300 + 300: neither order alone reaches the step, the two together do.
        held = [await reserved(client, auth, m, line(300)) for m in members for _ in range(2)]
        async with held_off():
            await commit_twice_at_once(client, auth, held)
            granted = await died(client, db, members)
        await recover(client, db, members)
        month = f"{clock.now().astimezone(zone()):%Y-%m}"
        expected = {(m, f"spend_step:month:{month}:50000") for m in members}
        await assert_once(db, members, expected, granted)


async def test_birthday_once_for_two_scans_at_once_and_a_crash(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    rules = {"rewards": {"birthday": {"campaign_id": campaign, "days_before": 3}}}
    # 2027 is a common year: a 02-29 birthday is celebrated on 02-28, so due from 02-25.
    target = datetime(2027, 2, 25, 9, 0, tzinfo=zone())
    clock.advance((target - datetime.now(zone())).total_seconds())
    members = [
        await silver_member(client, auth, birthday=birthday)
        for birthday in ("02-29", "02-27", "02-25", "02-28")
    ]
    async with programme(db, rules):
        async with held_off():
            await asyncio.gather(scan(client), scan(client))
            granted = await died(client, db, members)
        await recover(client, db, members)
        await scan(client)
        await give(client)
        await assert_once(db, members, {(m, "birthday:2027") for m in members}, granted)


async def test_win_back_once_for_two_scans_at_once_and_a_crash(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await reward_campaign(client, auth)
    members = [await silver_member(client, auth) for _ in range(2)]
    rules = {"rewards": {"win_back": {"campaign_id": campaign, "after_days": 60}}}
    async with programme(db, rules):
        for member in members:
            await order(client, auth, member, [line(50)])
        last_day = clock.now().astimezone(zone()).date()
        clock.advance(60 * 86400 + 3600)
        async with held_off():
            await asyncio.gather(scan(client), scan(client))
            granted = await died(client, db, members)
        await recover(client, db, members)
        await scan(client)
        await give(client)
        await assert_once(db, members, {(m, f"win_back:{last_day}") for m in members}, granted)
