"""Ceiling (a) of the claim benchmark: an empty Litestar handler taking the same body.

Served with the same granian settings as the gateway; it decodes the claim body into the same
msgspec Struct and answers 201 with a fixed body, doing nothing else.
"""

from __future__ import annotations

from litestar import Litestar, Request, Response, post

from gateway.claims.schemas import ClaimRequest
from gateway.wire import decode

_BODY = b'{"code":"0000000000000A","state":"active"}'


@post("/v1/campaigns/{campaign_id:str}/claims", status_code=201)
async def claim(request: Request, campaign_id: str) -> Response[bytes]:  # type: ignore[type-arg]
    decode(await request.body(), ClaimRequest)
    return Response(_BODY, status_code=201, media_type="application/json")


app = Litestar(route_handlers=[claim], debug=False)
