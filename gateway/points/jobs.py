"""The programme's scheduled work, run by every worker, each piece claimed by one.

- `sweep_points`: pending lots whose return window has passed start to count, and lots past
  their expiry leave the balance: a batch of members at a time, under their row locks, in one
  statement (`gw_points_sweep`, store/migrations/018_sweep_review.sql: the rows
  `gw_points_lock` writes for each member); members another worker holds are skipped (SKIP
  LOCKED);
- exchanges left pending by a crash or a time-out are finished (`ExchangeService`);
- the tier review at each anniversary of `tier_since` (`gateway.tiers.review`).

Every pass reads the injectable clock, so tests move time instead of waiting, and may call each
job directly. Reads never wait for a sweep: they bring a member's lots up to date themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from gateway.clock import Clock
from gateway.wire import when

log = logging.getLogger(__name__)

# Members with a lot due to count or to expire at $1 (each half served by its own index).
DUE_MEMBERS = """
SELECT member_id FROM (
    (SELECT member_id FROM point_lots
     WHERE pending AND remaining > 0 AND counts_from <= $1 ORDER BY counts_from LIMIT $2)
    UNION
    (SELECT member_id FROM point_lots
     WHERE NOT pending AND remaining > 0 AND expires_at < $1 ORDER BY expires_at LIMIT $2)
) due
"""
# The batch's members that no other worker holds, locked in member order, brought up to $2;
# how many it locked.
SETTLE_DUE = "SELECT gw_points_sweep($1::text[], $2)"


async def sweep_points(pool: asyncpg.Pool, now_ms: int, batch: int = 500) -> int:
    """Brings every member with a lot due at `now_ms` up to date; how many members."""
    now = when(now_ms)
    total = 0
    while True:
        members = [r["member_id"] for r in await pool.fetch(DUE_MEMBERS, now, batch)]
        if not members:
            return total
        async with pool.acquire() as conn, conn.transaction():
            done: int = await conn.fetchval(SETTLE_DUE, members, now)
        total += done
        if done == 0:  # every due member is being handled by another worker
            return total


Job = Callable[[int], Awaitable[object]]


async def run_forever(clock: Clock, jobs: list[tuple[str, float, Job]]) -> None:
    """Runs each (name, every_s, job(now_ms)) every `every_s` seconds of the process's time;
    a failed pass is logged and tried again at the next."""
    last: dict[str, float] = {}
    while True:
        loop_now = asyncio.get_running_loop().time()
        for name, every_s, job in jobs:
            if loop_now - last.get(name, float("-inf")) < every_s:
                continue
            last[name] = loop_now
            try:
                await job(clock.now_ms())
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("scheduled job %s failed, will retry: %s", name, exc)
            except Exception:
                log.exception("scheduled job %s failed", name)
        await asyncio.sleep(0.5)
