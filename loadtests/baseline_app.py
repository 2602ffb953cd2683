"""Ceilings of the claim benchmark: empty Litestar handlers taking the same body.

Served with the same granian settings as the gateway; each decodes the claim body into the same
msgspec Struct and answers 201 with a fixed body, doing nothing else.
(a) `claims`: the leanest form, raw body decoded by hand (the ceiling the gateway is held to);
(a2) `idiomatic`: the textbook handler, `data: ClaimRequest` through Litestar's signature model.
(a-get) `member`: a GET of a member id in the path answering a fixed member-sized body, the
ceiling of the member and points reads (issue 13).
"""

from __future__ import annotations

from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from gateway.claims.schemas import ClaimRequest
from gateway.wire import decode

_BODY = b'{"code":"0000000000000A","state":"active"}'
# About the size of a member read's answer (GET /v1/members/{id}).
_MEMBER = (
    b'{"member_id":"m-1","tier":"silver","birthday":null,"registered_at":"2025-10-26T18:40:00Z",'
    b'"referred_by":null,"tier_since":"2026-02-03T18:40:00Z","spend_12m":50000,"orders_12m":5,'
    b'"next_tier":{"tier":"gold","spend_needed":450000},"keep_tier":{"until":'
    b'"2027-02-03T16:00:00Z","spend_needed":50000},"points":{"balance":500,"pending":0,'
    b'"next_expiry":{"points":500,"at":"2027-12-31T15:59:59Z"}}}'
)


@post("/v1/campaigns/{campaign_id:str}/claims", status_code=201)
async def claim(request: Request, campaign_id: str) -> Response[bytes]:  # type: ignore[type-arg]
    decode(await request.body(), ClaimRequest)
    return Response(_BODY, status_code=201, media_type="application/json")


@post("/idiomatic/{campaign_id:str}/claims", status_code=201)
async def idiomatic(campaign_id: FromPath[str], data: JSONBody[ClaimRequest]) -> Response[bytes]:
    return Response(_BODY, status_code=201, media_type="application/json")


@get("/v1/members/{member_id:str}")
async def member(member_id: str) -> Response[bytes]:
    return Response(_MEMBER, media_type="application/json")


app = Litestar(route_handlers=[claim, idiomatic, member], debug=False)
