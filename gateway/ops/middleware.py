"""The one middleware every request crosses: role check and metrics.

Authorization lives here rather than in a Litestar guard: a guard call copies the route handler
per request, which the claim path cannot afford. Every `/v1` handler names the roles it admits
in `opt["roles"]`; handlers without it (health, metrics, schema) need no key.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.services import CALLER_SCOPE_KEY, Caller, KeyCache
from gateway.errors import Forbidden, GatewayError, Unauthorized
from gateway.ops.metrics import metrics

_JSON = [(b"content-type", b"application/json")]


async def authorize(scope: Any) -> None:
    handler = scope.get("route_handler")
    roles = handler.opt.get("roles") if handler is not None else None
    if roles is None:
        return
    await authorize_roles(scope, scope["litestar_app"].state.key_cache, roles)


async def authorize_roles(scope: Any, keys: KeyCache, roles: tuple[str, ...]) -> Caller:
    """Refuses the request (401/403) unless its API key has one of `roles`; leaves the caller
    on the scope (`caller_of`) for the events the request writes."""
    header = _header(scope, b"authorization")
    if header is None or not header.startswith(b"Bearer "):
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    key = header[7:].strip().decode("latin-1")
    hit, caller = keys.cached(key)
    if not hit:
        caller = await keys.caller(key)
    if caller is None:
        raise Unauthorized("unknown API key")
    if caller.role not in roles:
        raise Forbidden(f"role {caller.role!r} may not call this route")
    scope[CALLER_SCOPE_KEY] = caller
    return caller


def _header(scope: Any, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def send_error(send: Send, error: GatewayError) -> None:
    body = msgspec.json.encode(error.body())
    start: Any = {
        "type": "http.response.start",
        "status": error.status,
        "headers": [
            *_JSON,
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in error.headers().items()),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def gateway_middleware(app: ASGIApp) -> ASGIApp:
    """Checks the caller's role, then counts the request by route and status and times it."""

    async def middleware(asgi_scope: Scope, receive: Receive, send: Send) -> None:
        scope: Any = asgi_scope
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            try:
                await authorize(scope)
            except GatewayError as refused:
                await send_error(send_wrapper, refused)
                return
            await app(scope, receive, send_wrapper)
        finally:
            metrics.observe(scope["method"], _route(scope), status, time.perf_counter() - started)

    return middleware


def _route(scope: Any) -> str:
    template = scope.get("path_template")
    return str(template) if template else "unmatched"
