"""Grant jobs: a campaign's coupons to every member of a saved segment, as a job.

Creating a job lists the segment's members into `job_members` (state `due`) in the same
transaction as its `jobs` row (`total` = their count), so the job's members are fixed when it
is made, whatever the segment becomes, and the route answers 202 at once. A campaign that
could grant nobody now is refused instead, as a claim would be (409 `not_live`,
`not_started`, `ended`): a job would only reject every member with that reason. The request's
`Idempotency-Key` is remembered in the same transaction: a retry answers the first job's id
and makes no second job (which would grant its members again where the limit allows).

Every worker's scheduler runs `run_due`: it takes one running job by lease (`lease_owner`,
`lease_until`, renewed after each batch; a worker that dies stops renewing, its lease runs out
and another worker resumes the job) and grants the job's due members in batches (two on their
way at once) through the claim pipeline, the path of every grant (stock and per-member limits
apply), each grant with the idempotency key `job:<job id>:<member id>`.

A batch (`grant_batch`) is one transaction: its members are locked (`FOR UPDATE SKIP LOCKED`,
so two workers on one job take different members and nobody is granted twice), the coupons
that an earlier attempt wrote are looked up in the ledger (events.idempotency_key), the others
are granted, and each member's outcome (granted with its coupon code, or rejected with the
reason) is written with the job's counters in one statement. A crash before the commit leaves
the batch due: its next attempt finds the coupons in the ledger, or grants again with the same
keys, which the claims' idempotency records in Redis answer with the same coupons (a coupon
still in a dead worker's stream is written by ledger recovery, and by the replay, once: codes
are unique). A member whose grant has no answer (Redis or Postgres away) stays due for a later
batch. A campaign that is closed, paused or gone refuses every remaining member with that
reason: the job still finishes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway.checkout import idempotency
from gateway.claims.services import REFUSALS, ClaimService
from gateway.clock import Clock
from gateway.coupons.schemas import Coupon
from gateway.errors import (
    CampaignNotFound,
    GatewayError,
    InvalidRequest,
    JobNotFound,
    SegmentNotFound,
    Unavailable,
)
from gateway.jobs.schemas import Job, JobCreated, Jobs
from gateway.segments.services import segment_member_ids
from gateway.store.fence import worker_id
from gateway.wire import encoder, iso, when

log = logging.getLogger(__name__)

#: Members granted per batch (one transaction, one round of the claim pipeline).
BATCH = 500
#: Batches of one job a worker has on their way at once: one batch's ledger write overlaps the
#: next one's Redis round (measured: about 1.5× the grants per second of one at a time, and no
#: more with three); each holds a connection of the pool while its grants are answered.
PARALLEL = 2
#: Members listed per call of the segment's query while a job is made.
PAGE = 20_000
#: How long a lease outlives its last renewal: a dead worker's job waits this long.
LEASE_S = 10.0
#: How long one scheduler pass works a job before it lets the other scheduled work run (the
#: lease is kept: the next pass of the same worker goes on with it).
SLICE_S = 5.0

CAMPAIGN_WINDOW = "SELECT status, claim_starts_at, claim_ends_at FROM campaigns WHERE id = $1"
SEGMENT_EXISTS = "SELECT 1 FROM segments WHERE id = $1"
INSERT_JOB = """
INSERT INTO jobs (id, kind, campaign_id, segment_id, channel, state, actor, started_at)
VALUES ($1, 'grant', $2, $3, $4, 'running', $5, $6)
"""
INSERT_MEMBERS = """
INSERT INTO job_members (job_id, member_id) SELECT $1, unnest($2::text[])
ON CONFLICT DO NOTHING
"""
# The job's size once listed; a job of nobody is done as soon as it is made.
SET_TOTAL = """
UPDATE jobs SET total = $2,
    state = CASE WHEN $2 = 0 THEN 'done' ELSE state END,
    finished_at = CASE WHEN $2 = 0 THEN started_at END
