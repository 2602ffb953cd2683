"""Grant jobs (issue 14): a campaign's coupons to a segment, batch after batch through the claim
pipeline, each member's outcome counted once, whatever the concurrency and the crashes.

Most tests make their job directly (`create_grant_job` with the members the test chose, on the
test's own connection) and hold its lease for a worker of their own ('test-holder'), so that
the app's scheduler leaves it alone and the test drives its batches (`grant_batch`, as a worker
does). Bad input: a body with both `member_ids` and `segment_id` is 400 `invalid_request`; an
unknown segment is 404 `segment_not_found` (as an unknown campaign is 404), not 422: the
segment is named by the request, like a path's id.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis

from gateway.clock import clock
from gateway.jobs.services import LEASE_S, BatchResult, JobService, create_grant_job, job_key
from gateway.native import new_code
from gateway.store import redis as keys
from gateway.store.ledger import recover_campaign
from gateway.store.redis import LuaScript
from tests.conftest import campaign_body, live_campaign, unique
from tests.integration.points_helpers import Auth, Client, on_app

pytestmark = pytest.mark.asyncio

HOLD = "UPDATE jobs SET lease_owner = $2, lease_until = $3 WHERE id = $1"
FAR = datetime(2999, 1, 1, tzinfo=UTC)


def chosen(members: list[str]) -> Callable[..., Awaitable[list[str]]]:
    """A member listing that answers `members` (sorted, paged like a segment's)."""
    ordered = sorted(members)

    async def listing(
        conn: asyncpg.Connection, segment_id: str, *, after: str | None, limit: int, now_ms: int
    ) -> list[str]:
        rest = [m for m in ordered if after is None or m > after]
        return rest[:limit]

    return listing


async def new_segment(db: asyncpg.Pool, filter_: dict[str, Any] | None = None) -> str:
    segment_id = unique("seg")
    await db.execute(
        "INSERT INTO segments (id, name, filter, actor, created_at) "
        "VALUES ($1, $2, $3, 't', now())",
        segment_id,
        "test segment",
        filter_ or {},
    )
    return segment_id


async def held_job(
    db: asyncpg.Pool,
    campaign_id: str,
    members: list[str],
    holder: str = "test-holder",
    until: datetime = FAR,
) -> str:
    """A job to `members`, made and leased to `holder` in one transaction: no worker of the
    app's takes it before the test lets it go."""
    segment_id = await new_segment(db)
    async with db.acquire() as conn, conn.transaction():
        job_id = await create_grant_job(
            conn, campaign_id, segment_id, "store", "admin", clock.now_ms(), chosen(members)
        )
        await conn.execute(HOLD, job_id, holder, until)
    return job_id


def service(client: Client) -> JobService:
    jobs: JobService = client.app.state.jobs
    return jobs


async def batch(client: Client, job_id: str, size: int = 500) -> BatchResult:
    return await on_app(client, service(client).grant_batch, job_id, size)


async def finish(client: Client, job_id: str) -> None:
    for _ in range(100):
        if (await batch(client, job_id)).finished:
            return
    raise AssertionError("the job did not finish")


async def job_of(client: Client, auth: Auth, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/jobs/{job_id}", headers=auth["admin"])
    assert response.status_code == 200, response.text
    return dict(response.json())


async def coupons_of(db: asyncpg.Pool, campaign_id: str) -> dict[str, list[str]]:
    rows = await db.fetch(
        "SELECT member_id, code FROM coupons WHERE campaign_id = $1 ORDER BY code", campaign_id
    )
    held: dict[str, list[str]] = {}
    for row in rows:
        held.setdefault(row["member_id"], []).append(row["code"])
    return held


async def assert_job_agrees_with_the_ledger(
    db: asyncpg.Pool, redis_client: redis.Redis, job_id: str, campaign_id: str
) -> None:
    """Every granted member holds exactly the coupon its row names, granted with the job's key;
    the job's counters are its rows'; the campaign's Redis counters are its ledger's."""
    rows = await db.fetch("SELECT * FROM job_members WHERE job_id = $1", job_id)
    job = await db.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    held = await coupons_of(db, campaign_id)
    granted = [r for r in rows if r["state"] == "granted"]
    for row in granted:
        assert row["coupon_code"] in held[row["member_id"]], dict(row)
    keyed = await db.fetch(
        "SELECT e.coupon_code, e.member_id FROM events e JOIN coupons c ON c.code = e.coupon_code "
        "WHERE e.kind = 'grant' AND e.campaign_id = $1 AND e.idempotency_key LIKE $2",
        campaign_id,
        f"job:{job_id}:%",
    )
    by_job: dict[str, int] = {}
    for event in keyed:
        by_job[event["member_id"]] = by_job.get(event["member_id"], 0) + 1
    assert max(by_job.values(), default=0) <= 1, "a member granted twice by the job"
    assert job["done"] == sum(1 for r in rows if r["state"] != "due")
    assert job["granted"] == len(granted)
    reasons: dict[str, int] = {}
    for row in rows:
        if row["state"] == "rejected":
            reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    assert job["rejected"] == reasons
    meta = await redis_client.hmget(f"{{c:{campaign_id}}}:meta", "stock_total", "remaining")
    coupons = sum(len(codes) for codes in held.values())
    assert int(meta[0]) - int(meta[1]) == coupons, "Redis counters differ from the ledger"


async def test_a_grant_to_a_segment_is_a_job_that_grants_every_member(
    client: Client, auth: Auth, db: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    """202 at once with the job's id; the workers grant every member of the segment through
    the claim pipeline (the app's scheduler, or this test's passes of it, whichever is first).
    The segment: the members registered today, on a day of the clock's far in the future that
    no other test registers on."""
    clock.advance(random.randrange(100 * 365, 200 * 365) * 86400)
    campaign = await live_campaign(
        client,
        auth["admin"],
        stock=1000,
        claim_ends_at=(clock.now() + timedelta(days=30)).isoformat(),
    )
    members = sorted(unique("sg") for _ in range(30))
    for member in members:
        put = await client.put(
            f"/v1/members/{member}", json={"tier": "standard"}, headers=auth["admin"]
        )
        assert put.status_code == 200, put.text
    segment = await client.post(
        "/v1/segments",
        json={"name": "registered today", "filter": {"registered_days": {"max": 0}}},
        headers=auth["admin"],
    )
    assert segment.status_code == 201, segment.text
    assert segment.json()["size"] == len(members)
    segment_id = segment.json()["id"]
    made = await client.post(
        f"/v1/campaigns/{campaign['id']}/grants",
        json={"segment_id": segment_id, "channel": "store"},
        headers=auth["admin"],
    )
    assert made.status_code == 202, made.text
    job_id = made.json()["job_id"]
    listed = await db.fetch(
        "SELECT member_id FROM job_members WHERE job_id = $1 ORDER BY member_id", job_id
    )
    assert [r["member_id"] for r in listed] == members
    job = await job_of(client, auth, job_id)
    assert job["kind"] == "grant" and job["total"] == len(members)
    assert job["campaign_id"] == campaign["id"] and job["segment_id"] == segment_id
    for _ in range(50):
        if job["state"] == "done":
            break
        await on_app(client, service(client).run_due, clock.now_ms())
        job = await job_of(client, auth, job_id)
    assert job["state"] == "done" and job["finished_at"] is not None
    assert (job["done"], job["granted"], job["rejected"]) == (30, 30, {})
    held = await coupons_of(db, campaign["id"])
    assert sorted(held) == members
    assert all(len(codes) == 1 for codes in held.values())
    assert await db.fetchval("SELECT actor FROM jobs WHERE id = $1", job_id) == "admin"
    actors = await db.fetch(
        "SELECT DISTINCT actor FROM events WHERE kind = 'grant' AND campaign_id = $1",
        campaign["id"],
    )
    assert [r["actor"] for r in actors] == ["admin"], "the grants name the job's operator"
    latest = await client.get("/v1/jobs?limit=200", headers=auth["admin"])
    assert latest.status_code == 200, latest.text
    assert job_id in [j["id"] for j in latest.json()["jobs"]]
    await assert_job_agrees_with_the_ledger(db, redis_client, job_id, campaign["id"])


async def test_progress_is_counted_batch_by_batch(
    client: Client, auth: Auth, db: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=5000)
    members = [unique("pg") for _ in range(1200)]
    job_id = await held_job(db, campaign["id"], members)
    job = await job_of(client, auth, job_id)
    assert (job["state"], job["total"], job["done"], job["granted"]) == ("running", 1200, 0, 0)
    assert job["finished_at"] is None
    for done in (500, 1000):
        result = await batch(client, job_id)
        assert (result.settled, result.unknown, result.finished) == (500, 0, False)
        job = await job_of(client, auth, job_id)
        assert (job["state"], job["done"], job["granted"]) == ("running", done, done)
    result = await batch(client, job_id)
    assert (result.settled, result.finished) == (200, True)
    job = await job_of(client, auth, job_id)
    assert (job["state"], job["done"], job["granted"], job["rejected"]) == ("done", 1200, 1200, {})
    assert job["finished_at"] is not None
    lease = await db.fetchrow("SELECT lease_owner, lease_until FROM jobs WHERE id = $1", job_id)
    assert tuple(lease) == (None, None)
    await assert_job_agrees_with_the_ledger(db, redis_client, job_id, campaign["id"])


async def test_rejections_are_counted_by_reason_when_stock_runs_out_midway_and_limits_bite(
    client: Client, auth: Auth, db: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=700, per_member_limit=1)
    members = sorted(unique("rj") for _ in range(1000))
    holders = members[:3]  # already hold the campaign's one coupon each
    for member in holders:
        claimed = await client.post(
            f"/v1/campaigns/{campaign['id']}/claims",
            json={"member_id": member, "channel": "online"},
            headers=auth["admin"],
        )
        assert claimed.status_code == 201, claimed.text
    job_id = await held_job(db, campaign["id"], members)
    await finish(client, job_id)
    job = await job_of(client, auth, job_id)
    # 697 coupons left: the first 500 members (3 refused) take 497, the next 200 run it out.
    assert job["state"] == "done" and job["done"] == 1000
    assert job["granted"] == 697
    assert job["rejected"] == {"limit_reached": 3, "sold_out": 300}
    rows = {
        r["member_id"]: r
        for r in await db.fetch("SELECT * FROM job_members WHERE job_id = $1", job_id)
    }
    assert all(rows[m]["reason"] == "limit_reached" for m in holders)
    assert all(rows[m]["reason"] == "sold_out" for m in members[700:])
    assert all(rows[m]["state"] == "granted" and rows[m]["coupon_code"] for m in members[3:700])
    held = await coupons_of(db, campaign["id"])
    assert all(len(held[m]) == 1 for m in members[:700])
    assert not set(members[700:]) & set(held)
    await assert_job_agrees_with_the_ledger(db, redis_client, job_id, campaign["id"])


async def test_a_campaign_paused_midway_refuses_the_rest_and_the_job_still_finishes(
    client: Client, auth: Auth, db: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=5000)
    members = [unique("pz") for _ in range(800)]
    job_id = await held_job(db, campaign["id"], members)
    assert (await batch(client, job_id)).settled == 500
    paused = await client.post(f"/v1/campaigns/{campaign['id']}/pause", headers=auth["admin"])
    assert paused.status_code == 200, paused.text
    await finish(client, job_id)
    job = await job_of(client, auth, job_id)
    assert (job["state"], job["done"], job["granted"]) == ("done", 800, 500)
    assert job["rejected"] == {"not_live": 300}
    await assert_job_agrees_with_the_ledger(db, redis_client, job_id, campaign["id"])


async def test_two_workers_on_one_job_take_a_batch_each_and_nobody_twice(
    client: Client, auth: Auth, db: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=5000)
    members = [unique("tw") for _ in range(1000)]
    job_id = await held_job(db, campaign["id"], members)
    first, second = await asyncio.gather(batch(client, job_id), batch(client, job_id))
    assert (first.settled, second.settled) == (500, 500)
    assert first.finished or second.finished
    job = await job_of(client, auth, job_id)
    assert (job["state"], job["done"], job["granted"]) == ("done", 1000, 1000)
    held = await coupons_of(db, campaign["id"])
    assert sorted(held) == sorted(members)
    assert all(len(codes) == 1 for codes in held.values())
    again = await batch(client, job_id)
    assert (again.settled, again.finished) == (0, True)
    await assert_job_agrees_with_the_ledger(db, redis_client, job_id, campaign["id"])


async def test_a_lease_keeps_other_workers_off_until_it_runs_out(
    client: Client, auth: Auth, db: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    """A job leased to a worker that died is left alone while its lease lasts; once it has
    run out, another worker takes the job and finishes it. Two takers at once: one wins."""
    campaign = await live_campaign(client, auth["admin"], stock=5000)
    members = [unique("ls") for _ in range(700)]
    until = datetime.fromtimestamp((clock.now_ms() + int(LEASE_S * 1000)) / 1000, UTC)
    job_id = await held_job(db, campaign["id"], members, holder="dead-worker", until=until)
    jobs = service(client)
    await on_app(client, jobs.run_due, clock.now_ms())
    assert (await job_of(client, auth, job_id))["done"] == 0
    clock.advance(LEASE_S + 1)
    takers = await asyncio.gather(
        *(on_app(client, jobs.take, owner, clock.now_ms()) for owner in ("w-a", "w-b"))
    )
    assert takers.count(job_id) <= 1, takers  # (another test's job may be due as well)
    for _ in range(20):
        if (await job_of(client, auth, job_id))["state"] == "done":
            break
        clock.advance(LEASE_S + 1)  # whichever worker holds it now, its lease runs out too
        await on_app(client, jobs.run_due, clock.now_ms())
    job = await job_of(client, auth, job_id)
    assert (job["state"], job["done"], job["granted"]) == ("done", 700, 700)
    await assert_job_agrees_with_the_ledger(db, redis_client, job_id, campaign["id"])


async def dead_worker_scripts(
    redis_client: redis.Redis, campaign_id: str, job_id: str, members: list[str]
) -> dict[str, str]:
    """What a worker killed between the claim script and its ledger write leaves: the coupons
    in Redis (stock taken, the stream entries, each key's idempotency record), none in
    Postgres. The members' codes."""
    records = [f"{m}\x1f{new_code()}\x1fstore\x1f{4 + i}\x1fgrant" for i, m in enumerate(members)]
    results = await LuaScript("claim_coupons")(
        redis_client,
        [
            keys.meta_key(campaign_id),
            keys.members_key(campaign_id),
            keys.ledger_key(campaign_id),
            *(keys.idem_key(campaign_id, job_key(job_id, m)) for m in members),
        ],
        [clock.now_ms(), "grant", 86400, len(members), "\x1e".join(records)],
    )
    assert all(r[0] == 1 for r in results), results
    return {m: r[1].decode() for m, r in zip(members, results, strict=True)}


async def test_a_batch_that_crashed_before_its_commit_is_run_again_without_granting_twice(
    client: Client, auth: Auth, db: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    """A worker granted a batch and died before recording it: its members are still due. The
    next attempt finds the coupons the ledger holds by the job's keys; the grants whose coupons
    only Redis holds (the dead worker's stream), or the ledger holds without their key (written
    by recovery from that stream, which carries no key), are answered by the claims'
    idempotency records in Redis: the same coupons, no stock taken again."""
    campaign = await live_campaign(client, auth["admin"], stock=5000)
    campaign_id = campaign["id"]
    members = sorted(unique("cr") for _ in range(600))
    job_id = await held_job(db, campaign_id, members)
    claims = client.app.state.claims

    async def granted_before_the_crash() -> list[Any]:
        return await asyncio.gather(
            *(
                claims.grant_keyed(campaign_id, m, "store", job_key(job_id, m))
                for m in members[:200]
            )
        )

    codes = {c.member_id: c.code for c in await on_app(client, granted_before_the_crash)}
    state = client.app.state
    # Recovery (a live worker's) writes these hundred from the stream: no key in the ledger.
    codes.update(await dead_worker_scripts(redis_client, campaign_id, job_id, members[300:400]))
    await on_app(client, recover_campaign, state.pool, state.redis, campaign_id)
    # These hundred only Redis holds.
    codes.update(await dead_worker_scripts(redis_client, campaign_id, job_id, members[200:300]))
    remaining_before = int(await redis_client.hget(keys.meta_key(campaign_id), "remaining"))
    await finish(client, job_id)
    job = await job_of(client, auth, job_id)
    assert (job["state"], job["done"], job["granted"]) == ("done", 600, 600)
    rows = {
        r["member_id"]: r["coupon_code"]
        for r in await db.fetch("SELECT * FROM job_members WHERE job_id = $1", job_id)
    }
    assert all(rows[m] == codes[m] for m in members[:400]), "a crashed grant was not found again"
    remaining = int(await redis_client.hget(keys.meta_key(campaign_id), "remaining"))
    assert remaining_before - remaining == 200, "only the members never granted took stock"
    await on_app(client, recover_campaign, state.pool, state.redis, campaign_id)
    held = await coupons_of(db, campaign_id)
    assert all(held[m] == [codes[m]] for m in members[:400])
    assert all(len(held[m]) == 1 for m in members)
    await assert_job_agrees_with_the_ledger(db, redis_client, job_id, campaign_id)


async def test_a_job_of_nobody_is_done_as_it_is_made(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    job_id = await held_job(db, campaign["id"], [])
    job = await job_of(client, auth, job_id)
    assert (job["state"], job["total"], job["done"], job["granted"]) == ("done", 0, 0, 0)
    assert job["finished_at"] == job["started_at"]


async def test_bad_input(client: Client, auth: Auth, db: asyncpg.Pool) -> None:
    campaign = await live_campaign(client, auth["admin"])
    segment_id = await new_segment(db)
    url = f"/v1/campaigns/{campaign['id']}/grants"
    cases: list[tuple[Any, int, str]] = [
        ({"member_ids": ["m-1"], "segment_id": segment_id, "channel": "store"}, 400,
         "invalid_request"),
        ({"segment_id": unique("seg"), "channel": "store"}, 404, "segment_not_found"),
        ({"segment_id": "no spaces here", "channel": "store"}, 400, "invalid_request"),
        ({"segment_id": segment_id, "channel": "mail"}, 400, "invalid_request"),
        ({"segment_id": segment_id}, 400, "invalid_request"),
        ({"segment_id": 7, "channel": "store"}, 400, "invalid_request"),
        ({"segment_id": None, "channel": "store"}, 400, "invalid_request"),
        ({"channel": "store"}, 400, "invalid_request"),
        ({"segment_id": segment_id, "channel": "store", "extra": 1}, 400, "invalid_request"),
        ("[]", 400, "invalid_request"),
    ]  # fmt: skip
    for body, status, code in cases:
        content = body if isinstance(body, str) else json.dumps(body)
        response = await client.post(
            url, content=content, headers={**auth["admin"], "Content-Type": "application/json"}
        )
        answer = (response.status_code, response.json()["code"])
        assert answer == (status, code), (body, response.text)
    unknown = await client.post(
        "/v1/campaigns/cmp_0000000000000000/grants",
        json={"segment_id": segment_id, "channel": "store"},
        headers=auth["admin"],
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "campaign_not_found")
    missing = await client.get(f"/v1/jobs/{unique('job')}", headers=auth["admin"])
    assert (missing.status_code, missing.json()["code"]) == (404, "job_not_found")
    for query in ("limit=0", "limit=201", "limit=x"):
        listed = await client.get(f"/v1/jobs?{query}", headers=auth["admin"])
        assert listed.status_code == 400, (query, listed.text)
    jobs = await db.fetchval("SELECT count(*) FROM jobs WHERE segment_id = $1", segment_id)
    assert jobs == 0, "a refused request made a job"


async def test_only_an_admin_grants_to_a_segment_and_reads_jobs(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    segment_id = await new_segment(db)
    body = {"segment_id": segment_id, "channel": "store"}
    for role in ("clerk", "front", "checkout"):
        refused = await client.post(
            f"/v1/campaigns/{campaign['id']}/grants", json=body, headers=auth[role]
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), role
    job_id = await held_job(db, campaign["id"], [])
    for role in ("clerk", "front", "checkout"):
        assert (await client.get(f"/v1/jobs/{job_id}", headers=auth[role])).status_code == 403
        assert (await client.get("/v1/jobs", headers=auth[role])).status_code == 403
    # A clerk's grant to members is unchanged.
    granted = await client.post(
        f"/v1/campaigns/{campaign['id']}/grants",
        json={"member_ids": [unique()], "channel": "store"},
        headers=auth["clerk"],
    )
    assert granted.status_code == 200 and len(granted.json()["granted"]) == 1


async def test_a_retried_grant_to_a_segment_makes_one_job(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """The same Idempotency-Key and body, sent twice at once and again later: one job, its id
    in every answer. Another body under the key is 409; a malformed key is 400 naming it."""
    campaign = await live_campaign(client, auth["admin"])
    segment_id = await new_segment(db, {"orders": {"min": 10**12}})  # nobody: done at once
    url = f"/v1/campaigns/{campaign['id']}/grants"
    body = {"segment_id": segment_id, "channel": "store"}
    key = {**auth["admin"], "Idempotency-Key": unique("grant-job")}
    answers = [
        *await asyncio.gather(*(client.post(url, json=body, headers=key) for _ in range(2))),
        await client.post(url, json=body, headers=key),
    ]
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    assert len({a.json()["job_id"] for a in answers}) == 1
    jobs = await db.fetchval("SELECT count(*) FROM jobs WHERE segment_id = $1", segment_id)
    assert jobs == 1
    other = await client.post(url, json={**body, "channel": "online"}, headers=key)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_mismatch")
    bad = await client.post(url, json=body, headers={**auth["admin"], "Idempotency-Key": "k" * 129})
    assert (bad.status_code, bad.json()["detail"].split(":")[0]) == (400, "Idempotency-Key")
    unkeyed = [await client.post(url, json=body, headers=auth["admin"]) for _ in range(2)]
    assert len({a.json()["job_id"] for a in unkeyed}) == 2  # without a key: a job each
    jobs = await db.fetchval("SELECT count(*) FROM jobs WHERE segment_id = $1", segment_id)
    assert jobs == 3


async def test_a_grant_to_a_segment_of_a_campaign_that_grants_nobody_is_refused(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """A job would only reject every member with the claims' reason: the request is refused
    with it instead (409), and no job is made."""
    segment_id = await new_segment(db, {"orders": {"min": 10**12}})
    admin = auth["admin"]
    draft = await client.post("/v1/campaigns", json=campaign_body(), headers=admin)
    paused = await live_campaign(client, admin)
    await client.post(f"/v1/campaigns/{paused['id']}/pause", headers=admin)
    closed = await live_campaign(client, admin)
    await client.post(f"/v1/campaigns/{closed['id']}/close", headers=admin)
    later = datetime.now(UTC) + timedelta(days=2)
    not_started = await live_campaign(
        client,
        admin,
        claim_starts_at=later.isoformat(),
        claim_ends_at=(later + timedelta(days=1)).isoformat(),
    )
    ended = await live_campaign(client, admin)
    cases = [
        (draft.json()["id"], "not_live"),
        (paused["id"], "not_live"),
        (closed["id"], "not_live"),
        (not_started["id"], "not_started"),
    ]
    for campaign_id, code in cases:
        refused = await client.post(
            f"/v1/campaigns/{campaign_id}/grants",
            json={"segment_id": segment_id, "channel": "store"},
            headers=admin,
        )
        assert (refused.status_code, refused.json()["code"]) == (409, code), refused.text
    clock.advance(2 * 86400)  # past the claim window of `ended`
    refused = await client.post(
        f"/v1/campaigns/{ended['id']}/grants",
        json={"segment_id": segment_id, "channel": "store"},
        headers=admin,
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "ended"), refused.text
    jobs = await db.fetchval("SELECT count(*) FROM jobs WHERE segment_id = $1", segment_id)
    assert jobs == 0
