"""HTTP routes of coupon reads."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter

from gateway.coupons import services
from gateway.coupons.schemas import Coupon, Wallet
from gateway.wire import check_id


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
