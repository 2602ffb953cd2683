"""create_app(): routes, lifespan, exception handlers, OpenAPI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from gateway import i18n
from gateway.auth.services import KeyCache
from gateway.campaigns.controllers import CampaignController
from gateway.campaigns.services import CampaignService
from gateway.checkout.controllers import CheckoutController
from gateway.checkout.services import CheckoutService
from gateway.checkout.sweeper import sweep_forever
from gateway.claims.controllers import ClaimController
from gateway.claims.services import ClaimService
from gateway.clock import clock
from gateway.console.controllers import ConsoleApi, ConsolePage
from gateway.coupons.controllers import CouponController
from gateway.http import MAX_BODY, refusal
from gateway.jobs.controllers import JobController
from gateway.jobs.services import JobService
from gateway.members.controllers import MemberController
from gateway.openapi import (
    document_links,
    document_request_bodies,
    document_security,
    openapi_config,
)
from gateway.ops.controllers import OpsController
from gateway.ops.lanes import HotLanes
from gateway.ops.metrics import metrics_dir, publish_forever
from gateway.ops.middleware import gateway_middleware
from gateway.ops.ratelimit import ClaimLimits
from gateway.pages.controllers import ClaimPageController, WalletPageController
from gateway.pages.security import secure
from gateway.points import jobs as points_jobs
from gateway.points.controllers import PointsController
from gateway.points.exchanges import ExchangeService
from gateway.points.services import PointsService
from gateway.programme.controllers import ProgrammeController
from gateway.reports.controllers import ReportController
from gateway.rewards.controllers import RewardController
from gateway.rewards.services import RewardService
from gateway.segments.controllers import SegmentController
from gateway.settings import Settings, get_settings
from gateway.store.ledger import recover_forever
from gateway.store.postgres import create_pool
from gateway.store.redis import Scripts, create_client
from gateway.tiers.controllers import TierController
from gateway.tiers.review import review_due
from gateway.transfers.controllers import TransferController
from gateway.transfers.services import TransferService

log = logging.getLogger("gateway")

#: The pages' Jinja templates and their static files (CSS, JS, vendored libraries).
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Opens Redis, Postgres and the background tasks; closes them in reverse."""
    settings: Settings = app.state.settings
    pool = await create_pool(settings.database_url, settings.pg_pool_size)
    client = create_client(settings.redis_url)
    scripts = Scripts()
    await scripts.load_all(client)
    claims = ClaimService(pool, client, scripts, settings, clock)
    claims.start()
    exchanges = ExchangeService(pool, claims, clock)
    jobs = JobService(pool, claims, clock, idempotency_ttl_s=settings.idempotency_ttl_s)
    rewards = RewardService(pool, claims, settings.time_zone)
    # An exchange pending this long has had its claim's answer, or never will.
    exchange_stale_s = 2 * settings.ledger_timeout_ms / 1000 + 5
    tasks = [
        asyncio.create_task(
            recover_forever(pool, client, 2.0, settings.ledger_recovery_age_ms),
            name="ledger-recovery",
        ),
        asyncio.create_task(
            sweep_forever(pool, clock, 1.0, settings.idempotency_ttl_s), name="reservation-sweeper"
        ),
        asyncio.create_task(app.state.claim_limits.prune_forever(), name="rate-limit-prune"),
        asyncio.create_task(
            points_jobs.run_forever(
                clock,
                [
                    ("points-sweep", 10.0, lambda now_ms: points_jobs.sweep_points(pool, now_ms)),
                    (
                        "exchange-recovery",
                        5.0,
                        lambda _now_ms: exchanges.recover_pending(exchange_stale_s),
                    ),
                    ("tier-review", 60.0, lambda now_ms: review_due(pool, now_ms)),
                    ("rewards-scan", 600.0, rewards.scan),
                    ("rewards", 2.0, rewards.give_due),
                    ("grant-jobs", 1.0, jobs.run_due),
                ],
            ),
            name="programme-jobs",
        ),
        asyncio.create_task(
            publish_forever(
                metrics_dir(settings.metrics_dir, settings.port)
                if settings.workers > 1 or settings.metrics_dir
                else None
            ),
            name="metrics-publish",
        ),
    ]
    app.state.update(
        pool=pool,
        redis=client,
        scripts=scripts,
        key_cache=KeyCache(pool, settings.key_cache_ttl_s),
        campaigns=CampaignService(pool, client, scripts),
        claims=claims,
        checkout=CheckoutService(pool, settings, clock),
        transfers=TransferService(pool, clock, settings.idempotency_ttl_s),
        points=PointsService(pool, settings, clock),
        exchanges=exchanges,
        rewards=rewards,
        jobs=jobs,
    )
    try:
        yield
    finally:
        await _stop(tasks)
        await claims.close()
        await client.aclose()
        await pool.close()


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancels the background loops. A cancellation can be lost inside a driver
    call on Python 3.11, so it is repeated until every task has ended (or 5 s have passed)."""
    pending = set(tasks)
    for _ in range(50):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
        if not pending:
            break
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every exception a route raises, answered as the hot lanes answer it (`http.refusal`)."""
    error = refusal(exc, request.scope)
    return Response(error.body(), status_code=error.status, headers=error.headers())


async def _secure_static(response: Response[Any]) -> Response[Any]:
    """Static files carry the pages' security headers too (nosniff matters most for them)."""
    return secure(response)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    v1 = Router(
        path="/",
        route_handlers=[
            MemberController,
            ProgrammeController,
            CampaignController,
            ClaimController,
            CouponController,
            TransferController,
            TierController,
            PointsController,
            RewardController,
            JobController,
            SegmentController,
            ReportController,
            CheckoutController,
            ConsoleApi,
        ],
    )
    static = create_static_files_router(
        path="/static", directories=[STATIC], after_request=_secure_static
    )
    app = Litestar(
        route_handlers=[
            v1,
            OpsController,
            static,
            ConsolePage,
            ClaimPageController,
            WalletPageController,
        ],
        lifespan=[lifespan],
        on_startup=[document_security, document_request_bodies, document_links],
        state=State({"settings": settings, "claim_limits": ClaimLimits(settings)}),
        middleware=[gateway_middleware],
        request_max_body_size=MAX_BODY,
        exception_handlers={Exception: error_response},
        openapi_config=openapi_config(),
        template_config=TemplateConfig(
            directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=i18n.register
        ),
        debug=False,
    )
    # The hot lanes serve their routes before the router; everything else passes through.
    app.asgi_handler = HotLanes(app.asgi_handler, app.state, settings.hot_lanes)
    return app
