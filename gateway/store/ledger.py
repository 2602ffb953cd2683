"""The ledger writer: claims go from the worker that ran the script straight to Postgres.

The claim script's stream entry is the crash log. The worker that ran the script already holds
the claim in memory, so its writer batches claims to Postgres (one statement per batch; replays
are harmless thanks to `ON CONFLICT DO NOTHING`) and then deletes their stream entries. While a
batch commits the next one gathers: one commit serves every request waiting in it (group commit).
Only recovery reads the stream back: entries older than a few seconds were left by a worker that
died, and are written the same idempotent way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as redis

from gateway.errors import LedgerUnavailable
from gateway.ops.metrics import metrics
from gateway.store import redis as keys
from gateway.store.redis import pipelined

log = logging.getLogger(__name__)

# One statement per batch: the coupons, and a claim/grant event for each coupon that is new
# (a replayed batch inserts no coupon, hence no event).
WRITE_COUPONS = """
WITH batch AS (
    -- DISTINCT: a replayed claim can share a batch with its first answer.
    SELECT DISTINCT ON (code) *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                $7::text[], $8::text[], $9::text[])
        AS b(code, campaign_id, member_id, claimed_ms, from_ms, until_ms, channel, source, idem)
), inserted AS (
    INSERT INTO coupons (code, campaign_id, member_id, state, valid_from, valid_until, claimed_at,
                         channel, transferable, source)
    SELECT b.code, b.campaign_id, b.member_id, 'active',
           to_timestamp(b.from_ms / 1000.0), to_timestamp(b.until_ms / 1000.0),
           to_timestamp(b.claimed_ms / 1000.0), b.channel, c.transferable, b.source
    FROM batch b JOIN campaigns c ON c.id = b.campaign_id
    ON CONFLICT (code) DO NOTHING
    RETURNING code, campaign_id, member_id, claimed_at, source, channel
)
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, idempotency_key, detail)
SELECT i.source, i.claimed_at, i.campaign_id, i.code, i.member_id, NULLIF(b.idem, ''),
       jsonb_build_object('channel', i.channel)
FROM inserted i JOIN batch b USING (code)
"""
NON_DRAFT_CAMPAIGNS = "SELECT id FROM campaigns WHERE status <> 'draft'"

# Longest a batch may take before the writer gives up on it and retries.
_WRITE_TIMEOUT_S = 5.0
# Batches in flight at once (see `LedgerWriter.run`).
_WRITERS = 3


@dataclass(slots=True)
class LedgerRow:
    """One coupon on its way to Postgres."""

    code: str
    campaign_id: str
    member_id: str
    claimed_ms: int
    from_ms: int
    until_ms: int
    channel: str
    source: str
    idem: str = ""
    stream_id: bytes | None = None
    # Completed with this row once it is committed (or failed with 503 after the time-out).
    done: asyncio.Future[Any] | None = field(default=None)


class LedgerWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: redis.Redis,
        batch_max: int,
        recovery_age_ms: int,
        timeout_ms: int,
    ) -> None:
        self.pool = pool
        self.redis = client
        self.batch_max = batch_max
        self.recovery_age_ms = recovery_age_ms
        self.timeout_s = timeout_ms / 1000
        self._queue: list[LedgerRow] = []
        self._wake = asyncio.Event()
        self._tick_waiters: list[asyncio.Future[Any]] = []
        self._deletes: defaultdict[str, list[bytes]] = defaultdict(list)
        self._delete_timer = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.healthy = True

    def append(self, row: LedgerRow, done: asyncio.Future[Any] | None = None) -> None:
        """Queues a row. `done`, when given, gets the row once its batch has committed, or
        fails with 503 `ledger_unavailable` after the ledger time-out.

        The rows of one event-loop tick share one timer: a timer per request costs the hot path
        more than the whole wait otherwise does.
        """
        if done is not None:
            row.done = done
            if not self._tick_waiters:
                loop = asyncio.get_running_loop()
                loop.call_later(self.timeout_s, _time_out, self._tick_waiters)
                loop.call_soon(self._new_tick)
            self._tick_waiters.append(done)
        self._queue.append(row)
        self._wake.set()

    def _new_tick(self) -> None:
        self._tick_waiters = []

    async def run(self, writers: int = _WRITERS) -> None:
        """The background task: `writers` loops, each writing whatever gathered while the
        others were committing. One writer would make every claim wait for the batch before
        its own; a few in flight keep group commit and cut that wait."""
        await asyncio.gather(*(self._writer() for _ in range(writers)))

    async def _writer(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self.batch_max]
                del self._queue[: self.batch_max]
                try:
                    # Bounded: a connection dying mid-statement must not stall the writer.
                    async with asyncio.timeout(_WRITE_TIMEOUT_S):
                        await write_rows(self.pool, batch)
                except Exception as exc:  # noqa: BLE001 - the writer must outlive any failure
                    # Postgres is away: keep the rows (their stream entries stay too) and retry.
                    metrics.ledger_failures += 1
                    if self.healthy:
                        log.warning("ledger write failed, will retry: %r", exc)
                    self.healthy = False
                    self._queue[:0] = batch
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)
                    continue
                if not self.healthy:
                    log.warning("ledger writes resumed")
                self.healthy = True
                backoff = 0.05
                for row in batch:
                    if row.done is not None and not row.done.done():
                        row.done.set_result(row)
                self._forget(batch)

    def _forget(self, batch: list[LedgerRow]) -> None:
        """Queues the XDEL of the committed rows' stream entries. They ride along with the next
        claim round trip; when none comes soon, `_flush_deletes` sends them alone. (Best effort:
        an entry left behind is rewritten harmlessly by recovery.)"""
        for row in batch:
            if row.stream_id is not None:
                self._deletes[row.campaign_id].append(row.stream_id)
        if self._deletes and not self._delete_timer:
            self._delete_timer = True
            asyncio.get_running_loop().call_later(0.05, self._spawn_delete_flush)

    def take_deletes(self) -> list[tuple[Any, ...]]:
        """The pending XDEL commands, for the caller to send."""
        if not self._deletes:
            return []
        commands = [
            ("XDEL", keys.ledger_key(campaign_id), *ids)
            for campaign_id, ids in self._deletes.items()
        ]
        self._deletes = defaultdict(list)
        return commands

    def _spawn_delete_flush(self) -> None:
        self._delete_timer = False
        if self._deletes:
            task = asyncio.get_running_loop().create_task(self._flush_deletes())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush_deletes(self) -> None:
        commands = self.take_deletes()
        try:
            await pipelined(self.redis, commands)
        except (OSError, redis.RedisError) as exc:
            log.warning("could not delete ledger stream entries (recovery will): %s", exc)

    async def recover_forever(self, interval_s: float) -> None:
        """Periodically drains stream entries that no live worker is writing."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                async with asyncio.timeout(_WRITE_TIMEOUT_S * 4):
                    await recover(self.pool, self.redis, self.recovery_age_ms)
            except Exception as exc:  # noqa: BLE001 - recovery must outlive any failure
                log.warning("ledger recovery failed, will retry: %r", exc)


