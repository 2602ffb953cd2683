"""The background task that releases reservations left past their time-out.

Each pass asks `sweep(now)` with the injectable clock's time, so tests that move the clock see
the same behaviour as production, and can call `sweep` directly instead of waiting for a pass.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from gateway.checkout import idempotency
from gateway.checkout.services import sweep
from gateway.clock import Clock

log = logging.getLogger(__name__)

# Forgetting old idempotency keys is housekeeping: once a minute is plenty.
_FORGET_EVERY = 60


async def sweep_forever(
    pool: asyncpg.Pool, clock: Clock, interval_s: float, idempotency_ttl_s: int
) -> None:
    passes = 0
    while True:
        try:
            released = await sweep(pool, clock.now_ms())
            if released:
                log.info("released the coupons of %d expired reservation(s)", released)
            if passes % _FORGET_EVERY == 0:
                await idempotency.forget_old(pool, idempotency_ttl_s)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("reservation sweep failed, will retry: %s", exc)
        passes += 1
        await asyncio.sleep(interval_s)
