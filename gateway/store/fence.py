"""The ledger fence: a rebuild of a campaign's Redis counters waits until no worker holds a
claim of it between Redis and Postgres.

After a Redis crash the AOF (`appendfsync everysec`) may lack its last second: coupons whose
stream entries and counters Redis lost, but that a worker's claim pipeline still holds on their
way to Postgres. Counting the ledger then would miss them and oversell by as many. So every
worker reports twice a second which campaigns it holds claims of (`ClaimPipe.inflight`), and a
rebuild:

1. raises a fence (a new `ledger_fences.seq`, numbered in commit order under an advisory lock);
2. waits until every live worker has reported a snapshot taken after reading that fence, in
   which the campaign is not in flight. The fence was raised after the crash (the rebuild starts
   when a claim finds the state stale), so such a snapshot counts every claim sent before it;
   the campaign's claims are refused while it is rebuilt, so none is sent after.

A worker that stops reporting for `dead_after_s` has died: what it held in memory is gone with
it, and its stream entries (if Redis kept them) are drained by the rebuild.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

import asyncpg

from gateway.errors import Unavailable

log = logging.getLogger(__name__)

_FENCE_LOCK = 7_310_002

LATEST_FENCE = "SELECT coalesce(max(seq), 0) FROM ledger_fences"
REPORT = """
INSERT INTO ledger_workers (worker_id, seen_at, fence_seen, inflight) VALUES ($1, now(), $2, $3)
ON CONFLICT (worker_id) DO UPDATE SET seen_at = now(), fence_seen = $2, inflight = $3
"""
FORGET = "DELETE FROM ledger_workers WHERE worker_id = $1"
PRUNE = """
WITH gone AS (DELETE FROM ledger_workers WHERE seen_at < now() - interval '1 hour')
DELETE FROM ledger_fences WHERE raised_at < now() - interval '1 day'
"""
LOCK_FENCES = "SELECT pg_advisory_xact_lock($1)"
RAISE = "INSERT INTO ledger_fences (campaign_id) VALUES ($1) RETURNING seq"
# Live workers whose last report does not yet clear the fence for these campaigns.
HOLDING = """
SELECT worker_id FROM ledger_workers
WHERE seen_at > now() - make_interval(secs => $3::float8)
  AND (fence_seen < $1 OR inflight && $2::text[])
"""

#: How often a worker reports.
REPORT_INTERVAL_S = 0.5


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


async def report_forever(
    pool: asyncpg.Pool, worker: str, inflight: Callable[[], list[str]]
) -> None:
    """The worker's reports; forgets the worker when cancelled (a clean stop)."""
    last_prune = 0.0
    try:
        while True:
            try:
                fence = await pool.fetchval(LATEST_FENCE)
                # The snapshot after the fence was read: see the module's docstring.
                await pool.execute(REPORT, worker, fence, inflight())
                if time.monotonic() - last_prune > 600:
                    last_prune = time.monotonic()
                    await pool.execute(PRUNE)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("ledger fence report failed, will retry: %r", exc)
            await asyncio.sleep(REPORT_INTERVAL_S)
    finally:
        try:
            async with asyncio.timeout(2):
                await pool.execute(FORGET, worker)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass  # it will read as dead after `dead_after_s`


async def wait_at_fence(
    pool: asyncpg.Pool, campaign_ids: list[str], dead_after_s: float, timeout_s: float
) -> None:
    """Returns once no live worker holds a claim of `campaign_ids` that is not in the ledger;
    raises `Unavailable` after `timeout_s` (Postgres away, a worker that cannot write)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(LOCK_FENCES, _FENCE_LOCK)
        seq = await conn.fetchval(RAISE, ",".join(campaign_ids)[:1000])
    deadline = time.monotonic() + timeout_s
    while True:
        holding = await pool.fetch(HOLDING, seq, campaign_ids, dead_after_s)
        if not holding:
            return
        if time.monotonic() > deadline:
            raise Unavailable(
                f"{len(holding)} gateway worker(s) still hold claims of the campaign that are "
                "not in the ledger yet; its counters cannot be rebuilt until they are: retry"
            )
        await asyncio.sleep(0.05)
