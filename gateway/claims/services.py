"""The claim hot path: the Python side of the claim pipeline.

A claim becomes a ticket submitted to the native claim pipeline (`gateway.native.ClaimPipe`,
`native/src/claimpipe`): its Rust threads gather every claim submitted since their last round
trip into one pipelined Redis write (one EVALSHA of `claim_coupons.lua` per campaign), make the
coupon codes, and hand the coupons to ledger writers that commit them to Postgres in batches.
The event loop only submits, waits on a future, and is woken through an eventfd when results
are ready. Under `ledger` durability a claim is answered once its coupon is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os

import asyncpg
import redis.asyncio as redis

from gateway.batching import Tick
from gateway.checkout import idempotency
from gateway.claims.schemas import GrantRejection, GrantResult
from gateway.clock import Clock
from gateway.coupons.schemas import Coupon
from gateway.errors import CampaignNotFound, GatewayError, LedgerUnavailable, Unavailable
from gateway.native import (
    COMPLETION_ALERT,
    COMPLETION_COUPON,
    COMPLETION_FAILED,
    COMPLETION_REFUSED,
    ClaimPipe,
    Completion,
)
from gateway.ops.metrics import metrics
from gateway.settings import Settings
from gateway.store import redis as keys
from gateway.store.buckets import refill
from gateway.store.fence import report_forever, worker_id
from gateway.store.reconcile import rebuild_campaigns
from gateway.store.redis import Scripts, bucket_of
from gateway.wire import encoder, iso_ms

log = logging.getLogger(__name__)

CAMPAIGN_STATUS = "SELECT status FROM campaigns WHERE id = $1"
CAMPAIGN_GATES = "SELECT link_only, points_price FROM campaigns WHERE id = $1"
CAMPAIGN_BUCKETS = "SELECT buckets FROM campaigns WHERE id = $1"
INSERT_ALERT = """
INSERT INTO events (kind, campaign_id, detail, dedup_key) VALUES ($1, $2, $3, $4)
ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
"""

REFUSALS: dict[str, tuple[int, str]] = {
    "campaign_not_found": (404, "the campaign does not exist"),
    "not_live": (409, "the campaign is not live"),
    "not_started": (409, "claims for this campaign have not started yet"),
    "ended": (409, "claims for this campaign have ended"),
    "sold_out": (409, "the campaign is sold out"),
    "limit_reached": (409, "the member already holds the most coupons this campaign allows"),
    "idempotency_mismatch": (409, "this Idempotency-Key was used with a different body"),
}

#: Resubmits of a claim whose bucket ran dry, each after a refill moved stock into it.
DRY_RETRIES = 3


def body_hash(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=12).hexdigest()


class ClaimService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: redis.Redis,
        scripts: Scripts,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.pool = pool
        self.redis = client
        self.scripts = scripts
        self.settings = settings
        self.clock = clock
        self.wait_for_ledger = settings.claim_durability == "ledger"
        self.timeout_s = settings.ledger_timeout_ms / 1000
        self._waiting: dict[int, asyncio.Future[Completion]] = {}
        #: The tickets submitted in this event-loop tick (`_end_tick` kicks the pipeline).
        self._tick: Tick[int] = Tick(self._end_tick)
        self._ticket = 0
        #: Each published campaign's (kind, transferable, buckets): none of them changes.
        self._static: dict[str, tuple[str, bool, int]] = {}
        #: Each campaign's gates, (`link_only`, has a `points_price`), read once: neither
        #: changes after creation.
        self.gates: dict[str, tuple[bool, bool]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._rebuilding: set[str] = set()
        #: Campaigns of K > 1 buckets whose `sold_out` alert this process raised.
        self._sold_out_seen: set[str] = set()
        self._fd = -1
        self._pipe: ClaimPipe | None = None
        self._report: asyncio.Task[None] | None = None

    # -- the pipeline ----------------------------------------------------------------------

    def start(self) -> None:
        """Starts the pipeline's threads and has the event loop watch its eventfd."""
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._pipe = ClaimPipe(
            redis_url=self.settings.redis_url,
            database_url=self.settings.database_url,
            script_sha=self.scripts.claim_coupons.sha,
            script_source=self.scripts.claim_coupons.source,
            idempotency_ttl_s=self.settings.idempotency_ttl_s,
            wait_for_ledger=self.wait_for_ledger,
            writers=self.settings.ledger_writers,
            batch_max=self.settings.ledger_batch_max,
            wake_fd=self._fd,
            cluster=self.settings.redis_cluster,
        )
        asyncio.get_running_loop().add_reader(self._fd, self._drain)
        metrics.pipe_counters = self._pipe.counters
        self._report = asyncio.get_running_loop().create_task(
            report_forever(self.pool, worker_id(), self._pipe.inflight), name="ledger-fence"
        )

    async def close(self) -> None:
        """Stops the threads; coupons not yet written stay in the Redis stream for recovery."""
        pipe, self._pipe = self._pipe, None
        if pipe is None:
            return
        asyncio.get_running_loop().remove_reader(self._fd)
        metrics.pipe_counters = None
        await asyncio.to_thread(pipe.stop)
        if self._report is not None:
            self._report.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._report
        self._drain_outcomes(pipe.take())
        os.close(self._fd)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(Unavailable("the gateway is shutting down, retry"))
        self._waiting.clear()

    def _enqueue(
        self,
        campaign_id: str,
        grant: bool,
        member_id: str,
        channel: str,
        idem: str,
        h: str,
        actor: str,
        bucket: int,
    ) -> asyncio.Future[Completion]:
        pipe = self._pipe
        if pipe is None:
            raise Unavailable("the gateway is starting or stopping, retry")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        self._ticket += 1
        ticket = self._ticket
        self._waiting[ticket] = future
        pipe.submit(
            ticket,
            campaign_id,
            grant,
            member_id,
            channel,
            idem,
            h,
            self.clock.now_ms(),
            actor,
            bucket,
        )
        self._tick.add(ticket, loop)
        return future

    def _end_tick(self, tickets: list[int]) -> None:
        """Sends the tick's claims; they share one time-out timer (a timer per request costs
        the hot path more than the whole wait otherwise does)."""
        if self._pipe is not None:
            self._pipe.kick()
        asyncio.get_running_loop().call_later(self.timeout_s, self._time_out, tickets)

    def _time_out(self, tickets: list[int]) -> None:
        for ticket in tickets:
            future = self._waiting.pop(ticket, None)
            if future is None or future.done():
                continue
            if self.wait_for_ledger:
                future.set_exception(
                    LedgerUnavailable(
                        "the ledger did not confirm the coupon in time; it is held and will be "
                        "written: retry with the same Idempotency-Key to get it"
                    )
                )
            else:
                future.set_exception(Unavailable("Redis did not answer in time, retry"))

    def _drain(self) -> None:
        try:  # noqa: SIM105 - cheaper than contextlib.suppress on the hot path
            os.eventfd_read(self._fd)
        except BlockingIOError:
            pass
        if self._pipe is not None:
            self._drain_outcomes(self._pipe.take())

    def _drain_outcomes(self, outcomes: list[Completion]) -> None:
        waiting = self._waiting
        for outcome in outcomes:
            ticket = outcome.ticket
            if ticket:
                future = waiting.pop(ticket, None)
                if future is not None and not future.done():
                    future.set_result(outcome)
            elif outcome.kind == COMPLETION_ALERT:
                self._alert(outcome.campaign_id, outcome.fired)
            else:
                log.warning("claim pipeline: %s", outcome.message)

    async def _submit(
        self,
        campaign_id: str,
        grant: bool,
        member_id: str,
        channel: str,
        idem: str,
        h: str,
        actor: str,
        buckets: int,
    ) -> Completion | None:
        """Submits one claim in the member's bucket and waits for it. A bucket that ran dry is
        refilled from the others and the claim sent again (at most `DRY_RETRIES` times); None:
        every bucket is out (the campaign is sold out)."""
        bucket = bucket_of(member_id, buckets) if buckets > 1 else 0
        outcome = await self._enqueue(
            campaign_id, grant, member_id, channel, idem, h, actor, bucket
        )
        if outcome.kind != COMPLETION_REFUSED or outcome.reason != "bucket_dry":
            return outcome
        for _ in range(DRY_RETRIES):
            if not await refill(self.redis, self.scripts, campaign_id, bucket, buckets):
                self._sold_out(campaign_id)
                return None
            outcome = await self._enqueue(
                campaign_id, grant, member_id, channel, idem, h, actor, bucket
            )
            if outcome.kind != COMPLETION_REFUSED or outcome.reason != "bucket_dry":
                return outcome
        # Still dry after its refills (others took the stock moved in): sold out only if no
        # bucket has any left; else the claim answers 503 `bucket_dry`, to retry.
        if not await refill(self.redis, self.scripts, campaign_id, bucket, buckets):
            self._sold_out(campaign_id)
            return None
        return outcome

    def _sold_out(self, campaign_id: str) -> None:
        """Every bucket of the campaign is out: its `sold_out` alert, once per process (the
        script fires it only for one bucket; the event's dedup key keeps one per campaign)."""
        if campaign_id not in self._sold_out_seen:
            self._sold_out_seen.add(campaign_id)
            self._alert(campaign_id, 2)

    # -- answering -------------------------------------------------------------------------

    async def claim(
        self,
        campaign_id: str,
        member_id: str,
        channel: str,
        idem: str | None,
        body: bytes,
        actor: str = "",
    ) -> Coupon:
        """Claims one coupon; `actor` (the API key's name) is what its `claim` event records
        (empty: none, as for the member's pages)."""
        h = body_hash(body) if idem is not None else ""
        # Read before any stock is taken: nothing may fail between the script and the answer
        # but the ledger wait, whose 503 the Idempotency-Key recovers.
        # A dict hit on the hot path; the coroutine only the first time per campaign.
        static = self._static.get(campaign_id) or await self._static_fields(campaign_id)
        kind, transferable, buckets = static
        outcome = await self._submit(
            campaign_id, False, member_id, channel, idem or "", h, actor, buckets
        )
        if outcome is None or outcome.kind != COMPLETION_COUPON:
            raise await self._failure(campaign_id, outcome)
        if not kind:  # published between the read and the script: read it again
            kind, transferable, _ = await self._static_fields(campaign_id)
        return self._coupon(campaign_id, outcome, kind, transferable)

    async def grant(
        self,
        campaign_id: str,
        member_ids: list[str],
        channel: str,
        actor: str = "",
        idem: str = "",
    ) -> tuple[list[Coupon], list[tuple[str, str]]]:
        """Grants one coupon to each member; `actor` (the clerk's key name) is what each
        `grant` event records, and what the clerks' report groups by. `idem`: the request's
        Idempotency-Key; each place of the list is then granted under `grant:<idem>:<place>`,
        so a retry (after a crash, a lost answer) answers the same coupons, none twice."""
        kind, transferable, buckets = await self._static_fields(campaign_id)
        futures = [
            self._submit(
                campaign_id,
                True,
                member,
                channel,
                f"grant:{idem}:{place}" if idem else "",
                f"grant:{member}" if idem else "",
                actor,
                buckets,
            )
            for place, member in enumerate(member_ids)
        ]
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # ledger_unavailable: the granted coupons are held, not lost
        coupons: list[Completion] = []
        rejected: list[tuple[str, str]] = []
        for member, outcome in zip(member_ids, outcomes, strict=True):
            assert not isinstance(outcome, BaseException)
            if outcome is None:
                rejected.append((member, "sold_out"))
            elif outcome.kind == COMPLETION_COUPON:
                coupons.append(outcome)
            elif outcome.kind == COMPLETION_FAILED or outcome.reason in (
                "campaign_not_found",
                "stale_hot_state",
                "bucket_dry",
            ):
                raise await self._failure(campaign_id, outcome)
            else:
                rejected.append((member, outcome.reason))
        if coupons and not kind:
            kind, transferable, _ = await self._static_fields(campaign_id)
        return [self._coupon(campaign_id, c, kind, transferable) for c in coupons], rejected

    async def grant_once(
        self, campaign_id: str, member_ids: list[str], channel: str, actor: str, key: str
    ) -> tuple[int, bytes]:
        """A grant under an Idempotency-Key: (200, the encoded GrantResult). The same key with
        the same members and channel answers the first grant's body again; with others, 409
        `idempotency_mismatch`. Requests with one key wait for each other (its lock), and each
        place of the list is granted under a key of its own (`grant`), so a retry after a
        crash or a lost answer finds the coupons already granted, none twice."""
        scope = f"grant:{campaign_id}"
        h = idempotency.request_hash(channel.encode(), "\0".join(member_ids).encode())
        async with self.pool.acquire() as conn, conn.transaction():
            earlier = await idempotency.replay(conn, scope, key, h, self.settings.idempotency_ttl_s)
            if earlier is not None:
                return earlier
            granted, rejected = await self.grant(campaign_id, member_ids, channel, actor, key)
            body = encoder.encode(
                GrantResult(
                    granted=granted,
                    rejected=[GrantRejection(member_id=m, reason=r) for m, r in rejected],
                )
            )
            await idempotency.remember(conn, scope, key, h, 200, body)
        return 200, body

    async def grant_keyed(
        self, campaign_id: str, member_id: str, channel: str, idem: str, actor: str = ""
    ) -> Coupon:
        """One grant carrying an idempotency key (a reward's, a job member's): granted again
        with the same key, it answers the same coupon. Refusals raise like claims. `actor`:
        who the `grant` event names (a job's operator), or empty."""
        static = self._static.get(campaign_id) or await self._static_fields(campaign_id)
        kind, transferable, buckets = static
        outcome = await self._submit(
            campaign_id, True, member_id, channel, idem, "grant", actor, buckets
        )
        if outcome is None or outcome.kind != COMPLETION_COUPON:
            raise await self._failure(campaign_id, outcome)
        if not kind:
            kind, transferable, _ = await self._static_fields(campaign_id)
        return self._coupon(campaign_id, outcome, kind, transferable)

    async def _failure(self, campaign_id: str, outcome: Completion | None) -> GatewayError:
        """The error of a claim that got no coupon (None: every bucket is out)."""
        if outcome is None:
            return await self._refusal(campaign_id, "sold_out")
        if outcome.kind == COMPLETION_FAILED:
            return Unavailable(outcome.message)
        return await self._refusal(campaign_id, outcome.reason)

    async def _refusal(self, campaign_id: str, reason: str) -> GatewayError:
        if reason == "bucket_dry":
            return Unavailable("the campaign's stock is being moved to the member's bucket, retry")
        if reason == "stale_hot_state":
            self._rebuild(campaign_id)
            return Unavailable(
                "Redis restarted; the campaign's counters are being rebuilt from the ledger: retry"
            )
        if reason == "campaign_not_found":
            # Drafts have no hot state yet: tell them apart from unknown ids.
            status = await self.pool.fetchval(CAMPAIGN_STATUS, campaign_id)
            if status is None:
                return CampaignNotFound(f"campaign {campaign_id!r} does not exist")
            if status in ("live", "paused"):
                # Published, yet Redis has no state of it: Redis lost its data.
                self._rebuild(campaign_id)
                return Unavailable(
                    "Redis lost the campaign's counters; they are being rebuilt from the "
                    "ledger: retry"
                )
            reason = "not_live"
        status_code, detail = REFUSALS[reason]
        return GatewayError(detail, code=reason, status=status_code)

    async def refusal(self, campaign_id: str, reason: str) -> GatewayError:
        """The error a claim refused for `reason` answers (an exchange's replay of its
        refusal uses it too)."""
        if reason not in REFUSALS and reason not in (
            "stale_hot_state",
            "campaign_not_found",
            "bucket_dry",
        ):
            return GatewayError(f"the claim was refused: {reason}", code=reason, status=409)
        return await self._refusal(campaign_id, reason)

    async def _static_fields(self, campaign_id: str) -> tuple[str, bool, int]:
        """(kind, transferable, buckets) from bucket 0's hot state, remembered."""
        static = self._static.get(campaign_id)
        if static is None:
            kind, transferable, buckets = await self.redis.hmget(
                keys.meta_key(campaign_id), "kind", "transferable", "buckets"
            )
            if not isinstance(kind, bytes):
                # No hot state: a draft or an unknown id; the script's refusal says which. The
                # buckets come from the ledger: a campaign published meanwhile must still send
                # each member to their own bucket.
                count = await self.pool.fetchval(CAMPAIGN_BUCKETS, campaign_id)
                return ("", False, int(count or 1))
            static = self._static[campaign_id] = (
                kind.decode(),
                transferable == b"1",
                int(buckets or 1),
            )
        return static

    async def read_gates(self, campaign_id: str) -> tuple[bool, bool]:
        """Whether claims of the campaign need its link token, and whether its coupons are
        exchanged for points (remembered in `gates`): from the hot state once published, so a
        sale needs no Postgres for them; from the ledger before that. An unknown id is not
        remembered (its claim is refused `campaign_not_found`)."""
        linked, price = await self.redis.hmget(
            keys.meta_key(campaign_id), "link_only", "points_price"
        )
        if linked is not None:
            gates = (linked == b"1", price not in (None, b"0"))
        else:
            row = await self.pool.fetchrow(CAMPAIGN_GATES, campaign_id)
            if row is None:
                return (False, False)
            gates = (bool(row["link_only"]), row["points_price"] is not None)
        self.gates[campaign_id] = gates
        return gates

    def _coupon(self, campaign_id: str, c: Completion, kind: str, transferable: bool) -> Coupon:
        return Coupon(
            code=c.code,
            campaign_id=campaign_id,
            member_id=c.member_id,
            kind=kind,
            state="active",
            valid_from=iso_ms(c.valid_from_ms),
            valid_until=iso_ms(c.valid_until_ms),
            claimed_at=iso_ms(c.claimed_ms),
            channel=c.channel,
            transferable=transferable,
            transferred_from=None,
        )

    def _rebuild(self, campaign_id: str) -> None:
        """Rebuilds a stale hot state in the background, one rebuild per campaign at a time."""
        if campaign_id in self._rebuilding:
            return
        self._rebuilding.add(campaign_id)

        async def rebuild() -> None:
            try:
                report = await rebuild_campaigns(self.pool, self.redis, self.scripts, [campaign_id])
                for line in report:
                    log.warning("rebuild: %s", line)
            except Exception as exc:  # noqa: BLE001 - the next refused claim tries again
                log.warning("could not rebuild the hot state of %s: %r", campaign_id, exc)
            finally:
                self._rebuilding.discard(campaign_id)

        task = asyncio.get_running_loop().create_task(rebuild())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _alert(self, campaign_id: str, fired: int) -> None:
        for bit, kind in ((1, "low_stock"), (2, "sold_out")):
            if fired & bit:
                log.warning("campaign %s: %s", campaign_id, kind)
                metrics.alerts[(campaign_id, kind)] += 1
                task = asyncio.get_running_loop().create_task(self._alert_event(campaign_id, kind))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _alert_event(self, campaign_id: str, kind: str) -> None:
        try:
            await self.pool.execute(INSERT_ALERT, kind, campaign_id, None, f"{kind}:{campaign_id}")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not record %s event of %s: %s", kind, campaign_id, exc)
