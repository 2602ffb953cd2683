"""HTTP routes of checkout: quote, reserve, commit, cancel, refund, read."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Litestar, Request, Response, asgi, get, post
from litestar.datastructures import State
from litestar.exceptions import MethodNotAllowedException
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, JSONBody
from litestar.types import Receive, Scope, Send

from gateway.auth.services import actor, scope_actor
from gateway.checkout.idempotency import check_key
from gateway.checkout.schemas import (
    Cart,
    Quote,
    Redemption,
    RedemptionCreate,
    RefundRequest,
    RefundResult,
)
from gateway.checkout.services import CheckoutService
from gateway.claims.controllers import read_body
from gateway.wire import check_id, decode, encoder

CHECKOUT_ROLES = ("checkout", "clerk")
CHECKOUT = {"roles": CHECKOUT_ROLES}
QUOTE_PATH = "/v1/checkout/quote"
RESERVE_PATH = "/v1/checkout/redemptions"
COMMIT_PREFIX = "/v1/checkout/redemptions/"
COMMIT_ROUTE = "/v1/checkout/redemptions/{order_id:str}/commit"
_JSON_HEADERS = [(b"content-type", b"application/json")]


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
        key = check_key(request.headers.get("idempotency-key"))
        encoded = await _service(state).refund(
            check_id(order_id, "order_id"), body, actor(request), key, encoder.encode(body)
        )
        return Response(
            encoded,  # type: ignore[arg-type]  # pre-encoded bytes
            media_type="application/json",
        )


async def serve_quote(state: State, scope: Any, receive: Receive, send: Send, _: str) -> None:
    """Prices a cart and sends the quote; refusals raise `GatewayError`."""
    cart = decode(await read_body(receive), Cart)
    payload = await _service(state).quote(cart)
    await _send_json(send, 200, payload)


async def serve_reserve(state: State, scope: Any, receive: Receive, send: Send, _: str) -> None:
    """Reserves a cart's coupons for an order and sends the redemption (201, or 200 when the
    order was reserved already with the same cart)."""
    body = decode(await read_body(receive), RedemptionCreate)
    created, redemption = await _service(state).reserve(body, scope_actor(scope))
    payload = redemption if isinstance(redemption, bytes) else encoder.encode(redemption)
    await _send_json(send, 201 if created else 200, payload)


def commit_lane_target(scope: Any) -> str | None:
    """The order id when `scope` is `POST /v1/checkout/redemptions/{order_id}/commit`."""
    path: str = scope["path"]
    if not (path.startswith(COMMIT_PREFIX) and path.endswith("/commit")):
        return None
    order_id = path[len(COMMIT_PREFIX) : -7]
    return order_id if order_id and "/" not in order_id else None


async def serve_commit(
    state: State, scope: Any, receive: Receive, send: Send, order_id: str
) -> None:
    """Commits an order (the hot lane of `CheckoutController.commit`, same answers)."""
    redemption = await _service(state).commit(check_id(order_id, "order_id"), scope_actor(scope))
    await _send_json(send, 200, encoder.encode(redemption))


async def _send_json(send: Send, status: int, payload: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
    start: Any = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    body: Any = {"type": "http.response.body", "body": payload}
    await send(body)


@asgi(QUOTE_PATH, opt=CHECKOUT, copy_scope=False, tags=["checkout"])
async def quote(scope: Scope, receive: Receive, send: Send) -> None:
    """Prices a cart (documented as `quoteCart`, see `_quote_documented`).

    POSTs are served in a hot lane before the router (`gateway/ops/lanes.py`); this raw route
    serves them when the lanes are off (Litestar's signature model and response machinery, and
    its second decoding of the body, would cost about as much per quote as the pricing itself).
    """
    http: Any = scope  # an HTTP scope: the route admits no websockets
    if http["method"] != "POST":
        raise MethodNotAllowedException(headers={"Allow": "POST"})
    await serve_quote(http["litestar_app"].state, http, receive, send, "")


@asgi(RESERVE_PATH, opt=CHECKOUT, copy_scope=False, tags=["checkout"])
async def reserve(scope: Scope, receive: Receive, send: Send) -> None:
    """Reserves a cart's coupons for an order (documented as `reserveRedemption`, see
    `_reserve_documented`); a hot lane and a raw route, as the quote."""
    http: Any = scope  # an HTTP scope: the route admits no websockets
    if http["method"] != "POST":
        raise MethodNotAllowedException(headers={"Allow": "POST"})
    await serve_reserve(http["litestar_app"].state, http, receive, send, "")


@post(RESERVE_PATH, operation_id="reserveRedemption", status_code=201, tags=["checkout"])
async def _reserve_documented(data: JSONBody[RedemptionCreate]) -> Redemption:  # pragma: no cover
    """Prices the cart and holds all its coupons for `order_id` until commit, cancel or
    the reservation time-out. 201 when reserved; 200 with the same result when the order
    was already reserved with this cart; 409 `order_conflict` with another cart; 422
    `coupons_rejected` (with `rejected`) when any code does not apply: nothing is held.
    Roles: checkout, clerk."""
    raise NotImplementedError


@post(QUOTE_PATH, operation_id="quoteCart", status_code=200, tags=["checkout"])
async def _quote_documented(data: JSONBody[Cart]) -> Quote:  # pragma: no cover - never served
    """Prices a cart with its coupon codes; no side effects. A code that does not apply
    (a typo included) is listed in `rejected` with its reason; it never fails the quote.
    Roles: checkout, clerk."""
    raise NotImplementedError


def document_raw_routes(app: Litestar) -> None:
    """On start-up: adds the quote and reserve operations, as Litestar documents the typed stubs
    above, to the app's OpenAPI document (raw ASGI routes are left out of it)."""
    stub = Litestar(
        route_handlers=[_quote_documented, _reserve_documented],
        openapi_config=OpenAPIConfig(title="stub", version="1", use_handler_docstrings=True),
    ).openapi_schema
    schema = app.openapi_schema
    if schema.paths is None or stub.paths is None:
        return
    for path in (QUOTE_PATH, RESERVE_PATH):
        schema.paths[path] = stub.paths[path]
    mine, theirs = schema.components.schemas, stub.components.schemas
    for name, component in theirs.items():
        mine.setdefault(name, component)
