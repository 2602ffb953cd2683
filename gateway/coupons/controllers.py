"""HTTP routes of coupons: reads, and revoke / reissue (transfers are in gateway/transfers)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from gateway.auth.services import actor
from gateway.clock import clock
from gateway.coupons import services
from gateway.coupons.schemas import Coupon, ReissueRequest, RevokeRequest, Wallet
from gateway.http import check_idempotency_key
from gateway.wire import check_id, decode

#: In-store staff and operators revoke and reissue (the clerk's coupon desk).
DESK = {"roles": ("admin", "clerk")}


def _service(state: State) -> services.CouponService:
    return services.CouponService(state.pool, clock, state.settings.idempotency_ttl_s)


def _answer(status: int, encoded: bytes) -> Response[Coupon]:
    return Response(
        encoded,  # type: ignore[arg-type]  # pre-encoded bytes
        status_code=status,
        media_type="application/json",
    )


class CouponController(Controller):
    path = "/v1"
    tags = ["coupons"]  # noqa: RUF012 - Litestar reads a plain list

    @get(
        "/coupons/{code:str}",
        operation_id="getCoupon",
        opt={"roles": ("admin", "front", "clerk", "checkout")},
    )
    async def get_coupon(self, state: State, code: FromPath[str]) -> Coupon:
        """A coupon by its code (case-insensitive, look-alikes accepted)."""
        return await services.get_coupon(state.pool, code)

    @get(
        "/members/{member_id:str}/coupons",
        operation_id="memberCoupons",
        opt={"roles": ("admin", "front", "clerk")},
    )
    async def wallet(
        self,
        state: State,
        member_id: FromPath[str],
        coupon_state: Annotated[str | None, QueryParameter(name="state")] = None,
    ) -> Wallet:
        """A member's coupons, newest first, optionally only those in `state`."""
        check_id(member_id, "member_id")
        return Wallet(coupons=await services.member_coupons(state.pool, member_id, coupon_state))

    @post("/coupons/{code:str}/revoke", operation_id="revokeCoupon", opt=DESK, status_code=200)
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        state: State,
        code: FromPath[str],
        data: JSONBody[RevokeRequest],
    ) -> Response[Coupon]:
        """Withdraws an active coupon: 200 the coupon, now `revoked` (final: it can no longer
        be quoted, reserved, transferred or reissued). The reason (1..200 characters) is kept
        in the coupon's `coupon_revoked` event with the caller's key name. Refusals:
        `coupon_not_found` 404, `not_active` 409 (reserved, redeemed, expired, transferred or
        already revoked), `invalid_request` 400 (reason missing, blank, too long or with NUL).
        Optional Idempotency-Key: a retry gets the first answer."""
        body = decode(await request.body(), RevokeRequest)
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        return _answer(*await _service(state).revoke(code, body, actor(request), key))

    @post("/coupons/{code:str}/reissue", operation_id="reissueCoupon", opt=DESK, status_code=201)
    async def reissue(
        self,
        request: Request[Any, Any, Any],
        state: State,
        code: FromPath[str],
        data: JSONBody[ReissueRequest],
    ) -> Response[Coupon]:
        """Replaces an active coupon with a new code (补发新券: the member lost it, the code
        leaked): 201 the new coupon, same campaign, member, validity (`valid_from`,
        `valid_until`), channel and transferability; the old code turns `revoked`. Their
        events (`coupon_revoked`, `coupon_reissued`) name each other and the reason. No stock
        is taken and the member's claim count is unchanged. Of concurrent reissues of one code
        exactly one succeeds. Refusals: `coupon_not_found` 404, `not_active` 409 (not active,
        or its validity has ended), `invalid_request` 400 (reason missing, blank, too long or
        with NUL). Optional Idempotency-Key: a retry gets the first answer (the same new code)."""
        body = decode(await request.body(), ReissueRequest)
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        return _answer(*await _service(state).reissue(code, body, actor(request), key))
