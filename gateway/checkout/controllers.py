"""HTTP routes of checkout: quote, reserve, commit, cancel, refund, read."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from gateway.auth.services import actor, scope_actor
from gateway.checkout.schemas import (
    Cart,
    Quote,
    Redemption,
    RedemptionCreate,
    RefundRequest,
    RefundResult,
)
from gateway.checkout.services import CheckoutService
from gateway.http import check_idempotency_key, json_response
from gateway.wire import check_id, decode, encoder

CHECKOUT_ROLES = ("checkout", "clerk")
CHECKOUT = {"roles": CHECKOUT_ROLES}
QUOTE_ROUTE = "/v1/checkout/quote"
RESERVE_ROUTE = "/v1/checkout/redemptions"
COMMIT_ROUTE = "/v1/checkout/redemptions/{order_id:str}/commit"


def _service(state: State) -> CheckoutService:
    service: CheckoutService = state.checkout
    return service


class CheckoutController(Controller):
    path = "/v1/checkout"
    tags = ["checkout"]  # noqa: RUF012 - Litestar reads a plain list

    @get("/redemptions/{order_id:str}", operation_id="getRedemption", opt=CHECKOUT)
    async def get_redemption(self, state: State, order_id: FromPath[str]) -> Redemption:
        """The redemption of an order and its state."""
        return await _service(state).get(check_id(order_id, "order_id"))

    @post("/quote", operation_id="quoteCart", opt=CHECKOUT, status_code=200)
    async def quote(
        self, request: Request[Any, Any, Any], state: State, data: JSONBody[Cart]
    ) -> Response[Quote]:
        """Prices a cart with its coupon codes; no side effects. A code that does not apply
        (a typo included) is listed in `rejected` with its reason; it never fails the quote.
        Roles: checkout, clerk."""
        # Served by a hot lane (`ops/lanes.py`) unless GATEWAY_HOT_LANES=0; both run
        # `quote_lane` on the raw body (decoded strictly: `data` is here for the document).
        return json_response(await quote_lane(state, request.scope, await request.body(), ""))

    @post("/redemptions", operation_id="reserveRedemption", opt=CHECKOUT, status_code=201)
    async def reserve(
        self, request: Request[Any, Any, Any], state: State, data: JSONBody[RedemptionCreate]
    ) -> Response[Redemption]:
        """Prices the cart and holds all its coupons for `order_id` until commit, cancel or
        the reservation time-out. 201 when reserved; 200 with the same result when the order
        was already reserved with this cart; 409 `order_conflict` with another cart; 422
        `coupons_rejected` (with `rejected`) when any code does not apply: nothing is held.
        Roles: checkout, clerk."""
        # A hot lane too, as the quote.
        return json_response(await reserve_lane(state, request.scope, await request.body(), ""))

    @post(
        "/redemptions/{order_id:str}/commit",
        operation_id="commitRedemption",
        opt=CHECKOUT,
        status_code=200,
    )
    async def commit(
        self, request: Request[Any, Any, Any], state: State, order_id: FromPath[str]
    ) -> Redemption:
        """Payment settled: reserved → committed, the coupons become `redeemed`. Idempotent;
        an order whose reservation expired, or that was cancelled: 409 `invalid_transition`."""
        return await _service(state).commit(check_id(order_id, "order_id"), actor(request))

    @post(
        "/redemptions/{order_id:str}/cancel",
        operation_id="cancelRedemption",
        opt=CHECKOUT,
        status_code=200,
    )
    async def cancel(
        self, request: Request[Any, Any, Any], state: State, order_id: FromPath[str]
    ) -> Redemption:
        """Payment failed or abandoned: reserved → cancelled, the coupons are `active` again.
        Idempotent; cancelling an order whose reservation expired is accepted; a committed
        order: 409 `invalid_transition` (refund it instead)."""
        return await _service(state).cancel(check_id(order_id, "order_id"), actor(request))

    @post(
        "/redemptions/{order_id:str}/refund",
        operation_id="refundRedemption",
        opt=CHECKOUT,
        status_code=200,
    )
    async def refund(
        self,
        request: Request[Any, Any, Any],
        state: State,
        order_id: FromPath[str],
        data: JSONBody[RefundRequest | None] = None,
    ) -> Response[RefundResult]:
        """Refunds lines (`{"lines": [{"sku", "qty"}]}`, empty: the whole order) of a committed
        order. `refund.discount` is the coupon discount those units carried (their share of
        each applied coupon); `refunded_discount` sums every refund of the order and never
        exceeds `coupon_discount`. Refunding everything returns the coupons to `active` while
        still valid. Asking for more units than are left: 400 `invalid_request` naming the
        line (`lines[i].qty`), nothing refunded; send an
        `Idempotency-Key` so that a retried partial refund is not taken twice."""
        raw = await request.body()
        body = decode(raw, RefundRequest) if raw.strip() else RefundRequest()
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        encoded = await _service(state).refund(
            check_id(order_id, "order_id"), body, actor(request), key, encoder.encode(body)
        )
        return Response(
            encoded,  # type: ignore[arg-type]  # pre-encoded bytes
            media_type="application/json",
        )


async def quote_lane(state: State, scope: Any, body: bytes, _: str) -> tuple[int, bytes]:
    """Prices a cart: (200, the quote); refusals raise `GatewayError`."""
    return 200, await _service(state).quote(decode(body, Cart))


async def reserve_lane(state: State, scope: Any, body: bytes, _: str) -> tuple[int, bytes]:
    """Reserves a cart's coupons for an order: (201, the redemption), or 200 when the order was
    reserved already with the same cart."""
    create = decode(body, RedemptionCreate)
    created, redemption = await _service(state).reserve(create, scope_actor(scope))
    payload = redemption if isinstance(redemption, bytes) else encoder.encode(redemption)
    return 201 if created else 200, payload


async def commit_lane(state: State, scope: Any, _: bytes, order_id: str) -> tuple[int, bytes]:
    """Commits an order (the hot lane of `CheckoutController.commit`, same answers)."""
    redemption = await _service(state).commit(check_id(order_id, "order_id"), scope_actor(scope))
    return 200, encoder.encode(redemption)
