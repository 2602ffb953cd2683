"""Drills: a storm of claims on a small stock while a server is killed with SIGKILL.

Each drill runs an isolated stack (its own Redis with `appendfsync everysec`, Postgres, and a
gateway of two workers), claims with many members from many concurrent clients, each retrying
a 503 with its Idempotency-Key, kills one server mid-storm and brings it back. Afterwards:
no oversell, no member over its limit, every 201 in Postgres exactly once, the counters equal
to the ledger, no 500, and no 503 once everything is back and rebuilt.
(`make drills`; part of `make test`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from tests.conftest import campaign_body
from tests.stack import Stack

STOCK = 400
LIMIT = 2
MEMBERS = 300  # 600 coupons wanted, 400 to give: the storm sells out after the crash


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack("drills")
    s.services("start")
    s.cli("migrate")
    yield s
    s.destroy()


def kill_redis(stack: Stack, lose_tail: bool = False) -> None:
    """SIGKILL of Redis. A killed process loses nothing it wrote to its AOF; a host that dies
    loses what was not yet fsynced (up to a second under `appendfsync everysec`): `lose_tail`
    cuts the last 64 KiB of the AOF's newest part as that host would (Redis loads a truncated
    AOF up to its last whole command: `aof-load-truncated yes`, the default)."""
    pid = int((stack.data / "redis" / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.01)
    if lose_tail:
        incr = max(
            (stack.data / "redis" / "appendonlydir").glob("*.incr.aof"), key=os.path.getmtime
        )
        size = incr.stat().st_size
        os.truncate(incr, max(size - 64 * 1024, size // 2))


def kill_postgres(stack: Stack) -> None:
    """SIGKILL of the postmaster and every backend: what a crash of the host's Postgres is."""
    pid = int((stack.data / "pg" / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    for p in [pid, *map(int, children)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    for p in [pid, *map(int, children)]:
        while Path(f"/proc/{p}").exists():
            time.sleep(0.01)


def kill_one_worker(stack: Stack) -> None:
    """SIGKILL of one of the gateway's worker processes (granian restarts it)."""
    assert stack.gateway is not None
    workers = subprocess.run(
        ["pgrep", "-P", str(stack.gateway.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    os.kill(int(workers[0]), signal.SIGKILL)


async def storm(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    campaign_id: str,
    until: Callable[[], bool],
    answers: list[tuple[str, int, dict[str, Any]]],
    clients: int = 24,
) -> None:
    """Each client claims for random members with a fresh Idempotency-Key per attempt and retries
    a 503 (or a dropped connection) with the same key until it gets a final answer."""
    rng = random.Random(7)
    n = 0

    async def one() -> None:
        nonlocal n
        while not until():
            n += 1
            member, key = f"d-{rng.randrange(MEMBERS)}", f"k-{n}-{rng.random()}"
            while True:
                try:
                    r = await http.post(
                        f"/v1/campaigns/{campaign_id}/claims",
                        json={"member_id": member, "channel": "online"},
                        headers={**headers, "Idempotency-Key": key},
                    )
                    answers.append((member, r.status_code, r.json()))
                    if r.status_code != 503:
                        break
                except httpx.HTTPError:
                    answers.append((member, 0, {}))
                await asyncio.sleep(0.05)

    await asyncio.gather(*(one() for _ in range(clients)))


async def verdict(stack: Stack, campaign_id: str, answers: list[tuple[str, int, Any]]) -> None:
    statuses = {status for _, status, _ in answers}
    assert 500 not in statuses and statuses <= {0, 201, 409, 503}, statuses
    promised = [body["code"] for _, status, body in answers if status == 201]
    assert len(promised) == len(set(promised)), "one code answered twice"
    pool = await asyncpg.connect(stack.database_url)
    client = redis.Redis.from_url(stack.redis_url)
    try:
        for _ in range(300):  # writers empty their queues; recovery drains what the dead left
            if not await client.xlen(f"{{c:{campaign_id}}}:ledger"):
                break
            await asyncio.sleep(0.1)
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
    codes = {r["code"] for r in rows}
    per_member: dict[str, int] = {}
    for row in rows:
        per_member[row["member_id"]] = per_member.get(row["member_id"], 0) + 1
    assert len(rows) <= STOCK, f"oversold by {len(rows) - STOCK}"
    assert max(per_member.values()) <= LIMIT, "a member holds more than the limit"
    assert set(promised) <= codes, f"{len(set(promised) - codes)} promised coupons lost"
    assert int(meta[0]) - int(meta[1]) == len(rows), "Redis counters differ from the ledger"
    assert held == per_member, "members' counts differ from the ledger"
    assert len(rows) == STOCK, "the storm should have sold the stock out"


SLOW_LEDGER = """
CREATE OR REPLACE FUNCTION drill_slow_ledger() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN
  IF current_setting('application_name') = 'gateway-ledger' THEN PERFORM pg_sleep(4); END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER drill_slow_ledger AFTER INSERT ON coupons
FOR EACH STATEMENT EXECUTE FUNCTION drill_slow_ledger();
"""


async def slow_ledger(stack: Stack, on: bool) -> None:
    """Every batch of the claim pipeline's ledger writers (not the rebuild's own drain of the
    streams) takes 4 s more: coupons wait in the workers' queues long enough for
    Redis to crash, restart and be rebuilt while they do. Without the ledger fence the rebuild
    counts the ledger without them, and the stock is oversold by as many."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        if on:
            await conn.execute(SLOW_LEDGER)
        else:
            await conn.execute("DROP TRIGGER IF EXISTS drill_slow_ledger ON coupons")
    finally:
        await conn.close()


async def drill(
    stack: Stack,
    crash: Callable[[], None],
    recover: Callable[[], None],
    slow: bool = False,
    **settings: str,
) -> None:
    await slow_ledger(stack, slow)
    # Three hundred members pressing for four hundred coupons from 24 clients, each retrying a
    # 503 every 50 ms, is the kind of hammering the per-member limit exists for: the drill is
    # about crashes, so it lifts the limit.
    stack.start_gateway(workers="2", claim_rate_per_member="off", **settings)
    admin = {"Authorization": f"Bearer {stack.cli('keys', 'create', '--role', 'admin')}"}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
        created = await http.post(
            "/v1/campaigns",
            json=campaign_body(stock=STOCK, per_member_limit=LIMIT),
            headers=admin,
        )
        campaign_id = created.json()["id"]
        assert (await http.post(f"/v1/campaigns/{campaign_id}/publish", headers=admin)).is_success
        answers: list[tuple[str, int, dict[str, Any]]] = []
        sold = lambda: sum(1 for _, s, _ in answers if s == 201)  # noqa: E731 - a tiny probe
        done = asyncio.Event()
        task = asyncio.create_task(storm(http, admin, campaign_id, done.is_set, answers))
        while sold() < STOCK // 3:  # noqa: ASYNC110 - polls what the storm appends
            await asyncio.sleep(0.01)
        await asyncio.to_thread(crash)
        await asyncio.sleep(0.2)
        await asyncio.to_thread(recover)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # until sold out and answered without a 503
            tail = answers[-50:]
            if len(tail) == 50 and all(s == 409 for _, s, _ in tail):
                break
            await asyncio.sleep(0.1)
        done.set()
        await task
        # Once back and rebuilt: answers are final again.
        late = await http.post(
            f"/v1/campaigns/{campaign_id}/claims",
            json={"member_id": "d-late", "channel": "online"},
            headers=admin,
        )
        assert late.status_code == 409 and late.json()["code"] == "sold_out", late.text
    # With the gateway still up: its writers finish their queues (a clean stop leaves what is
    # queued in the streams, for the next start's recovery).
    await verdict(stack, campaign_id, answers)
    stack.stop_gateway()
    await slow_ledger(stack, False)


@pytest.mark.parametrize("durability", ["ledger", "redis"])
async def test_redis_killed_and_restarted_from_its_aof(stack: Stack, durability: str) -> None:
    await drill(
        stack,
        lambda: kill_redis(stack),
        lambda: stack.services("start"),
        claim_durability=durability,
    )


async def test_redis_host_lost_its_aof_tail_while_workers_hold_coupons_for_a_slow_ledger(
    stack: Stack,
) -> None:
    """The window the ledger fence closes: 201s answered after the script (`redis`
    durability), their coupons queued for a ledger that takes its time, when Redis dies and its
    AOF comes back without the last of them (their stream entries too)."""
    await drill(
        stack,
        lambda: kill_redis(stack, lose_tail=True),
        lambda: stack.services("start"),
        slow=True,
        claim_durability="redis",
    )


async def test_postgres_killed_and_restarted(stack: Stack) -> None:
    await drill(
        stack,
        lambda: kill_postgres(stack),
        lambda: stack.services("start"),
        ledger_timeout_ms="1000",
        ledger_recovery_age_ms="1000",
    )


async def test_a_gateway_worker_killed(stack: Stack) -> None:
    await drill(stack, lambda: kill_one_worker(stack), lambda: None, ledger_recovery_age_ms="1000")
