"""HTTP routes of claims (the hot path) and grants."""

from __future__ import annotations

from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from gateway.campaigns.controllers import check_campaign_id
from gateway.campaigns.services import token_valid
from gateway.claims.schemas import ClaimRequest, GrantRejection, GrantRequest, GrantResult
from gateway.claims.services import ClaimService
from gateway.coupons.schemas import Coupon
from gateway.errors import InvalidRequest, InvalidToken
from gateway.wire import decode, encoder, strict_body


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and not (1 <= len(key) <= 128 and key.isascii() and key.isprintable()):
        raise InvalidRequest("Idempotency-Key: must be 1..128 printable ASCII characters")
    return key


class ClaimController(Controller):
    path = "/v1/campaigns"
    tags = ["claims"]  # noqa: RUF012 - Litestar reads a plain list

    @post(
        "/{campaign_id:str}/claims",
        operation_id="claimCoupon",
        opt={"roles": ("front", "clerk", "admin")},
        status_code=201,
        request_body=ClaimRequest,  # documented; decoded by hand below, the faster way
    )
    async def claim(self, request: Request, campaign_id: FromPath[str]) -> Response[Coupon]:  # type: ignore[type-arg]
        """Claims one coupon for a member (the flash-sale hot path). Optional Idempotency-Key."""
        body = await request.body()
        data = decode(body, ClaimRequest)
        check_campaign_id(campaign_id)
        state = request.app.state
        if data.token is not None and not token_valid(
            state.settings.link_secret, campaign_id, data.token
        ):
            raise InvalidToken("the claim link's token is not valid for this campaign")
        idem = check_idempotency_key(request.headers.get("idempotency-key"))
        service: ClaimService = state.claims
        coupon = await service.claim(campaign_id, data.member_id, data.channel, idem, body)
        return Response(
            encoder.encode(coupon),  # type: ignore[arg-type]  # pre-encoded bytes
            status_code=201,
            media_type="application/json",
        )

    @post(
        "/{campaign_id:str}/grants",
        operation_id="grantCoupons",
        opt={"roles": ("clerk", "admin")},
        status_code=200,
    )
    async def grant(
        self,
        request: Request,
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
