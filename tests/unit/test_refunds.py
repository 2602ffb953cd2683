"""Refund arithmetic (gateway/checkout/refunds.py): which units a refund takes and the coupon
discount they give back, on examples and as properties over many orders."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.checkout.refunds import (
    line_shares,
    plan_refund,
    refund_quantities,
    refunded_lines,
    share_of,
)
from gateway.checkout.schemas import RefundedLine, RefundLine
from gateway.errors import InvalidRequest

CART = [{"sku": "A", "qty": 3}, {"sku": "B", "qty": 1}, {"sku": "A", "qty": 2}]
#: Two coupons: 300 cents on line 0 and 100 on line 1; 50 more on line 0 and 40 on line 2.
RESULT = {
    "applied": [
        {"lines": [{"line": 0, "discount": 300}, {"line": 1, "discount": 100}]},
        {"lines": [{"line": 0, "discount": 50}, {"line": 2, "discount": 40}]},
    ]
}


def test_line_shares_sum_each_lines_discount_over_the_applied_coupons() -> None:
    assert line_shares(RESULT, 3) == [350, 100, 40]
    assert line_shares({"applied": []}, 2) == [0, 0]


def test_share_of_is_proportional_to_the_units_rounded_down() -> None:
    assert share_of(350, 1, 3) == 116
    assert share_of(350, 2, 3) == 233
    assert share_of(350, 3, 3) == 350


def test_an_empty_request_refunds_everything_left() -> None:
    assert refund_quantities(CART, [1, 0, 0], []) == [2, 1, 2]


def test_a_sku_on_several_lines_takes_them_in_cart_order() -> None:
    assert refund_quantities(CART, [0, 0, 0], [RefundLine(sku="A", qty=4)]) == [3, 0, 1]
    assert refund_quantities(CART, [2, 0, 0], [RefundLine(sku="A", qty=2)]) == [1, 0, 1]


def test_a_sku_not_in_the_order_is_invalid() -> None:
    with pytest.raises(InvalidRequest, match=r"lines\[0\].sku: 'C' is not in the order"):
        refund_quantities(CART, [0, 0, 0], [RefundLine(sku="C", qty=1)])


def test_more_units_than_are_left_is_invalid() -> None:
    with pytest.raises(InvalidRequest, match=r"lines\[1\].qty: only 2 unit\(s\) of 'A'"):
        refund_quantities(CART, [3, 0, 0], [RefundLine(sku="B", qty=1), RefundLine(sku="A", qty=3)])


def test_a_partial_refund_gives_back_the_units_share() -> None:
    plan = plan_refund(CART, None, RESULT, [RefundLine(sku="A", qty=1)])
    assert plan.after == [1, 0, 0]
    assert plan.lines == [RefundedLine(line=0, sku="A", qty=1, discount=116)]
    assert plan.discount == 116
    assert not plan.whole


def test_the_last_units_give_back_the_rest_of_the_share() -> None:
    plan = plan_refund(CART, [2, 1, 2], RESULT, [])
    assert plan.lines == [RefundedLine(line=0, sku="A", qty=1, discount=350 - 233)]
    assert plan.whole


def test_refunded_lines_say_what_the_refunds_so_far_carried() -> None:
    assert refunded_lines(CART, None, RESULT) == []
    assert refunded_lines(CART, [2, 0, 1], RESULT) == [
        RefundedLine(line=0, sku="A", qty=2, discount=233),
        RefundedLine(line=2, sku="A", qty=1, discount=20),
    ]


@st.composite
def orders(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A cart of 1..6 lines (skus may repeat) and a result of 0..4 coupons, each discounting
    some of the lines by whole cents."""
    qtys = draw(st.lists(st.integers(1, 999), min_size=1, max_size=6))
    skus = draw(st.lists(st.sampled_from("ABC"), min_size=len(qtys), max_size=len(qtys)))
    cart = [{"sku": sku, "qty": qty} for sku, qty in zip(skus, qtys, strict=True)]
    line = st.integers(0, len(cart) - 1)
    share = st.fixed_dictionaries({"line": line, "discount": st.integers(0, 1_000_000_000)})
    applied = st.fixed_dictionaries({"lines": st.lists(share, max_size=len(cart))})
    return cart, {"applied": draw(st.lists(applied, max_size=4))}


def refund_all_in_steps(
    cart: list[dict[str, Any]], result: dict[str, Any], steps: list[tuple[int, int]]
) -> tuple[list[int], list[int]]:
    """Refunds (line, units) requests while units are left, then the rest: (each refund's
    discount, units refunded per line at the end)."""
    refunded: list[int] | None = None
    given: list[int] = []
    for index, units in steps:
        before = refunded or [0] * len(cart)
        line = index % len(cart)
        sku = cart[line]["sku"]
        left = sum(c["qty"] - b for c, b in zip(cart, before, strict=True) if c["sku"] == sku)
        if not left:
            continue
        asked = [RefundLine(sku=sku, qty=min(units, left))]
        plan = plan_refund(cart, refunded, result, asked)
        given.append(plan.discount)
        refunded = plan.after
    last = plan_refund(cart, refunded, result, [])
    given.append(last.discount)
    assert last.whole
    return given, last.after


steps = st.lists(st.tuples(st.integers(0, 5), st.integers(1, 999)), max_size=8)


@given(orders(), steps)
def test_refunds_never_give_back_more_than_was_discounted(
    order: tuple[list[dict[str, Any]], dict[str, Any]], asked: list[tuple[int, int]]
) -> None:
    cart, result = order
    discounted = sum(line_shares(result, len(cart)))
    given, _ = refund_all_in_steps(cart, result, asked)
    total = 0
    for discount in given:
        assert discount >= 0
        total += discount
        assert total <= discounted


@given(orders(), steps)
def test_a_full_refund_gives_back_everything_discounted(
    order: tuple[list[dict[str, Any]], dict[str, Any]], asked: list[tuple[int, int]]
) -> None:
    cart, result = order
    given, after = refund_all_in_steps(cart, result, asked)
    assert sum(given) == sum(line_shares(result, len(cart)))
    assert after == [line["qty"] for line in cart]
    assert sum(line.discount for line in refunded_lines(cart, after, result)) == sum(given)


@given(orders(), steps)
def test_refund_amounts_are_integer_cents(
    order: tuple[list[dict[str, Any]], dict[str, Any]], asked: list[tuple[int, int]]
) -> None:
    cart, result = order
    plan = plan_refund(cart, None, result, [])
    assert type(plan.discount) is int
    assert all(type(line.discount) is int for line in plan.lines)
    given, after = refund_all_in_steps(cart, result, asked)
    assert all(type(discount) is int for discount in given)
    assert all(type(line.discount) is int for line in refunded_lines(cart, after, result))
