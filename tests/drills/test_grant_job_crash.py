"""Drill: a grant job to 5,000 members, the gateway killed with SIGKILL mid-way and restarted.

An isolated stack (tests/stack.py) with a gateway of two workers; a campaign with less stock
than the segment has members and a limit of two per member (so that a member granted twice
would show: the limit would not hide it). The ledger is slowed a little (every batch of the
claim pipeline's ledger writers takes 50 ms more), and the gateway is killed once a fifth of the
job is done while a batch is on its way (its stock taken by the claim script, its outcomes not
recorded: coupons in the stream or the ledger that the job knows nothing of). After the restart
the job is resumed by a worker once the dead one's lease has run out, and finishes.
Then: every member holds exactly the coupon the job recorded for it, or none and a recorded
refusal; coupons == granted; the stock counters equal the ledger. (`make drills`.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from tests.conftest import campaign_body
from tests.stack import Stack

MEMBERS = 5_000
STOCK = 4_800  # the last 200 members are refused sold_out
LIMIT = 2

SLOW_LEDGER = """
CREATE OR REPLACE FUNCTION drill_slow_ledger() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN
  IF current_setting('application_name') = 'gateway-ledger' THEN PERFORM pg_sleep(0.05); END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER drill_slow_ledger AFTER INSERT ON coupons
FOR EACH STATEMENT EXECUTE FUNCTION drill_slow_ledger();
"""
MEMBERS_SQL = """
INSERT INTO members (member_id, tier)
SELECT 'gj-' || lpad(i::text, 5, '0'), 'standard' FROM generate_series(1, $1) AS i
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack("grantjob")
    s.services("start")
    s.cli("migrate")
    yield s
    s.destroy()


async def segment_of_everyone(stack: Stack, http: httpx.AsyncClient, admin: dict[str, str]) -> str:
    """A saved segment of every registered member (the drill's database has only its own)."""
    created = await http.post(
        "/v1/segments", json={"name": "everyone", "filter": {}}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert created.json()["size"] == MEMBERS, created.text
    return str(created.json()["id"])


async def job_of(http: httpx.AsyncClient, admin: dict[str, str], job_id: str) -> dict[str, Any]:
    response = await http.get(f"/v1/jobs/{job_id}", headers=admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_grant_job_survives_kill_9_and_grants_nobody_twice(stack: Stack) -> None:
    started = time.monotonic()
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(MEMBERS_SQL, MEMBERS)
        await conn.execute(SLOW_LEDGER)
    finally:
        await conn.close()
    stack.start_gateway(workers="2", ledger_recovery_age_ms="1000")
    admin = {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'admin')}"}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
        created = await http.post(
            "/v1/campaigns",
            json=campaign_body(stock=STOCK, per_member_limit=LIMIT),
            headers=admin,
        )
        campaign_id = created.json()["id"]
        assert (await http.post(f"/v1/campaigns/{campaign_id}/publish", headers=admin)).is_success
        segment_id = await segment_of_everyone(stack, http, admin)
        made = await http.post(
            f"/v1/campaigns/{campaign_id}/grants",
            json={"segment_id": segment_id, "channel": "store"},
            headers=admin,
        )
        assert made.status_code == 202, made.text
        job_id = made.json()["job_id"]
        # Killed once a fifth is done, while a batch is on its way: its coupons taken from the
        # stock by the script, their outcomes not yet recorded.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = await job_of(http, admin, job_id)
            if job["done"] >= MEMBERS // 5 and await taken(stack, campaign_id) > job["granted"]:
                break
            await asyncio.sleep(0.005)
        await asyncio.to_thread(stack.kill_gateway)
    in_flight = await taken(stack, campaign_id) - await recorded(stack, job_id)
    assert job["done"] < MEMBERS and in_flight > 0, f"not killed mid-way: {job}"
    killed_at = job["done"]

    stack.start_gateway(workers="2", ledger_recovery_age_ms="1000")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
        deadline = time.monotonic() + 40
        job = await job_of(http, admin, job_id)
        while job["state"] == "running" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            job = await job_of(http, admin, job_id)
    assert job["state"] == "done", f"the job did not finish after the restart: {job}"
    assert job["total"] == job["done"] == MEMBERS
    assert job["granted"] == STOCK and job["rejected"] == {"sold_out": MEMBERS - STOCK}, job
    await verdict(stack, campaign_id, job_id, job)
    stack.stop_gateway()
    elapsed = time.monotonic() - started
    print(
        f"grant job drill: killed at {killed_at}/{MEMBERS} done, {in_flight} grants in flight "
        f"(stock taken, outcome not recorded), {elapsed:.0f} s in all"
    )
    assert elapsed < 60, f"the drill took {elapsed:.0f} s (killed at {killed_at} done)"


async def taken(stack: Stack, campaign_id: str) -> int:
    """Coupons the claim script has given (stock taken in Redis)."""
    client = redis.Redis.from_url(stack.redis_url)
    try:
        meta = await client.hmget(f"{{c:{campaign_id}}}:meta", "stock_total", "remaining")
    finally:
        await client.aclose()
    return int(meta[0]) - int(meta[1])


async def recorded(stack: Stack, job_id: str) -> int:
    """The job's members whose grant is recorded."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM job_members WHERE job_id = $1 AND state = 'granted'", job_id
        )
    finally:
        await conn.close()
    return count


async def verdict(stack: Stack, campaign_id: str, job_id: str, job: dict[str, Any]) -> None:
    conn = await asyncpg.connect(stack.database_url)
    client = redis.Redis.from_url(stack.redis_url)
    try:
        for _ in range(100):  # recovery drains what the killed workers left in the stream
            if not await client.xlen(f"{{c:{campaign_id}}}:ledger"):
                break
            await asyncio.sleep(0.1)
        assert not await client.xlen(f"{{c:{campaign_id}}}:ledger"), "the stream was not drained"
        rows = await conn.fetch("SELECT * FROM job_members WHERE job_id = $1", job_id)
        coupons = await conn.fetch(
            "SELECT code, member_id FROM coupons WHERE campaign_id = $1", campaign_id
        )
        keyed = await conn.fetchval(
            "SELECT count(DISTINCT coupon_code) FROM events WHERE kind = 'grant' "
            "AND campaign_id = $1 AND idempotency_key LIKE $2",
            campaign_id,
            f"job:{job_id}:%",
        )
        meta = await client.hmget(f"{{c:{campaign_id}}}:meta", "stock_total", "remaining")
        held_counts = {
            k.decode(): int(v)
            for k, v in (await client.hgetall(f"{{c:{campaign_id}}}:members")).items()
        }
    finally:
        await conn.close()
        await client.aclose()
    held: dict[str, list[str]] = {}
    for coupon in coupons:
        held.setdefault(coupon["member_id"], []).append(coupon["code"])
    assert len(rows) == MEMBERS
    twice = [m for m, codes in held.items() if len(codes) > 1]
    assert not twice, f"{len(twice)} members granted twice, e.g. {twice[:3]}"
    for row in rows:
        if row["state"] == "granted":
            assert held.get(row["member_id"]) == [row["coupon_code"]], dict(row)
        else:
            assert row["state"] == "rejected" and row["reason"] == "sold_out", dict(row)
            assert row["member_id"] not in held, f"refused yet holds a coupon: {dict(row)}"
    assert len(coupons) == job["granted"] == STOCK, "coupons differ from the job's granted"
    assert keyed <= len(coupons)
    assert int(meta[0]) - int(meta[1]) == len(coupons), "Redis stock differs from the ledger"
    assert held_counts == {m: len(codes) for m, codes in held.items()}, "members' counts differ"