WHERE id = $1
"""
GET_JOB = "SELECT * FROM jobs WHERE id = $1"
LATEST_JOBS = "SELECT * FROM jobs ORDER BY started_at DESC, id DESC LIMIT $1"
# A running job whose lease is free, ran out, or is already ours (ours first: a worker goes
# on with its job rather than leave it to wait for its own lease to run out).
TAKE_LEASE = """
UPDATE jobs SET lease_owner = $1, lease_until = $3
WHERE id = (
    SELECT id FROM jobs
    WHERE state = 'running' AND (lease_until IS NULL OR lease_until < $2 OR lease_owner = $1)
    ORDER BY lease_owner IS NOT DISTINCT FROM $1 DESC, started_at, id
    LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING id
"""
RENEW_LEASE = """
UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'running'
RETURNING id
"""
BATCH_JOB = "SELECT campaign_id, channel, actor, state FROM jobs WHERE id = $1"
TAKE_DUE = """
SELECT member_id FROM job_members WHERE job_id = $1 AND state = 'due'
ORDER BY member_id LIMIT $2 FOR UPDATE SKIP LOCKED
"""
# The coupons keyed grants already wrote (an attempt that crashed before its commit).
GRANTED = """
SELECT idempotency_key, coupon_code FROM events
WHERE kind = 'grant' AND idempotency_key = ANY($1::text[])
"""
# The batch's outcomes, and the job's counters from the rows that moved, in one statement;
# the job is done (and its lease let go) when every member has an outcome.
RECORD = """
WITH outcome AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
        AS o(member_id, state, reason, coupon_code)
), moved AS (
    UPDATE job_members j
    SET state = o.state, reason = o.reason, coupon_code = o.coupon_code
    FROM outcome o
    WHERE j.job_id = $1 AND j.member_id = o.member_id AND j.state = 'due'
    RETURNING j.state, j.reason
), counts AS (
    SELECT count(*)::int AS done, (count(*) FILTER (WHERE state = 'granted'))::int AS granted
    FROM moved
), reasons AS (
    SELECT reason, count(*)::int AS n FROM moved WHERE state = 'rejected' GROUP BY reason
)
UPDATE jobs SET
    done = jobs.done + c.done,
    granted = jobs.granted + c.granted,
    rejected = (
        SELECT coalesce(jsonb_object_agg(reason, n), '{}'::jsonb) FROM (
            SELECT reason, sum(n)::int AS n FROM (
                SELECT key AS reason, value::int AS n FROM jsonb_each_text(jobs.rejected)
                UNION ALL SELECT reason, n FROM reasons
            ) every_reason GROUP BY reason
        ) merged
    ),
    state = CASE WHEN jobs.done + c.done >= jobs.total THEN 'done' ELSE jobs.state END,
    finished_at = CASE WHEN jobs.done + c.done >= jobs.total THEN $6 ELSE jobs.finished_at END,
    lease_owner = CASE WHEN jobs.done + c.done >= jobs.total THEN NULL ELSE jobs.lease_owner END,
    lease_until = CASE WHEN jobs.done + c.done >= jobs.total THEN NULL ELSE jobs.lease_until END
FROM counts c
WHERE jobs.id = $1
RETURNING jobs.state
"""
# No member left due and every one has an outcome (a batch that found none to take).
FINISH = """
UPDATE jobs SET state = 'done', finished_at = $2, lease_owner = NULL, lease_until = NULL
WHERE id = $1 AND state = 'running' AND done >= total
RETURNING id
"""

#: `segment_member_ids`' shape: (conn, segment_id, *, after, limit, now_ms) -> member ids.
MemberLister = Callable[..., Awaitable[list[str]]]


def job_key(job_id: str, member_id: str) -> str:
    """The idempotency key of a job's grant to a member: the same grant whatever the retries."""
    return f"job:{job_id}:{member_id}"


