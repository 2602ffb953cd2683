"""Hot lanes: the few routes a flash sale or a checkout rush hammers, served before the router.

For `POST /v1/campaigns/{id}/claims`, `POST /v1/checkout/quote`,
`POST /v1/checkout/redemptions` and `POST /v1/checkout/redemptions/{order_id}/commit` the
router, the exception middleware and `gateway_middleware` cost more Python than the work
itself. `serve_lane` does what they do for every other route (role check from the key cache,
error bodies, metrics) without their per-request machinery. The routes stay registered with
Litestar too: they document the paths (OpenAPI) and answer other methods with 405, and with
`GATEWAY_HOT_LANES=0` they serve everything (a test compares the answers of both ways).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from litestar.datastructures import State
from litestar.types import Receive, Send
from redis.exceptions import RedisError

from gateway.errors import GatewayError, Unavailable
from gateway.ops.metrics import metrics
from gateway.ops.middleware import authorize_roles, send_error

log = logging.getLogger(__name__)

#: A lane's handler: (app state, scope, receive, send, path argument); refusals raise.
Handler = Callable[[State, Any, Receive, Send, str], Awaitable[None]]

# Failures of a backing service: 503 `unavailable`, as the app's exception handlers answer.
UNAVAILABLE_ERRORS = (
    RedisError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.TransactionRollbackError,  # deadlock or serialization: retry is safe
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


async def serve_lane(
    state: State,
    scope: Any,
    receive: Receive,
    send: Send,
    route: str,
    roles: tuple[str, ...],
    handler: Handler,
    argument: str,
) -> None:
    """Runs `handler` for a request of `route` with the checks every route gets."""
    started = time.perf_counter()
    status = 0

    async def tracked(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await authorize_roles(scope, state.key_cache, roles)
        await handler(state, scope, receive, tracked, argument)
    except GatewayError as refused:
        if not status:
            await send_error(tracked, refused)
    except UNAVAILABLE_ERRORS as exc:
        log.warning("backing service unavailable: %r", exc)
        if not status:
            await send_error(
                tracked, Unavailable("a backing service is unavailable, retry shortly")
            )
    except Exception:
        log.exception("unexpected error on POST %s", scope["path"])
        if not status:
            await send_error(
                tracked,
                GatewayError(
                    "unexpected error; it has been logged", code="internal_error", status=500
                ),
            )
    finally:
        metrics.observe("POST", route, status or 500, time.perf_counter() - started)
