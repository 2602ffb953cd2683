"""The claim hot path: claims gathered per event-loop tick, one script call per campaign.

Every claim that arrives in the same tick joins one pipelined round trip to Redis, and each
campaign's claims in it go through a single EVALSHA of `claim_coupons.lua`, which checks and
takes stock for each of them atomically. The coupon codes are made before the call (native
CSPRNG), so the script stays deterministic. Under `ledger` durability a claim is answered once
the ledger writer's batch holding it has committed in Postgres.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as redis
from redis.exceptions import NoScriptError, RedisError

from gateway.clock import Clock
from gateway.coupons.schemas import Coupon
from gateway.errors import CampaignNotFound, GatewayError, Unavailable
from gateway.native import new_codes
from gateway.ops.metrics import metrics
from gateway.settings import Settings
from gateway.store import redis as keys
from gateway.store.ledger import LedgerRow, LedgerWriter
from gateway.store.reconcile import reconcile_campaign
from gateway.store.redis import Scripts, pipelined
from gateway.wire import iso_ms

log = logging.getLogger(__name__)

CAMPAIGN_STATUS = "SELECT status FROM campaigns WHERE id = $1"
INSERT_ALERT = """
INSERT INTO events (kind, campaign_id, detail, dedup_key) VALUES ($1, $2, $3, $4)
ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
"""

# Most claims of one campaign in one script call (keeps each call's Redis time short).
_CHUNK = 256

REFUSALS: dict[str, tuple[int, str]] = {
    "campaign_not_found": (404, "the campaign does not exist"),
    "not_live": (409, "the campaign is not live"),
    "not_started": (409, "claims for this campaign have not started yet"),
    "ended": (409, "claims for this campaign have ended"),
    "sold_out": (409, "the campaign is sold out"),
    "limit_reached": (409, "the member already holds the most coupons this campaign allows"),
    "idempotency_mismatch": (409, "this Idempotency-Key was used with a different body"),
}


@dataclass(slots=True)
class _Job:
    """One claim or grant on its way: the future ends with its `LedgerRow` (once durable under
    `ledger` durability) or with the script's refusal, `[0, reason]`."""

    member_id: str
    channel: str
    code: str
    idem: str
    idem_key: str | None
    idem_hash: str
    future: asyncio.Future[LedgerRow | list[Any]]


def body_hash(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=12).hexdigest()


