"""Ceilings of the claim benchmark: empty Litestar handlers taking the same body.

Served with the same granian settings as the gateway; each decodes the claim body into the same
msgspec Struct and answers 201 with a fixed body, doing nothing else.
(a) `claims`: the leanest form, raw body decoded by hand (the ceiling the gateway is held to);
(a2) `idiomatic`: the textbook handler, `data: ClaimRequest` through Litestar's signature model.
"""

from __future__ import annotations

from litestar import Litestar, Request, Response, post
from litestar.params import FromPath, JSONBody

from gateway.claims.schemas import ClaimRequest
from gateway.wire import decode

_BODY = b'{"code":"0000000000000A","state":"active"}'


@post("/v1/campaigns/{campaign_id:str}/claims", status_code=201)
async def claim(request: Request, campaign_id: str) -> Response[bytes]:  # type: ignore[type-arg]
    decode(await request.body(), ClaimRequest)
    return Response(_BODY, status_code=201, media_type="application/json")


@post("/idiomatic/{campaign_id:str}/claims", status_code=201)
async def idiomatic(campaign_id: FromPath[str], data: JSONBody[ClaimRequest]) -> Response[bytes]:
    return Response(_BODY, status_code=201, media_type="application/json")


app = Litestar(route_handlers=[claim, idiomatic], debug=False)
