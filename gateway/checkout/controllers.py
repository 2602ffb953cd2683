"""HTTP routes of checkout: quote, reserve, commit, cancel, refund, read."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Litestar, Request, Response, asgi, get, post
from litestar.datastructures import State
from litestar.exceptions import MethodNotAllowedException
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, JSONBody
from litestar.types import Receive, Scope, Send

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

CHECKOUT = {"roles": ("checkout", "clerk")}
QUOTE_PATH = "/v1/checkout/quote"
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _service(state: State) -> CheckoutService:
    service: CheckoutService = state.checkout
    return service


def actor(request: Request[Any, Any, Any]) -> str:
    """The caller's role, for the events rows (the guard has just cached it)."""
    header = request.headers.get("authorization", "")
    _, role = request.app.state.key_cache.cached(header[7:].strip())
    return str(role)


class CheckoutController(Controller):
    path = "/v1/checkout"
    tags = ["checkout"]  # noqa: RUF012 - Litestar reads a plain list

    @post("/redemptions", operation_id="reserveRedemption", opt=CHECKOUT, status_code=201)
    async def reserve(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: JSONBody[RedemptionCreate],
    ) -> Response[Redemption]:
        """Prices the cart and holds all its coupons for `order_id` until commit, cancel or
        the reservation time-out. 201 when reserved; 200 with the same result when the order
        was already reserved with this cart; 409 `order_conflict` with another cart; 422
        `coupons_rejected` (with `rejected`) when any code does not apply: nothing is held."""
        body = decode(await request.body(), RedemptionCreate)
        created, redemption = await _service(state).reserve(body, actor(request))
        if isinstance(redemption, bytes):  # pre-encoded
            return Response(
                redemption,  # type: ignore[arg-type]  # pre-encoded bytes
                status_code=201 if created else 200,
                media_type="application/json",
            )
        return Response(redemption, status_code=201 if created else 200)

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


@asgi(QUOTE_PATH, opt=CHECKOUT, copy_scope=False, tags=["checkout"])
async def quote(scope: Scope, receive: Receive, send: Send) -> None:
    """Prices a cart (documented as `quoteCart`, see `_quote_documented`).

    A raw ASGI handler, like the claim route: Litestar's signature model and response machinery
    (and its second decoding of the body) cost about as much per quote as the pricing itself.
    Roles are checked by the gateway middleware, errors go through the app's handlers.
    """
    http: Any = scope  # an HTTP scope: the route admits no websockets
    if http["method"] != "POST":
        raise MethodNotAllowedException(headers={"Allow": "POST"})
    cart = decode(await read_body(receive), Cart)
    service: CheckoutService = http["litestar_app"].state.checkout
    payload = await service.quote(cart)
    headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
    start: Any = {"type": "http.response.start", "status": 200, "headers": headers}
    await send(start)
    body: Any = {"type": "http.response.body", "body": payload}
    await send(body)


@post(QUOTE_PATH, operation_id="quoteCart", status_code=200, tags=["checkout"])
async def _quote_documented(data: JSONBody[Cart]) -> Quote:  # pragma: no cover - never served
    """Prices a cart with its coupon codes; no side effects. A code that does not apply
    (a typo included) is listed in `rejected` with its reason; it never fails the quote.
    Roles: checkout, clerk."""
    raise NotImplementedError


def document_quote_route(app: Litestar) -> None:
    """On start-up: adds the quote operation, as Litestar documents the typed stub above, to the
    app's OpenAPI document (a raw ASGI route is left out of it)."""
    stub = Litestar(
        route_handlers=[_quote_documented], openapi_config=OpenAPIConfig(title="stub", version="1")
    ).openapi_schema
    schema = app.openapi_schema
    if schema.paths is None or stub.paths is None:
        return
    schema.paths[QUOTE_PATH] = stub.paths[QUOTE_PATH]
    mine, theirs = schema.components.schemas, stub.components.schemas
    for name, component in theirs.items():
        mine.setdefault(name, component)
