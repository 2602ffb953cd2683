"""Promises survive crashes: kill -9 of the gateway, Postgres going away, services restarts."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import campaign_body
from tests.stack import Stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack("durability")
    s.services("start")
    s.cli("migrate")
    yield s
    s.destroy()


def admin_headers(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'admin')}"}


async def new_campaign(http: httpx.AsyncClient, admin: dict[str, str], stock: int) -> str:
    created = await http.post("/v1/campaigns", json=campaign_body(stock=stock), headers=admin)
    campaign_id = str(created.json()["id"])
    assert (
        await http.post(f"/v1/campaigns/{campaign_id}/publish", headers=admin)
    ).status_code == 200
    return campaign_id


async def storm(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    campaign_id: str,
    seconds: float,
    results: list[tuple[str, str, int, dict[str, Any]]],
    workers: int = 32,
) -> None:
    """Claims with unique members and Idempotency-Keys until `seconds` pass or the server dies."""
    counter = itertools.count()
    deadline = asyncio.get_running_loop().time() + seconds

    async def one() -> None:
        while asyncio.get_running_loop().time() < deadline:
            n = next(counter)
            member, key = f"m-{n}", f"k-{n}-{uuid.uuid4().hex[:6]}"
            try:
                r = await http.post(
                    f"/v1/campaigns/{campaign_id}/claims",
                    json={"member_id": member, "channel": "online"},
                    headers={**admin, "Idempotency-Key": key},
                )
            except httpx.HTTPError:
                return  # the server is gone
            results.append((member, key, r.status_code, r.json()))

    await asyncio.gather(*(one() for _ in range(workers)))


async def ledger_and_counters(
    stack: Stack, campaign_id: str
) -> tuple[set[str], int, dict[str, int], dict[str, int]]:
    pool = await asyncpg.connect(stack.database_url)
    client = stack.redis_client()
    try:
        rows = await pool.fetch(
            "SELECT code, member_id FROM coupons WHERE campaign_id = $1", campaign_id
        )
        meta = await client.hmget(f"{{c:{campaign_id}}}:meta", "stock_total", "remaining")
        held = {
            k.decode(): int(v)
            for k, v in (await client.hgetall(f"{{c:{campaign_id}}}:members")).items()
        }
    finally:
        await pool.close()
        await client.aclose()
    per_member: dict[str, int] = {}
    for row in rows:
        per_member[row["member_id"]] = per_member.get(row["member_id"], 0) + 1
    claimed_in_redis = int(meta[0]) - int(meta[1])
    return {r["code"] for r in rows}, claimed_in_redis, held, per_member


async def test_kill_9_during_a_storm_loses_no_promised_coupon(stack: Stack) -> None:
    stack.start_gateway(claim_durability="ledger")
    admin = admin_headers(stack)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
        campaign_id = await new_campaign(http, admin, stock=100_000)
        results: list[tuple[str, str, int, dict[str, Any]]] = []
        task = asyncio.create_task(storm(http, admin, campaign_id, 20, results))
        while len(results) < 300:  # noqa: ASYNC110 - polls a list the storm fills
            await asyncio.sleep(0.05)
        stack.kill_gateway()
        await task
    promised = {body["code"] for _, _, status, body in results if status == 201}
    assert len(promised) >= 300
    assert all(status in (201,) for _, _, status, _ in results)
    stack.start_gateway()
    # The dead workers' streams are drained in the background from the first tick (serve no
    # longer reconciles before it listens): wait for the ledger to hold what Redis counted.
    for _ in range(200):  # entries count as a dead worker's after 5 s (ledger_recovery_age_ms)
        codes, claimed_in_redis, held, per_member = await ledger_and_counters(stack, campaign_id)
        if claimed_in_redis == len(codes) and held == per_member:
            break
        await asyncio.sleep(0.1)
    assert promised <= codes, f"{len(promised - codes)} promised coupons lost"
    assert claimed_in_redis == len(codes)
    assert held == per_member
    stack.stop_gateway()


async def test_postgres_going_away_during_a_storm(stack: Stack) -> None:
    stack.start_gateway(ledger_timeout_ms="500", ledger_recovery_age_ms="1000")
    admin = admin_headers(stack)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
        campaign_id = await new_campaign(http, admin, stock=100_000)
        results: list[tuple[str, str, int, dict[str, Any]]] = []
        task = asyncio.create_task(storm(http, admin, campaign_id, 6, results, workers=16))
        await asyncio.sleep(1.0)
        stack.pg_ctl("stop")
        await asyncio.sleep(3.0)
        stack.services("start")
        await task
        statuses = {status for _, _, status, _ in results}
        assert 500 not in statuses
        assert statuses <= {201, 503}, statuses
        unavailable = [(m, k) for m, k, status, _ in results if status == 503]
        assert unavailable, "Postgres was down for 3 s, some claims must have waited in vain"
        assert all(b["code"] == "ledger_unavailable" for _, _, s, b in results if s == 503)
        # Retried with the same key, every one of them gets its coupon.
        retried: dict[str, str] = {}
        deadline = asyncio.get_running_loop().time() + 60
        for member, key in unavailable:
            while asyncio.get_running_loop().time() < deadline:
                r = await http.post(
                    f"/v1/campaigns/{campaign_id}/claims",
                    json={"member_id": member, "channel": "online"},
                    headers={**admin, "Idempotency-Key": key},
                )
                if r.status_code == 201:
                    retried[member] = r.json()["code"]
                    break
                await asyncio.sleep(0.25)
        assert len(retried) == len(unavailable)
    promised = {b["code"] for _, _, s, b in results if s == 201} | set(retried.values())
    for _ in range(40):  # the recovery loop drains whatever no request waited for
        codes, claimed_in_redis, held, per_member = await ledger_and_counters(stack, campaign_id)
        if claimed_in_redis == len(codes):
            break
        await asyncio.sleep(0.25)
    assert promised <= codes
    assert claimed_in_redis == len(codes)
    assert all(n == 1 for n in per_member.values()), "a member got two coupons"
    assert held == per_member
    stack.stop_gateway()


async def test_redis_going_away_during_a_storm(stack: Stack) -> None:
    stack.start_gateway(ledger_timeout_ms="500")
    admin = admin_headers(stack)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
        campaign_id = await new_campaign(http, admin, stock=100_000)
        results: list[tuple[str, str, int, dict[str, Any]]] = []
        task = asyncio.create_task(storm(http, admin, campaign_id, 5, results, workers=16))
        await asyncio.sleep(1.0)
        stack.stop_redis()
        await asyncio.sleep(0.5)
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["redis"] != "ok"
        await asyncio.sleep(1.0)
        stack.services("start")
        await task
        statuses = {status for _, _, status, _ in results}
        assert 500 not in statuses
        assert statuses <= {201, 503}, statuses
        assert any(status == 503 for _, _, status, _ in results), "Redis was away for 1.5 s"
        assert all(
            b["code"] in ("unavailable", "ledger_unavailable") for _, _, s, b in results if s == 503
        )
        # Back: the same keys either return their coupon or claim one now; never two. The
        # storm may have ended before Redis was back (a cluster takes seconds to start, and
        # services() blocks the loop meanwhile): then the first retry finds the counters from
        # another Redis run and starts their rebuild, answering 503 until it is done.
        for member, key, status, _ in results:
            if status != 503:
                continue
            for _ in range(100):
                again = await http.post(
                    f"/v1/campaigns/{campaign_id}/claims",
                    json={"member_id": member, "channel": "online"},
                    headers={**admin, "Idempotency-Key": key},
                )
                if not (again.status_code == 503 and "rebuilt" in again.json()["detail"]):
                    break
                await asyncio.sleep(0.1)
            assert again.status_code == 201, again.text
        assert (await http.get("/readyz")).status_code == 200
    for _ in range(40):
        codes, claimed_in_redis, _, per_member = await ledger_and_counters(stack, campaign_id)
        if claimed_in_redis == len(codes):
            break
        await asyncio.sleep(0.25)
    promised = {b["code"] for _, _, s, b in results if s == 201}
    assert promised <= codes
    assert claimed_in_redis == len(codes)
    assert all(n == 1 for n in per_member.values()), "a member got two coupons"
    stack.stop_gateway()


async def test_redis_data_and_migrations_survive_stop_and_start(stack: Stack) -> None:
    client = stack.redis_client()
    await client.set("survives", "yes")
    await client.aclose()
    stack.services("start")
    stack.services("stop")
    stack.services("start")
    stack.cli("migrate")
    stack.cli("migrate")
    client = stack.redis_client()
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await client.get("survives") == b"yes"
        versions = await conn.fetch("SELECT version FROM schema_migrations")
        assert len(versions) == len({v["version"] for v in versions}) >= 1
        assert await conn.fetchval("SELECT count(*) FROM api_keys") >= 1
    finally:
        await client.aclose()
        await conn.close()


async def test_redis_durability_answers_after_the_script_and_the_ledger_catches_up(
    stack: Stack,
) -> None:
    # GATEWAY_CLAIM_DURABILITY=redis: the 201 follows the script, the coupon reaches Postgres
    # moments later; replays of an Idempotency-Key answer the first coupon at once.
    stack.start_gateway(claim_durability="redis")
    admin = admin_headers(stack)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
        campaign_id = await new_campaign(http, admin, stock=100_000)
        results: list[tuple[str, str, int, dict[str, Any]]] = []
        await storm(http, admin, campaign_id, 2, results, workers=16)
        assert results and {status for _, _, status, _ in results} == {201}
        for member, key, _, first in results[:20]:
            again = await http.post(
                f"/v1/campaigns/{campaign_id}/claims",
                json={"member_id": member, "channel": "online"},
                headers={**admin, "Idempotency-Key": key},
            )
            assert again.status_code == 201 and again.json() == first
    promised = {body["code"] for _, _, _, body in results}
    codes: set[str] = set()
    for _ in range(100):  # the ledger writers catch up within moments
        codes, claimed_in_redis, held, per_member = await ledger_and_counters(stack, campaign_id)
        if promised <= codes:
            break
        await asyncio.sleep(0.1)
    assert codes == promised
    assert claimed_in_redis == len(codes) and held == per_member
    stack.stop_gateway()