class ClaimService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: redis.Redis,
        scripts: Scripts,
        ledger: LedgerWriter,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.pool = pool
        self.redis = client
        self.scripts = scripts
        self.ledger = ledger
        self.clock = clock
        self.wait_for_ledger = settings.claim_durability == "ledger"
        self.idem_ttl = settings.idempotency_ttl_s
        self._pending: dict[tuple[str, str], list[_Job]] = {}
        self._codes: list[str] = []
        self._static: dict[str, tuple[str, bool]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._rebuilding: set[str] = set()

    # -- gathering -------------------------------------------------------------------------

    def _code(self) -> str:
        if not self._codes:
            self._codes = new_codes(256)
        return self._codes.pop()

    def _enqueue(
        self, campaign_id: str, source: str, member_id: str, channel: str, idem: str | None, h: str
    ) -> asyncio.Future[LedgerRow | list[Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[LedgerRow | list[Any]] = loop.create_future()
        idem_key = keys.idem_key(campaign_id, idem) if idem is not None else None
        job = _Job(member_id, channel, self._code(), idem or "", idem_key, h, future)
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.setdefault((campaign_id, source), []).append(job)
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, {}
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: dict[tuple[str, str], list[_Job]]) -> None:
        now = self.clock.now_ms()
        calls: list[tuple[str, str, list[_Job], tuple[Any, ...]]] = []
        for (campaign_id, source), jobs in batch.items():
            for start in range(0, len(jobs), _CHUNK):
                chunk = jobs[start : start + _CHUNK]
                args = self._call_args(campaign_id, source, now, chunk)
                calls.append((campaign_id, source, chunk, args))
        deletes = self.ledger.take_deletes()
        metrics.claim_round_trips += 1
        metrics.claim_jobs += sum(len(chunk) for _, _, chunk, _ in calls)
        try:
            commands = [args for *_, args in calls] + deletes
            results = await pipelined(self.redis, commands)
            for (campaign_id, source, chunk, args), result in zip(calls, results, strict=False):
                if isinstance(result, NoScriptError):
                    await self.scripts.claim_coupons.load(self.redis)
                    result = await self.scripts.claim_coupons.run_args(self.redis, args)
                if isinstance(result, Exception):
                    raise result
                self._settle(campaign_id, source, chunk, result)
        except (OSError, RedisError) as exc:
            log.warning("claim script failed: %s", exc)
            for _, _, chunk, _ in calls:
                for job in chunk:
                    if not job.future.done():
                        job.future.set_exception(Unavailable("Redis is unavailable, retry"))

    def _settle(self, campaign_id: str, source: str, jobs: list[_Job], outcomes: list[Any]) -> None:
        """Hands each coupon the script made (or replayed) to the ledger writer right here, so
        the request wakes once, when its coupon is durable; refusals are answered at once."""
        fired = 0
        for job, outcome in zip(jobs, outcomes, strict=True):
            if job.future.done():
                continue
            if outcome[0] == 0:
                job.future.set_result(outcome)
                continue
            row = self._ledger_row(campaign_id, source, outcome, job)
            if outcome[0] == 1:
                fired |= int(outcome[7])
            if outcome[0] == 1 or self.wait_for_ledger:
                self.ledger.append(row, job.future if self.wait_for_ledger else None)
            if not self.wait_for_ledger:
                job.future.set_result(row)
        if fired:
            self._alert(campaign_id, fired)

    def _call_args(
        self, campaign_id: str, source: str, now: int, jobs: list[_Job]
    ) -> tuple[Any, ...]:
        script_keys = [
            keys.meta_key(campaign_id),
            keys.members_key(campaign_id),
            keys.ledger_key(campaign_id),
        ]
        records = []
        for job in jobs:
            index = 0
            if job.idem_key is not None:
                script_keys.append(job.idem_key)
                index = len(script_keys)
            fields = (job.member_id, job.code, job.channel, str(index), job.idem_hash or "-")
            records.append("\x1f".join(fields))
        argv = [now, source, self.idem_ttl, len(jobs), "\x1e".join(records)]
        return self.scripts.claim_coupons.args(script_keys, argv)

    # -- answering -------------------------------------------------------------------------

    async def claim(
        self, campaign_id: str, member_id: str, channel: str, idem: str | None, body: bytes
    ) -> Coupon:
        h = body_hash(body) if idem is not None else ""
        # Read before any stock is taken: nothing may fail between the script and the answer
        # but the ledger wait, whose 503 the Idempotency-Key recovers.
        # A dict hit on the hot path; the coroutine only the first time per campaign.
        static = self._static.get(campaign_id) or await self._static_fields(campaign_id)
        kind, transferable = static
        row = await self._enqueue(campaign_id, "claim", member_id, channel, idem, h)
        if not isinstance(row, LedgerRow):
            raise await self._refusal(campaign_id, row[1].decode())
        if not kind:  # published between the read and the script: read it again
            kind, transferable = await self._static_fields(campaign_id)
        return self._coupon(campaign_id, row, kind, transferable)

    async def grant(
        self, campaign_id: str, member_ids: list[str], channel: str
    ) -> tuple[list[Coupon], list[tuple[str, str]]]:
        kind, transferable = await self._static_fields(campaign_id)
        futures = [
            self._enqueue(campaign_id, "grant", member, channel, None, "") for member in member_ids
        ]
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # ledger_unavailable: the granted coupons are held, not lost
        rows: list[LedgerRow] = []
        rejected: list[tuple[str, str]] = []
        for member, outcome in zip(member_ids, outcomes, strict=True):
            if isinstance(outcome, LedgerRow):
                rows.append(outcome)
                continue
            assert isinstance(outcome, list)
            reason = outcome[1].decode()
            if reason in ("campaign_not_found", "stale_hot_state"):
                raise await self._refusal(campaign_id, reason)
            rejected.append((member, reason))
        if rows and not kind:
            kind, transferable = await self._static_fields(campaign_id)
        return [self._coupon(campaign_id, row, kind, transferable) for row in rows], rejected

    def _ledger_row(
        self, campaign_id: str, source: str, outcome: list[Any], job: _Job
    ) -> LedgerRow:
        if outcome[0] == 1:
            return LedgerRow(
                code=job.code,
                campaign_id=campaign_id,
                member_id=job.member_id,
                claimed_ms=int(outcome[2]),
                from_ms=int(outcome[3]),
                until_ms=int(outcome[4]),
                channel=job.channel,
                source=source,
                idem=job.idem,
                stream_id=outcome[5],
            )
        return LedgerRow(  # a replay: the script returned the first claim's record
            code=outcome[1].decode(),
            campaign_id=campaign_id,
            member_id=outcome[5].decode(),
            claimed_ms=int(outcome[2]),
            from_ms=int(outcome[3]),
            until_ms=int(outcome[4]),
            channel=outcome[6].decode(),
            source=outcome[7].decode(),
            idem=job.idem,
        )

    async def _refusal(self, campaign_id: str, reason: str) -> GatewayError:
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
            reason = "not_live"
        status_code, detail = REFUSALS[reason]
        return GatewayError(detail, code=reason, status=status_code)

    async def _static_fields(self, campaign_id: str) -> tuple[str, bool]:
        static = self._static.get(campaign_id)
        if static is None:
            kind, transferable = await self.redis.hmget(
                keys.meta_key(campaign_id), "kind", "transferable"
            )
            if not isinstance(kind, bytes):
                # No hot state: a draft or an unknown id; the script's refusal says which.
                return ("", False)
            static = self._static[campaign_id] = (kind.decode(), transferable == b"1")
        return static

    def _coupon(self, campaign_id: str, row: LedgerRow, kind: str, transferable: bool) -> Coupon:
        return Coupon(
            code=row.code,
            campaign_id=campaign_id,
            member_id=row.member_id,
            kind=kind,
            state="active",
            valid_from=iso_ms(row.from_ms),
            valid_until=iso_ms(row.until_ms),
            claimed_at=iso_ms(row.claimed_ms),
            channel=row.channel,
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
                await reconcile_campaign(self.pool, self.redis, campaign_id)
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
