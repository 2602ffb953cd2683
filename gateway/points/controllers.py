"""HTTP routes of points (积分) and points exchange (积分兑换)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from gateway.auth.services import actor
from gateway.campaigns.controllers import check_campaign_id
from gateway.claims.controllers import check_gates
from gateway.http import check_idempotency_key
from gateway.points.exchanges import ExchangeService
from gateway.points.schemas import (
    Adjustment,
    Entry,
    ExchangedCoupon,
    ExchangeRequest,
    Expiring,
    History,
    Points,
    PointsTransfer,
    PointsTransferRequest,
)
from gateway.points.services import PointsService
from gateway.wire import check_id, decode


def _points(state: State) -> PointsService:
    service: PointsService = state.points
    return service


def _created(encoded: bytes) -> Response[Any]:
    return Response(
        encoded,  # pre-encoded bytes
        status_code=201,
        media_type="application/json",
    )


class PointsController(Controller):
    path = "/v1"
    tags = ["points"]  # noqa: RUF012 - Litestar reads a plain list

    @get(
        "/members/{member_id:str}/points",
        operation_id="getPoints",
        opt={"roles": ("admin", "front", "clerk")},
    )
    async def points(self, state: State, member_id: FromPath[str]) -> Points:
        """The member's points: `balance` (negative while the member owes points a refund took
        back after they were spent), `pending` (an order's points inside the programme's
        return window), `debt`, and the lots with points left, soonest expiry first."""
        check_id(member_id, "member_id")
        return await _points(state).points(member_id)

    @get(
        "/members/{member_id:str}/points/history",
        operation_id="getPointsHistory",
        opt={"roles": ("admin", "front", "clerk")},
    )
    async def history(
        self,
        state: State,
        member_id: FromPath[str],
        limit: int = Parameter(default=50, ge=1, le=200),
        before: str | None = Parameter(default=None, max_length=64),
    ) -> History:
        """Every move of the member's points, newest first, `limit` (1..200) at a time; pass
        `next` as `before` for the page after."""
        check_id(member_id, "member_id")
        return await _points(state).history(member_id, limit, before)

    @post(
        "/members/{member_id:str}/points/adjustments",
        operation_id="adjustPoints",
        opt={"roles": ("admin",)},
        status_code=201,
    )
    async def adjust(
        self,
        request: Request[Any, Any, Any],
        state: State,
        member_id: FromPath[str],
        data: JSONBody[Adjustment],
    ) -> Response[Entry]:
        """An operator's correction with a reason: 201 the entry. Positive points are a new
        lot with the programme's expiry; negative ones are taken soonest expiry first, and
        never beyond the balance (409 `insufficient_points`). Optional Idempotency-Key."""
        check_id(member_id, "member_id")
        body = await request.body()
        data = decode(body, Adjustment)
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        encoded = await _points(state).adjust(member_id, data, actor(request), key, body)
        return _created(encoded)

    @post(
        "/members/{member_id:str}/points/transfers",
        operation_id="transferPoints",
        opt={"roles": ("front", "admin")},
        status_code=201,
    )
    async def transfer(
        self,
        request: Request[Any, Any, Any],
        state: State,
        member_id: FromPath[str],
        data: JSONBody[PointsTransferRequest],
    ) -> Response[PointsTransfer]:
        """积分赠送: gives points to a registered friend, soonest-expiring first; the friend's
        points keep their expiry. 201 `{"from", "to"}` (the two entries). Refusals: 409
        `not_allowed` (the programme's `points.transferable` is off), 409
        `insufficient_points`, 422 `recipient_not_registered`, 422 `same_member`, 404
        `member_not_found`. Optional Idempotency-Key."""
        check_id(member_id, "member_id")
        body = await request.body()
        data = decode(body, PointsTransferRequest)
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        encoded = await _points(state).transfer(member_id, data, actor(request), key, body)
        return _created(encoded)

    @get("/points/expiring", operation_id="getExpiringPoints", opt={"roles": ("admin",)})
    async def expiring(
        self,
        state: State,
        within_days: int = Parameter(default=30, ge=1, le=3660),
        limit: int = Parameter(default=100, ge=1, le=1000),
        after: str | None = Parameter(default=None, max_length=200),
    ) -> Expiring:
        """Members whose points expire within `within_days` (default 30: the 积分到期提醒
        warning), soonest first, with how many and when; pass `next` as `after` to page."""
        return await _points(state).expiring(within_days, limit, after)

    @post(
        "/campaigns/{campaign_id:str}/exchanges",
        operation_id="exchangeCoupon",
        opt={"roles": ("front", "clerk", "admin")},
        status_code=201,
    )
    async def exchange(
        self,
        request: Request[Any, Any, Any],
        state: State,
        campaign_id: FromPath[str],
        data: JSONBody[ExchangeRequest],
    ) -> Response[ExchangedCoupon]:
        """积分兑换: a coupon of a campaign with a `points_price`, for that many points. The
        points and the stock move together: a refused or failed exchange leaves the balance
        as it was. 201 the coupon plus `points_spent`. Refusals as for claims (`sold_out`,
        `limit_reached`, `not_started`, `ended`, `not_live`, 404 `campaign_not_found`, 403
        `invalid_token`: a `link_only` campaign needs its link's `token`, as a claim does),
        plus 409 `insufficient_points`, 409 `not_exchangeable` (the campaign has no points
        price), 404 `member_not_found`. Exchanges are final. Optional Idempotency-Key: a retry
        gets the same coupon and spends nothing more."""
        campaign_id = check_campaign_id(campaign_id)
        body = await request.body()
        data = decode(body, ExchangeRequest)
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        await check_gates(state, campaign_id, data.token, exchange=True)
        service: ExchangeService = state.exchanges
        state.claim_limits.check_member(campaign_id, data.member_id, key)
        encoded = await service.exchange(campaign_id, data, actor(request), key, body)
        return _created(encoded)
