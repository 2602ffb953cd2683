"""The role guard: every `/v1` handler names the roles it admits in `opt["roles"]`."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from gateway.auth.services import KeyCache
from gateway.errors import Forbidden, Unauthorized


async def require_role(connection: ASGIConnection, handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    header = connection.headers.get("authorization")
    if not header or not header.startswith("Bearer "):
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    keys: KeyCache = connection.app.state.key_cache
    key = header[7:].strip()
    hit, role = keys.cached(key)
    if not hit:
        role = await keys.role(key)
    if role is None:
        raise Unauthorized("unknown API key")
    if role not in handler.opt["roles"]:
        raise Forbidden(f"role {role!r} may not call this route")
