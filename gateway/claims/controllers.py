"""HTTP routes of claims (the hot path) and grants."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, asgi, post
from litestar.datastructures import State
from litestar.exceptions import MethodNotAllowedException
from litestar.params import FromPath, JSONBody
from litestar.types import Receive, Scope, Send

from gateway.campaigns.controllers import check_campaign_id
from gateway.campaigns.services import token_valid
from gateway.claims.schemas import ClaimRequest, GrantRejection, GrantRequest, GrantResult
from gateway.claims.services import ClaimService
from gateway.errors import InvalidRequest, InvalidToken, TooLarge
from gateway.wire import decode, encoder, strict_body

MAX_BODY = 1024 * 1024
CLAIM_ROUTE = "/v1/campaigns/{campaign_id:str}/claims"
CLAIM_ROLES = ("front", "clerk", "admin")
_CREATED_HEADERS = [(b"content-type", b"application/json")]


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and not (1 <= len(key) <= 128 and key.isascii() and key.isprintable()):
        raise InvalidRequest("Idempotency-Key: must be 1..128 printable ASCII characters")
    return key


async def read_body(receive: Receive) -> bytes:
    """The request body, refusing more than 1 MiB (413) without buffering it all."""
    message: Any = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > MAX_BODY:
            raise TooLarge("the body is over 1 MiB")
        return body
    chunks, size = [body], len(body)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge("the body is over 1 MiB")
        chunks.append(chunk)
    return b"".join(chunks)


async def serve_claim(
    state: State, scope: Any, receive: Receive, send: Send, campaign_id: str
) -> None:
    """Claims one coupon for a member and sends the 201; refusals raise `GatewayError`."""
    body = await read_body(receive)
    data = decode(body, ClaimRequest)
    campaign_id = check_campaign_id(campaign_id)
    service: ClaimService = state.claims
    if data.token is not None:
        if not token_valid(state.settings.link_secret, campaign_id, data.token):
            raise InvalidToken("the claim link's token is not valid for this campaign")
    elif service.link_only.get(campaign_id) or (
        campaign_id not in service.link_only and await service.read_link_only(campaign_id)
    ):
        raise InvalidToken("this campaign is claimed through its link only: the token is missing")
    idem = None
    for name, value in scope["headers"]:
        if name == b"idempotency-key":
            idem = check_idempotency_key(value.decode("latin-1"))
    # Counted last: a request refused for free above costs no token; one refused here takes
    # no stock (nothing has reached Redis).
    state.claim_limits.check_member(campaign_id, data.member_id, idem)
    coupon = await service.claim(campaign_id, data.member_id, data.channel, idem, body)
    payload = encoder.encode(coupon)
    headers = [*_CREATED_HEADERS, (b"content-length", str(len(payload)).encode())]
    start: Any = {"type": "http.response.start", "status": 201, "headers": headers}
    await send(start)
    body_message: Any = {"type": "http.response.body", "body": payload}
    await send(body_message)


def claim_lane_target(scope: Any) -> str | None:
    """The campaign id when `scope` is a claim (`POST /v1/campaigns/{id}/claims`), else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not (path.startswith("/v1/campaigns/") and path.endswith("/claims")):
        return None
    campaign_id = path[14:-7]
    return campaign_id if campaign_id and "/" not in campaign_id else None


@asgi(CLAIM_ROUTE, opt={"roles": CLAIM_ROLES}, copy_scope=False, tags=["claims"])
async def claim(scope: Scope, receive: Receive, send: Send) -> None:
    """Claims one coupon for a member: the flash-sale hot path (documented as `claimCoupon`).

    POSTs are served in a hot lane before the router (`gateway/ops/lanes.py`); this route
    serves them when the lanes are off, documents the path and answers other methods (405).
    """
    http: Any = scope  # an HTTP scope: the route admits no websockets
    if http["method"] != "POST":
        raise MethodNotAllowedException(headers={"Allow": "POST"})
    state = http["litestar_app"].state
    await serve_claim(state, http, receive, send, http["path_params"]["campaign_id"])


class ClaimController(Controller):
    path = "/v1/campaigns"
    tags = ["claims"]  # noqa: RUF012 - Litestar reads a plain list

    @post(
        "/{campaign_id:str}/grants",
        operation_id="grantCoupons",
        opt={"roles": ("clerk", "admin")},
        status_code=200,
    )
    async def grant(
        self,
        request: Request[Any, Any, Any],
        state: State,
        campaign_id: FromPath[str],
        data: JSONBody[GrantRequest],
    ) -> GrantResult:
        """Hands coupons to 1..1000 members (in store, or to a segment); takes stock like claims."""
        data = await strict_body(request, GrantRequest)
        service: ClaimService = state.claims
        granted, rejected = await service.grant(
            check_campaign_id(campaign_id), data.member_ids, data.channel
        )
        return GrantResult(
            granted=granted,
            rejected=[GrantRejection(member_id=m, reason=r) for m, r in rejected],
        )
