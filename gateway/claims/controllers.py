"""HTTP routes of claims (the hot path) and grants."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from gateway.auth.services import caller_of, scope_actor
from gateway.campaigns.controllers import check_campaign_id
from gateway.campaigns.services import token_valid
from gateway.claims.schemas import ClaimRequest, GrantRejection, GrantRequest, GrantResult
from gateway.claims.services import ClaimService
from gateway.coupons.schemas import Coupon
from gateway.errors import ExchangeOnly, Forbidden, InvalidRequest, InvalidToken
from gateway.http import (
    ErrorBody,
    IdempotencyKey,
    check_idempotency_key,
    idempotency_key,
    json_response,
)
from gateway.jobs.schemas import GrantBody, JobCreated
from gateway.jobs.services import JobService
from gateway.wire import decode, encoder, strict_body

CLAIM_ROUTE = "/v1/campaigns/{campaign_id:str}/claims"
CLAIM_ROLES = ("front", "clerk", "admin")


async def claim_lane(state: State, scope: Any, body: bytes, campaign_id: str) -> tuple[int, bytes]:
    """Claims one coupon for a member: (201, the coupon); refusals raise `GatewayError`."""
    data = decode(body, ClaimRequest)
    campaign_id = check_campaign_id(campaign_id)
    service: ClaimService = state.claims
    await check_gates(state, campaign_id, data.token)
    idem = idempotency_key(scope)
    # Counted last: a request refused for free above costs no token; one refused here takes
    # no stock (nothing has reached Redis).
    state.claim_limits.check_member(campaign_id, data.member_id, idem)
    coupon = await service.claim(
        campaign_id, data.member_id, data.channel, idem, body, scope_actor(scope)
    )
    return 201, encoder.encode(coupon)


async def check_gates(
    state: State, campaign_id: str, token: str | None, *, exchange: bool = False
) -> None:
    """Refuses (403 `invalid_token`) a link token that is not the campaign's, and a claim
    without one of a `link_only` campaign; refuses (409 `exchange_only`) a claim of a campaign
    whose coupons are exchanged for points. Shared by the API's claim and the claim page's,
    and (`exchange`: the link checks only) by the API's exchange."""
    service: ClaimService = state.claims
    link_only, exchange_only = service.gates.get(campaign_id) or await service.read_gates(
        campaign_id
    )
    if token is not None:
        if not token_valid(state.settings.link_secret, campaign_id, token):
            raise InvalidToken("the claim link's token is not valid for this campaign")
    elif link_only:
        raise InvalidToken("this campaign is claimed through its link only: the token is missing")
    if exchange_only and not exchange:
        raise ExchangeOnly(
            "this campaign's coupons are exchanged for points: POST .../exchanges instead"
        )


def _refusal(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


class ClaimController(Controller):
    path = "/v1/campaigns"
    tags = ["claims"]  # noqa: RUF012 - Litestar reads a plain list

    @post(
        "/{campaign_id:str}/claims",
        operation_id="claimCoupon",
        opt={"roles": CLAIM_ROLES},
        status_code=201,
        responses={
            400: _refusal("invalid_request: the field is named in detail"),
            403: _refusal("forbidden, invalid_token (also: no token for a link_only campaign)"),
            404: _refusal("campaign_not_found"),
            409: _refusal(
                "not_live, not_started, ended, sold_out, limit_reached, idempotency_mismatch, "
                "exchange_only (the campaign has a points_price: exchange instead)"
            ),
            413: _refusal("request_too_large"),
            429: _refusal(
                "rate_limited: the member is over GATEWAY_CLAIM_RATE_PER_MEMBER; "
                "Retry-After says in how many seconds"
            ),
            503: _refusal("ledger_unavailable (retry with the same Idempotency-Key)"),
        },
    )
    async def claim(
        self,
        request: Request[Any, Any, Any],
        state: State,
        campaign_id: FromPath[str],
        data: JSONBody[ClaimRequest],
        idempotency: IdempotencyKey = None,
    ) -> Response[Coupon]:
        """Claims one coupon for a member: the flash-sale hot path. Roles: front, clerk, admin.
        A 201 is a promise: the coupon is in the durable ledger (or will be after any crash)."""
        # Served by the claim lane (`ops/lanes.py`) unless GATEWAY_HOT_LANES=0; both run
        # `claim_lane` on the raw body (decoded strictly: `data` is here for the document).
        return json_response(
            await claim_lane(state, request.scope, await request.body(), campaign_id)
        )

    @post(
        "/{campaign_id:str}/grants",
        operation_id="grantCoupons",
        opt={"roles": ("clerk", "admin")},
        status_code=200,
        responses={
            202: ResponseSpec(
                data_container=JobCreated,
                description="a grant to a segment (admin only): the job made, GET /v1/jobs/{id}",
                generate_examples=False,
            ),
            400: _refusal("invalid_request (also: both member_ids and segment_id)"),
            403: _refusal("forbidden (also: a clerk's grant to a segment)"),
            404: _refusal("campaign_not_found, segment_not_found"),
            409: _refusal(
                "a grant to a segment of a campaign that grants nobody now: not_live, "
                "not_started, ended; idempotency_mismatch"
            ),
        },
    )
    async def grant(
        self,
        request: Request[Any, Any, Any],
        state: State,
        campaign_id: FromPath[str],
        data: JSONBody[GrantBody],
    ) -> Response[GrantResult]:
        """Hands coupons to 1..1000 members (in store: 200 with each one's coupon or refusal),
        or to every member of a saved segment (admin: 202 and a job that grants them in
        batches, GET /v1/jobs/{id}); takes stock like claims. Both take an optional
        Idempotency-Key: a retry of a grant to members answers the first grant's coupons and
        grants nobody twice; a retry of a grant to a segment answers the first job's id and
        makes no other job (another body under the key: 409 idempotency_mismatch).
        Its campaign must grant now (live, inside its claim window), else 409 with the
        claims' code."""
        body = await strict_body(request, GrantBody)
        campaign_id = check_campaign_id(campaign_id)
        if body.segment_id is not None:
            if body.member_ids is not None:
                raise InvalidRequest("member_ids, segment_id: give one of them, not both")
            caller = caller_of(request.scope)
            if caller is None or caller.role != "admin":
                raise Forbidden("only an admin grants to a segment")
            key = check_idempotency_key(request.headers.get("idempotency-key"))
            jobs: JobService = state.jobs
            return json_response(
                await jobs.create(campaign_id, body.segment_id, body.channel, caller.actor, key)
            )
        grant = await strict_body(request, GrantRequest)  # as before segments: same answers
        service: ClaimService = state.claims
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        if key is not None:
            return json_response(
                await service.grant_once(
                    campaign_id, grant.member_ids, grant.channel, scope_actor(request.scope), key
                )
            )
        granted, rejected = await service.grant(
            campaign_id, grant.member_ids, grant.channel, scope_actor(request.scope)
        )
        return Response(
            GrantResult(
                granted=granted,
                rejected=[GrantRejection(member_id=m, reason=r) for m, r in rejected],
            )
        )