def _time_out(waiters: list[asyncio.Future[Any]]) -> None:
    for future in waiters:
        if not future.done():
            future.set_exception(
                LedgerUnavailable(
                    "the ledger did not confirm the coupon in time; it is held and will be "
                    "written: retry with the same Idempotency-Key to get it"
                )
            )


async def write_rows(pool: asyncpg.Pool, rows: list[LedgerRow]) -> None:
    await pool.execute(
        WRITE_COUPONS,
        [r.code for r in rows],
        [r.campaign_id for r in rows],
        [r.member_id for r in rows],
        [r.claimed_ms for r in rows],
        [r.from_ms for r in rows],
        [r.until_ms for r in rows],
        [r.channel for r in rows],
        [r.source for r in rows],
        [r.idem for r in rows],
    )
    metrics.ledger_batches += 1
    metrics.ledger_rows += len(rows)


def row_from_entry(campaign_id: str, entry_id: bytes, fields: dict[bytes, bytes]) -> LedgerRow:
    return LedgerRow(
        code=fields[b"c"].decode(),
        campaign_id=campaign_id,
        member_id=fields[b"m"].decode(),
        claimed_ms=int(fields[b"t"]),
        from_ms=int(fields[b"f"]),
        until_ms=int(fields[b"u"]),
        channel=fields[b"h"].decode(),
        source=fields[b"s"].decode(),
        stream_id=entry_id,
    )


async def recover(pool: asyncpg.Pool, client: redis.Redis, older_than_ms: int) -> int:
    """Writes and deletes stream entries older than `older_than_ms`; returns how many."""
    total = 0
    for record in await pool.fetch(NON_DRAFT_CAMPAIGNS):
        campaign_id = record["id"]
        stream = keys.ledger_key(campaign_id)
        while True:
            now_ms = int((await client.time())[0]) * 1000
            upto = f"{max(now_ms - older_than_ms, 0)}" if older_than_ms > 0 else "+"
            entries: list[tuple[bytes, dict[bytes, bytes]]] = await client.xrange(  # type: ignore[assignment]  # bytes: the client does not decode
                stream, "-", upto, count=1000
            )
            if not entries:
                break
            rows = [row_from_entry(campaign_id, eid, fields) for eid, fields in entries]
            await write_rows(pool, rows)
            await client.xdel(stream, *[r.stream_id for r in rows if r.stream_id])
            total += len(rows)
            if len(entries) < 1000:
                break
    if total:
        log.info("ledger recovery wrote %d entries left in the streams", total)
    return total
