"""The one middleware every routed request crosses: role check and metrics.

Authorization lives here rather than in a Litestar guard: a guard call copies the route handler
per request, which the claim path cannot afford. Every `/v1` handler names the roles it admits
in `opt["roles"]`; handlers without it (health, metrics, schema) need no key. The hot lanes
(`ops/lanes.py`) make the same check with the same function, `auth.services.authorize`.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send

from gateway.auth.services import authorize
from gateway.errors import GatewayError
from gateway.http import StatusSend, send_error
from gateway.ops.metrics import metrics


def gateway_middleware(app: ASGIApp) -> ASGIApp:
    """Checks the caller's role, then counts the request by route and status and times it."""

    async def middleware(asgi_scope: Scope, receive: Receive, send: Send) -> None:
        scope: Any = asgi_scope
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        tracked = StatusSend(send)
        try:
            handler = scope.get("route_handler")
            roles = handler.opt.get("roles") if handler is not None else None
            if roles is not None:
                try:
                    await authorize(scope, scope["litestar_app"].state.key_cache, roles)
                except GatewayError as refused:
                    await send_error(tracked, refused)
                    return
            await app(scope, receive, tracked)
        finally:
            metrics.observe(
                scope["method"], _route(scope), tracked.status or 500, time.perf_counter() - started
            )

    return middleware


def _route(scope: Any) -> str:
    template = scope.get("path_template")
    return str(template) if template else "unmatched"
