"""Wire types of checkout: the cart, the quote, the redemption and its refunds."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.wire import Cents, Id, Out, Struct

Channel = Literal["online", "store"]
Qty = Annotated[int, msgspec.Meta(ge=1, le=999)]
#: A code as typed; anything that is not a valid code is rejected as `not_found`, not refused.
CodeText = Annotated[str, msgspec.Meta(max_length=64)]


class CartLine(Struct):
    sku: Id
    category: Id
    unit_price: Cents
    qty: Qty


class Cart(Struct):
    """A cart to price: 1..200 lines, 0..20 coupon codes (in the order the member chose them)."""

    member_id: Id
    channel: Channel
    lines: Annotated[list[CartLine], msgspec.Meta(min_length=1, max_length=200)]
    store_id: Id | None = None
    coupon_codes: Annotated[list[CodeText], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=list
    )


class RedemptionCreate(Struct):
    """A cart plus the order that will hold its coupons (the fields of `Cart`, and `order_id`)."""

    order_id: Id
    member_id: Id
    channel: Channel
    lines: Annotated[list[CartLine], msgspec.Meta(min_length=1, max_length=200)]
    store_id: Id | None = None
    coupon_codes: Annotated[list[CodeText], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=list
    )


class RefundLine(Struct):
    sku: Id
    qty: Qty


class RefundRequest(Struct):
    """Lines to refund by sku and quantity; an empty list refunds the whole order."""

    lines: Annotated[list[RefundLine], msgspec.Meta(max_length=200)] = msgspec.field(
        default_factory=list
    )


class LineShare(Out):
    """The part of a discount that one cart line carries (`line` is its index in the cart)."""

    line: int
    sku: str
    discount: int


class AppliedCoupon(Out):
    code: str
    discount: int
    lines: list[LineShare]
    gift_sku: str | None
    points: int


class RejectedCode(Out):
    code: str
    reason: str


class Quote(Out):
    subtotal: int
    member_discount: int
    member_lines: list[LineShare]
    coupon_discount: int
    total: int
    points_earned: int
    applied: list[AppliedCoupon]
    rejected: list[RejectedCode]
    #: "exact": the best combination of the codes; "bounded": the engine stopped at its work
    #: budget and this is the best combination it found (docs/PRICING.md, "The search").
    search: Literal["exact", "bounded"]


class RefundedLine(Out):
    line: int
    sku: str
    qty: int
    discount: int


class Redemption(Quote):
    """An order's redemption: the quote it was reserved with, its state and its refunds.

    `refunded_discount` is the coupon discount given back by refunds so far (never more than
    `coupon_discount`); `refunded_lines` the quantities refunded per cart line.
    """

    order_id: str
    member_id: str
    state: Literal["reserved", "committed", "cancelled", "expired", "refunded"]
    reserved_until: str
    refunded_discount: int
    refunded_lines: list[RefundedLine]


class Refund(Out):
    """What one refund request gave back."""

    discount: int
    lines: list[RefundedLine]


class RefundResult(Redemption):
    refund: Refund
