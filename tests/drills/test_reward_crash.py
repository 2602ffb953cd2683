"""Drill: the gateway killed with SIGKILL while its rewards worker gives welcome rewards.

An isolated stack (tests/stack.py) and a gateway of two workers, with a programme whose welcome
reward is a coupon and points. Two thousand members registered as fast as the gateway takes
them make two thousand rewards due (meanwhile the worker's first batches are granted but held
before their record, so that the giving runs at full speed afterwards); when about a third are
done, the whole gateway (server and workers) is killed with SIGKILL: batches die mid-grant, with
coupons granted in Redis and the ledger whose rewards were never recorded. The gateway is
started again (and a hundred members registered again), and once no due row is left: exactly
one welcome reward per member, exactly one welcome coupon each (the one its grant key
`reward:<due id>` names in the ledger), the campaign's counters equal to its coupons, and the
points given once. (`make drills`; part of `make test`.)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import campaign_body
from tests.stack import Stack

MEMBERS = 2000
POINTS = 7
CLIENTS = 48

PROGRESS = "SELECT count(*) FILTER (WHERE state = 'done') AS done, count(*) AS made FROM reward_due"
# Coupons the ledger already holds for rewards that were not recorded: the crash's window.
GRANTED_NOT_RECORDED = """
SELECT count(*) FROM reward_due d
JOIN events e ON e.kind = 'grant' AND e.idempotency_key = 'reward:' || d.id
WHERE d.state = 'due'
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack("reward-crash")
    s.services("start")
    s.cli("migrate")
    yield s
    s.destroy()


async def register_all(http: httpx.AsyncClient, front: dict[str, str], members: list[str]) -> None:
    """Registers every member from CLIENTS clients, each asked again while it is not answered
    200 (a dropped connection, a 503)."""
    queue = list(reversed(members))

    async def one() -> None:
        while queue:
            member = queue.pop()
            while True:
                try:
                    r = await http.put(f"/v1/members/{member}", json={}, headers=front)
                    if r.status_code == 200:
                        break
                    assert r.status_code == 503, r.text
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)

    await asyncio.gather(*(one() for _ in range(CLIENTS)))


async def test_a_gateway_killed_while_giving_welcome_rewards_gives_each_once(
    stack: Stack,
) -> None:
    started = time.monotonic()
    stack.start_gateway(workers="2")
    admin = {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'admin')}"}
    front = {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'front')}"}
    db = await asyncpg.connect(stack.database_url)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
            body = campaign_body(
                name="开卡礼 5 off",
                kind="amount",
                amount_off=500,
                min_spend=None,
                stock=2 * MEMBERS,
                # Above one, so that a second grant to a member would show as a second coupon.
                per_member_limit=5,
            )
            campaign_id = (await http.post("/v1/campaigns", json=body, headers=admin)).json()["id"]
            assert (
                await http.post(f"/v1/campaigns/{campaign_id}/publish", headers=admin)
            ).is_success
            welcome = {"campaign_id": campaign_id, "points": POINTS}
            put = await http.put(
                "/v1/programme", json={"rewards": {"welcome": welcome}}, headers=admin
            )
            assert put.status_code == 200, put.text

            members = [f"w-{i:05d}" for i in range(MEMBERS)]
            # While every member registers, the rewards worker may take and grant a batch but
            # not record it (a lock on `rewards`): then all of it runs at once, at full speed,
            # however slow the machine, and the kill falls in the middle of it.
            blocker = await asyncpg.connect(stack.database_url)
            hold = blocker.transaction()
            await hold.start()
            await blocker.execute("LOCK TABLE rewards IN EXCLUSIVE MODE")
            try:
                await register_all(http, front, members)
            finally:
                await hold.rollback()
                await blocker.close()
            while True:  # until about a third of the rewards are given
                progress = await db.fetchrow(PROGRESS)
                if progress["done"] >= MEMBERS // 3:
                    break
                assert time.monotonic() - started < 45, f"the worker is too slow: {progress}"
                await asyncio.sleep(0.005)
            await asyncio.to_thread(stack.kill_gateway)
            at_kill = await db.fetchrow(PROGRESS)
            in_flight = await db.fetchval(GRANTED_NOT_RECORDED)
            assert at_kill["made"] == MEMBERS and at_kill["done"] < MEMBERS, dict(at_kill)
            await asyncio.to_thread(stack.start_gateway, workers="2")
            # Registered again (a retry of the mall's server): no second welcome.
            await register_all(http, front, members[:100])

            deadline = time.monotonic() + 30
            while (await db.fetchrow(PROGRESS))["done"] < MEMBERS:
                assert time.monotonic() < deadline, await db.fetchrow(PROGRESS)
                await asyncio.sleep(0.1)
            stats = (await http.get(f"/v1/campaigns/{campaign_id}", headers=admin)).json()["stats"]
            while (
                await db.fetchval(  # the ledger writers may still be draining
                    "SELECT count(*) FROM coupons WHERE campaign_id = $1", campaign_id
                )
                < stats["claimed"]
            ):
                assert time.monotonic() < deadline, "the ledger did not catch up"
                await asyncio.sleep(0.1)
        await verdict(db, campaign_id, members, stats)
    finally:
        await db.close()
        stack.stop_gateway()
    print(
        f"\nreward crash drill: killed at {at_kill['done']} of {at_kill['made']} due rows done, "
        f"{in_flight} coupons granted whose reward was not recorded; "
        f"{time.monotonic() - started:.1f} s"
    )


