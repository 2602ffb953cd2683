"""Refund arithmetic: which units a refund takes back and how much coupon discount they carry.

Pure functions over an order's stored cart lines (`{"sku", "qty", ...}` as reserved) and its
pricing result (`applied[].lines[]`: the discount each coupon put on each line). Every amount is
int cents; a line's share is given back in proportion to its units, cumulatively, so refunds one
unit at a time add up to the whole share and never beyond it. The service does the I/O.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.checkout.schemas import RefundedLine, RefundLine
from gateway.errors import InvalidRequest


class RefundPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What one refund request does to an order."""

    #: Units refunded per cart line once this refund is done.
    after: list[int]
    #: The lines this refund takes units of, with the discount they give back.
    lines: list[RefundedLine]
    #: The coupon discount given back by this refund: the sum over `lines`.
    discount: int
    #: Whether every unit of the order is refunded once this refund is done.
    whole: bool


def line_shares(result: dict[str, Any], lines: int) -> list[int]:
    """Coupon discount carried by each cart line, summed over the applied coupons."""
    shares = [0] * lines
    for applied in result["applied"]:
        for share in applied["lines"]:
            shares[share["line"]] += share["discount"]
    return shares


def line_paid(cart_lines: list[dict[str, Any]], result: dict[str, Any]) -> list[int]:
    """What the member paid for each cart line: its amount less its share of the member
    discount and of every applied coupon."""
    paid = [line["unit_price"] * line["qty"] for line in cart_lines]
    for share in result.get("member_lines", []):
        paid[share["line"]] -= share["discount"]
    for i, coupons in enumerate(line_shares(result, len(cart_lines))):
        paid[i] -= coupons
    return paid


def share_of(share: int, qty: int, of_qty: int) -> int:
    """The part of a line's share that `qty` of its `of_qty` units carry. Cumulative, so that
    refunds one unit at a time add up to the whole share and never beyond it."""
    return share * qty // of_qty


def refunded_lines(
    cart_lines: list[dict[str, Any]], refunded: list[int] | None, result: dict[str, Any]
) -> list[RefundedLine]:
    """The units refunded so far per cart line (`refunded`, None before any refund) and the
    discount they carried."""
    if not refunded:
        return []
    shares = line_shares(result, len(cart_lines))
    return [
        RefundedLine(
            line=i,
            sku=cart_lines[i]["sku"],
            qty=qty,
            discount=share_of(shares[i], qty, cart_lines[i]["qty"]),
        )
        for i, qty in enumerate(refunded)
        if qty
    ]


def refund_quantities(
    cart_lines: list[dict[str, Any]], before: list[int], asked: list[RefundLine]
) -> list[int]:
    """Units to refund per cart line: everything left when `asked` is empty; else a sku on
    several lines takes them in cart order. InvalidRequest when the order cannot meet it."""
    left = [line["qty"] - done for line, done in zip(cart_lines, before, strict=True)]
    if not asked:
        return left
    wanted = [0] * len(cart_lines)
    for j, line in enumerate(asked):
        positions = [i for i, cart_line in enumerate(cart_lines) if cart_line["sku"] == line.sku]
        if not positions:
            raise InvalidRequest(f"lines[{j}].sku: {line.sku!r} is not in the order")
        qty = line.qty
        for i in positions:
            take = min(qty, left[i] - wanted[i])
            wanted[i] += take
            qty -= take
        if qty:  # API.md's codes for a refund: a request the order cannot meet is invalid
            raise InvalidRequest(
                f"lines[{j}].qty: only {line.qty - qty} unit(s) of {line.sku!r} are left to refund"
            )
    return wanted


def plan_refund(
    cart_lines: list[dict[str, Any]],
    refunded: list[int] | None,
    result: dict[str, Any],
    asked: list[RefundLine],
) -> RefundPlan:
    """The refund of `asked` (empty: everything left) from an order whose lines have had
    `refunded` units refunded so far (None: none)."""
    before = refunded or [0] * len(cart_lines)
    wanted = refund_quantities(cart_lines, before, asked)
    after = [b + w for b, w in zip(before, wanted, strict=True)]
    shares = line_shares(result, len(cart_lines))
    lines = []
    for i, qty in enumerate(wanted):
        if qty:
            of_qty = cart_lines[i]["qty"]
            given = share_of(shares[i], after[i], of_qty) - share_of(shares[i], before[i], of_qty)
            lines.append(RefundedLine(line=i, sku=cart_lines[i]["sku"], qty=qty, discount=given))
    return RefundPlan(
        after=after,
        lines=lines,
        discount=sum(line.discount for line in lines),
        whole=all(a == line["qty"] for a, line in zip(after, cart_lines, strict=True)),
    )