def new_job_id() -> str:
    return "job_" + secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One member's grant: a coupon code, a refusal's reason, or neither (no answer yet)."""

    member_id: str
    coupon_code: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    settled: int  # members given an outcome by this batch
    unknown: int  # members left due: their grant had no answer
    finished: bool  # the job is done (now or before)


async def create_grant_job(
    conn: asyncpg.Connection,
    campaign_id: str,
    segment_id: str,
    channel: str,
    actor: str,
    now_ms: int,
    members: MemberLister = segment_member_ids,
) -> str:
    """Makes a grant job on `conn` (inside the caller's transaction): the jobs row and every
    member of the segment at `now_ms`, due. Its id. A campaign that grants nobody now (not
    live, or outside its claim window) is refused with the claims' code."""
    campaign = await conn.fetchrow(CAMPAIGN_WINDOW, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"campaign {campaign_id!r} does not exist")
    now = when(now_ms)
    if campaign["status"] != "live":
        reason = "not_live"
    elif now < campaign["claim_starts_at"]:
        reason = "not_started"
    elif now >= campaign["claim_ends_at"]:
        reason = "ended"
    else:
        reason = None
    if reason is not None:
        status, detail = REFUSALS[reason]
        raise GatewayError(f"{detail}: a job would grant nobody", code=reason, status=status)
    if await conn.fetchval(SEGMENT_EXISTS, segment_id) is None:
        raise SegmentNotFound(f"segment {segment_id!r} does not exist")
    job_id = new_job_id()
    await conn.execute(INSERT_JOB, job_id, campaign_id, segment_id, channel, actor, when(now_ms))
    total = 0
    after: str | None = None
    while True:
        page = await members(conn, segment_id, after=after, limit=PAGE, now_ms=now_ms)
        if not page:
            break
        await conn.execute(INSERT_MEMBERS, job_id, page)
        total += len(page)
        if len(page) < PAGE:
            break
        after = page[-1]
    await conn.execute(SET_TOTAL, job_id, total)
    return job_id


def job_of(row: asyncpg.Record) -> Job:
    finished: datetime | None = row["finished_at"]
    return Job(
        id=row["id"],
        kind=row["kind"],
        state=row["state"],
        campaign_id=row["campaign_id"],
        segment_id=row["segment_id"],
        total=row["total"],
        done=row["done"],
        granted=row["granted"],
        rejected=dict(row["rejected"]),
        started_at=iso(row["started_at"]),
        finished_at=iso(finished) if finished is not None else None,
    )


class JobService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        claims: ClaimService,
        clock: Clock,
        members: MemberLister = segment_member_ids,
        *,
        idempotency_ttl_s: int = 86400,
    ) -> None:
        self.pool = pool
        self.claims = claims
        self.clock = clock
        self.members = members
        self.idem_ttl_s = idempotency_ttl_s
        #: This worker's name on the leases it takes.
        self.owner = worker_id()

    # -- the API ---------------------------------------------------------------------------

    async def create(
        self, campaign_id: str, segment_id: str, channel: str, actor: str, key: str | None = None
    ) -> tuple[int, bytes]:
        """A grant of the campaign to every member of the segment, as a job: (202, the encoded
        `JobCreated`), or the first answer to `key` (its job, made once)."""
        h = idempotency.request_hash(campaign_id.encode(), segment_id.encode(), channel.encode())
        async with self.pool.acquire() as conn, conn.transaction():
            if key is not None:
                earlier = await idempotency.replay(conn, "grant_job", key, h, self.idem_ttl_s)
                if earlier is not None:
                    return earlier
            job_id = await create_grant_job(
                conn, campaign_id, segment_id, channel, actor, self.clock.now_ms(), self.members
            )
            encoded = encoder.encode(JobCreated(job_id=job_id))
            if key is not None:
                await idempotency.remember(conn, "grant_job", key, h, 202, encoded)
        return 202, encoded

    async def get(self, job_id: str) -> Job:
        row = await self.pool.fetchrow(GET_JOB, job_id)
        if row is None:
            raise JobNotFound(f"job {job_id!r} does not exist")
        return job_of(row)

    async def latest(self, limit: int) -> Jobs:
        """The newest jobs first (the back office's list: operators make a few a day)."""
        if not 1 <= limit <= 200:
            raise InvalidRequest("limit: must be 1..200")
        return Jobs(jobs=[job_of(row) for row in await self.pool.fetch(LATEST_JOBS, limit)])

    # -- the workers -----------------------------------------------------------------------

    async def run_due(self, now_ms: int) -> int:
        """The scheduler's pass: takes a running job by lease and grants it for up to SLICE_S,
        PARALLEL batches at a time (renewing the lease); how many members it gave an outcome."""
        job_id = await self.take(self.owner, now_ms)
        if job_id is None:
            return 0
        deadline = asyncio.get_running_loop().time() + SLICE_S
        async with asyncio.TaskGroup() as group:
            loops = [group.create_task(self._work(job_id, deadline)) for _ in range(PARALLEL)]
        return sum(task.result() for task in loops)

    async def _work(self, job_id: str, deadline: float) -> int:
        """Batch after batch of one job until it is done, out of time or of members to take."""
        settled = 0
        while True:
            batch = await self.grant_batch(job_id)
            settled += batch.settled
            if batch.finished or batch.settled == 0 or batch.unknown:
                # Done; or the rest is held by another batch or worker, or has no answer yet
                # (Redis or Postgres away): the next pass tries again.
                return settled
            if asyncio.get_running_loop().time() >= deadline:
                return settled
            if not await self.renew(job_id, self.owner, self.clock.now_ms()):
                return settled  # the lease ran out meanwhile: another worker may have it

    async def take(self, owner: str, now_ms: int) -> str | None:
        """Leases a running job to `owner` (its own, or one whose lease is free or ran out)."""
        job_id: str | None = await self.pool.fetchval(
            TAKE_LEASE, owner, when(now_ms), when(now_ms + int(LEASE_S * 1000))
        )
        return job_id

    async def renew(self, job_id: str, owner: str, now_ms: int) -> bool:
        renewed = await self.pool.fetchval(
            RENEW_LEASE, job_id, owner, when(now_ms + int(LEASE_S * 1000))
        )
        return renewed is not None

    async def grant_batch(self, job_id: str, size: int = BATCH) -> BatchResult:
        """Grants up to `size` due members of the job that no other worker holds, and records
        their outcomes with the job's counters, in one transaction (see the module's doc)."""
        async with self.pool.acquire() as conn, conn.transaction():
            job = await conn.fetchrow(BATCH_JOB, job_id)
            if job is None or job["state"] != "running":
                return BatchResult(0, 0, True)
            members: list[str] = [r["member_id"] for r in await conn.fetch(TAKE_DUE, job_id, size)]
            if not members:
                finished = await conn.fetchval(FINISH, job_id, when(self.clock.now_ms()))
                return BatchResult(0, 0, finished is not None)
            keys = [job_key(job_id, member) for member in members]
            found: dict[str, str] = {
                r["idempotency_key"]: r["coupon_code"] for r in await conn.fetch(GRANTED, keys)
            }
            outcomes = await asyncio.gather(
                *(
                    self._grant(job, member, key, found)
                    for member, key in zip(members, keys, strict=True)
                )
            )
            settled = [o for o in outcomes if o.coupon_code is not None or o.reason is not None]
            unknown = len(outcomes) - len(settled)
            if unknown:
                log.warning("job %s: %d grants had no answer; they stay due", job_id, unknown)
            if not settled:
                return BatchResult(0, unknown, False)
            state = await conn.fetchval(
                RECORD,
                job_id,
                [o.member_id for o in settled],
                ["granted" if o.coupon_code is not None else "rejected" for o in settled],
                [o.reason for o in settled],
                [o.coupon_code for o in settled],
                when(self.clock.now_ms()),
            )
        return BatchResult(len(settled), unknown, state == "done")

    async def _grant(
        self, job: asyncpg.Record, member_id: str, key: str, found: dict[str, str]
    ) -> Outcome:
        """The member's outcome: its coupon found in the ledger, or granted (the `grant` event
        names the job's operator as its actor)."""
        code = found.get(key)
        if code is not None:
            return Outcome(member_id, coupon_code=code)
        try:
            coupon: Coupon = await self.claims.grant_keyed(
                job["campaign_id"], member_id, job["channel"], key, job["actor"] or ""
            )
        except Unavailable:
            return Outcome(member_id)  # stays due: the next attempt has the same key
        except GatewayError as refusal:  # sold_out, limit_reached, not_live, ...
            return Outcome(member_id, reason=refusal.code)
        return Outcome(member_id, coupon_code=coupon.code)