async def verdict(
    db: asyncpg.Connection, campaign_id: str, members: list[str], stats: dict[str, Any]
) -> None:
    dues = await db.fetch("SELECT id, member_id, occasion, state FROM reward_due")
    assert len(dues) == MEMBERS
    assert Counter(d["member_id"] for d in dues) == Counter(members), "a member's row is missing"
    assert {d["occasion"] for d in dues} == {"welcome"} and {d["state"] for d in dues} == {"done"}
    rewards = await db.fetch(
        "SELECT due_id, member_id, occasion, points, coupon_code, refused, point_entry_id "
        "FROM rewards"
    )
    per_member = Counter(r["member_id"] for r in rewards)
    assert per_member == Counter(members), [m for m, n in per_member.items() if n != 1][:5]
    assert {r["due_id"] for r in rewards} == {d["id"] for d in dues}
    refused = [r for r in rewards if r["refused"] or not r["coupon_code"]]
    assert not refused, refused[:3]
    # Exactly one welcome coupon each: the one the reward recorded, granted under its key.
    coupons = await db.fetch(
        "SELECT code, member_id FROM coupons WHERE campaign_id = $1", campaign_id
    )
    held = Counter(c["member_id"] for c in coupons)
    assert held == Counter(members), [(m, n) for m, n in held.items() if n != 1][:5]
    assert {c["code"] for c in coupons} == {r["coupon_code"] for r in rewards}
    grants = await db.fetch(
        "SELECT idempotency_key, coupon_code FROM events WHERE kind = 'grant' AND campaign_id = $1",
        campaign_id,
    )
    keyed = {(g["idempotency_key"], g["coupon_code"]) for g in grants}
    assert len(grants) == len(keyed) == MEMBERS, f"{len(grants)} grant events for {MEMBERS}"
    assert keyed == {(f"reward:{r['due_id']}", r["coupon_code"]) for r in rewards}
    assert stats["claimed"] == stats["stock_total"] - stats["remaining"] == MEMBERS
    # The points once: one reward entry each, and every balance what its entries sum to.
    points = await db.fetch(
        "SELECT m.member_id, m.points_balance, count(e.id) FILTER (WHERE e.kind = 'reward') AS n, "
        "coalesce(sum(e.points), 0) AS total FROM members m "
        "LEFT JOIN point_entries e ON e.member_id = m.member_id GROUP BY m.member_id"
    )
    wrong = [
        dict(p) for p in points if (p["points_balance"], p["n"], p["total"]) != (POINTS, 1, POINTS)
    ]
    assert len(points) == MEMBERS and not wrong, wrong[:5]
    linked = await db.fetchval(
        "SELECT count(*) FROM rewards r JOIN point_entries e ON e.id = r.point_entry_id "
        "WHERE e.kind = 'reward' AND e.member_id = r.member_id AND e.points = r.points"
    )
    assert linked == MEMBERS
