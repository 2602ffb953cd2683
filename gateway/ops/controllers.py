"""Health, readiness and metrics: no key needed."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response, get
from litestar.datastructures import State

from gateway.ops.metrics import metrics


class OpsController(Controller):
    tags = ["operations"]  # noqa: RUF012 - Litestar reads a plain list

    @get("/healthz", operation_id="healthz")
    async def healthz(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/readyz", operation_id="readyz")
    async def readyz(self, state: State) -> Response[dict[str, str]]:
        """Redis and Postgres are reachable (503 otherwise)."""
        checks = {"redis": "ok", "postgres": "ok"}
        try:
            async with asyncio.timeout(1.0):
                await state.redis.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        try:
            async with asyncio.timeout(1.0):
                await state.pool.fetchval("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - same
            checks["postgres"] = f"unreachable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return Response(
            {"status": "ready" if ready else "unavailable", **checks},
            status_code=200 if ready else 503,
        )

    @get("/metrics", operation_id="metrics", media_type="text/plain; version=0.0.4")
    async def metrics(self) -> str:
        """Prometheus text format: the whole gateway, every worker's counters summed."""
        return await metrics.scrape()
