"""create_app(): routes, lifespan, exception handlers, OpenAPI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.router import Router
from redis.exceptions import RedisError

from gateway.auth.services import KeyCache
from gateway.campaigns.controllers import CampaignController
from gateway.campaigns.services import CampaignService
from gateway.checkout.controllers import (
    CHECKOUT_ROLES,
    COMMIT_ROUTE,
    QUOTE_PATH,
    RESERVE_PATH,
    CheckoutController,
    commit_lane_target,
    document_raw_routes,
    quote,
    reserve,
    serve_commit,
    serve_quote,
    serve_reserve,
)
from gateway.checkout.services import CheckoutService
from gateway.checkout.sweeper import sweep_forever
from gateway.claims.controllers import (
    CLAIM_ROLES,
    CLAIM_ROUTE,
    ClaimController,
    claim,
    claim_lane_target,
    serve_claim,
)
from gateway.claims.openapi import document_claim_route
from gateway.claims.services import ClaimService
from gateway.clock import clock
from gateway.coupons.controllers import CouponController
from gateway.errors import GatewayError
from gateway.members.controllers import MemberController
from gateway.openapi import (
    document_links,
    document_request_bodies,
    document_security,
    openapi_config,
)
from gateway.ops.controllers import OpsController
from gateway.ops.lanes import serve_lane
from gateway.ops.metrics import metrics_dir, publish_forever
from gateway.ops.middleware import gateway_middleware
from gateway.ops.ratelimit import ClaimLimits
from gateway.settings import Settings, get_settings
from gateway.store.ledger import recover_forever
from gateway.store.postgres import create_pool
from gateway.store.redis import Scripts, create_client
from gateway.tiers.controllers import TierController
from gateway.transfers.controllers import TransferController
from gateway.transfers.services import TransferService

log = logging.getLogger("gateway")

MAX_BODY = 1024 * 1024


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


def _error_response(status: int, code: str, detail: str, **extra: Any) -> Response[Any]:
    return Response({"code": code, "detail": detail, **extra}, status_code=status)


def gateway_error(_: Request, exc: GatewayError) -> Response[Any]:  # type: ignore[type-arg]
    return Response(exc.body(), status_code=exc.status, headers=exc.headers())


def validation_error(_: Request, exc: ValidationException) -> Response[Any]:  # type: ignore[type-arg]
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for problem in problems:
        if isinstance(problem, dict):
            key = str(problem.get("key") or "body").removeprefix("$.")
            parts.append(f"{key}: {problem.get('message', 'invalid')}")
    detail = "; ".join(parts) or str(exc.detail)
    if exc.status_code == 413:
        return _error_response(413, "request_too_large", "the body is over 1 MiB")
    return _error_response(400, "invalid_request", detail)


def http_error(_: Request, exc: HTTPException) -> Response[Any]:  # type: ignore[type-arg]
    codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
    code = codes.get(exc.status_code, "invalid_request" if exc.status_code < 500 else "unavailable")
    return _error_response(exc.status_code, code, str(exc.detail))


def unavailable(_: Request, exc: Exception) -> Response[Any]:  # type: ignore[type-arg]
    log.warning("backing service unavailable: %r", exc)
    return _error_response(503, "unavailable", "a backing service is unavailable, retry shortly")


def unexpected(request: Request, exc: Exception) -> Response[Any]:  # type: ignore[type-arg]
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(500, "internal_error", "unexpected error; it has been logged")


class _AnyMethodParams(dict[str, Any]):
    """Litestar 2.x looks up an ASGI route's path parameters under the HTTP method instead of
    "asgi" (KeyError: 'POST'); this mapping answers every method with the "asgi" entry."""

    def __missing__(self, key: str) -> Any:
        return self["asgi"]


def _fix_asgi_path_params(app: Litestar) -> None:
    stack = [app.asgi_router.root_route_map_node]
    while stack:
        node = stack.pop()
        if node.is_asgi and not isinstance(node.path_parameters, _AnyMethodParams):
            current: Any = node.path_parameters
            params: Any = _AnyMethodParams(current)
            node.path_parameters = params
        stack.extend(node.children.values())


class GatewayApp(Litestar):
    """The Litestar app, with the hot lanes (`gateway/ops/lanes.py`) served before the router:
    claims, quotes, reservations and commits. Everything else goes through Litestar."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.hot_lanes and scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if path == QUOTE_PATH:
                await serve_lane(
                    self.state, scope, receive, send, QUOTE_PATH, CHECKOUT_ROLES, serve_quote, ""
                )
                return
            if path == RESERVE_PATH:
                await serve_lane(
                    self.state,
                    scope,
                    receive,
                    send,
                    RESERVE_PATH,
                    CHECKOUT_ROLES,
                    serve_reserve,
                    "",
                )
                return
            if (order_id := commit_lane_target(scope)) is not None:
                await serve_lane(
                    self.state,
                    scope,
                    receive,
                    send,
                    COMMIT_ROUTE,
                    CHECKOUT_ROLES,
                    serve_commit,
                    order_id,
                )
                return
            if (campaign_id := claim_lane_target(scope)) is not None:
                await serve_lane(
                    self.state,
                    scope,
                    receive,
                    send,
                    CLAIM_ROUTE,
                    CLAIM_ROLES,
                    serve_claim,
                    campaign_id,
                )
                return
        await super().__call__(scope, receive, send)

    hot_lanes = True  # create_app sets it from `Settings.hot_lanes`


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    v1 = Router(
        path="/",
        route_handlers=[
            MemberController,
            CampaignController,
            ClaimController,
            claim,
            CouponController,
            TransferController,
            TierController,
            CheckoutController,
            quote,
            reserve,
        ],
    )
    app = GatewayApp(
        route_handlers=[v1, OpsController],
        lifespan=[lifespan],
        on_startup=[
            document_claim_route,
            document_raw_routes,
            document_security,
            document_request_bodies,
            document_links,
        ],
        state=State({"settings": settings, "claim_limits": ClaimLimits(settings)}),
        middleware=[gateway_middleware],
        request_max_body_size=MAX_BODY,
        exception_handlers={
            GatewayError: gateway_error,
            ValidationException: validation_error,
            NotFoundException: http_error,
            HTTPException: http_error,
            RedisError: unavailable,
            asyncpg.PostgresConnectionError: unavailable,
            # deadlock_detected / serialization_failure: nothing was changed, a retry is safe
            asyncpg.exceptions.TransactionRollbackError: unavailable,
            asyncpg.InterfaceError: unavailable,
            OSError: unavailable,
            TimeoutError: unavailable,
            Exception: unexpected,
        },
        openapi_config=openapi_config(),
        debug=False,
    )
    _fix_asgi_path_params(app)
    app.hot_lanes = settings.hot_lanes
    return app
