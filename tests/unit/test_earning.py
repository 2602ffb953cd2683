"""Points per line from a stored pricing result (gateway/checkout/earning.py), against the real
engine: the lines' points and the points coupons make up the quote's `points_earned`, and
refunds one unit at a time take back each line's points exactly, never more."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checkout.earning import line_points, points_back
from gateway.native import price_quote
from tests.native.pricing_data import coupon, line, member, request

SKUS = ["A", "B", "C"]
money = st.one_of(st.integers(0, 300), st.integers(0, 60_000), st.sampled_from([1, 99, 10_000]))
rate = st.one_of(st.integers(0, 10_000), st.sampled_from([0, 500, 1000, 2500, 10_000]))


@st.composite
def carts(draw: st.DrawFn) -> dict[str, Any]:
    """A priced-to-be request: a few lines (some with a multiplier), money, gift and points
    coupons on random scopes, a member policy with or without 折上折."""
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        cart_line = line(
            sku=draw(st.sampled_from(SKUS)), unit_price=draw(money), qty=draw(st.integers(1, 4))
        )
        multiplier = draw(st.one_of(st.none(), st.integers(1, 10)))
        if multiplier is not None:
            cart_line["points_multiplier"] = multiplier
        lines.append(cart_line)
    codes = []
    for i in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["percent", "amount", "threshold", "exchange", "points"]))
        codes.append(
            coupon(
                f"C{i}",
                kind,
                amount_off=draw(money),
                percent_off=draw(rate),
                min_spend=draw(st.one_of(st.none(), money)),
                sku=draw(st.sampled_from(SKUS)),
                points=draw(st.integers(0, 500)),
                scope_skus=draw(st.lists(st.sampled_from(SKUS), max_size=2)),
                stackable=draw(st.booleans()),
            )
        )
    policy = member(
        tier=draw(rate),
        birthday=draw(rate),
        is_birthday=draw(st.booleans()),
        on_member_price=draw(st.booleans()),
        points_per_yuan=draw(st.sampled_from([0, 1, 2, 3, 7, 10, 99])),
    )
    return request(lines, codes, policy)


def multipliers_of(req: dict[str, Any]) -> list[int] | None:
    """As the checkout stores them; None when no line has one (as an order stored before)."""
    if not any("points_multiplier" in x for x in req["lines"]):
        return None
    return [x.get("points_multiplier", 1) for x in req["lines"]]


def priced(req: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    result = price_quote(req).to_dict()
    per_yuan = req["member"]["points_per_yuan"]
    return result, line_points(req["lines"], result, per_yuan, multipliers_of(req))


@settings(max_examples=600, deadline=None)
@given(carts())
def test_line_points_and_points_coupons_make_up_points_earned(req: dict[str, Any]) -> None:
    result, points = priced(req)
    assert all(p >= 0 for p in points)
    coupons = sum(applied["points"] for applied in result["applied"])
    assert sum(points) + coupons == result["points_earned"]


@settings(max_examples=300, deadline=None)
@given(carts(), st.randoms(use_true_random=False))
def test_refunds_one_unit_at_a_time_take_back_each_lines_points(
    req: dict[str, Any], rng: Any
) -> None:
    _, points = priced(req)
    qty = [x["qty"] for x in req["lines"]]
    units = [i for i, q in enumerate(qty) for _ in range(q)]
    rng.shuffle(units)  # the units of every line, refunded one at a time in a random order
    refunded = [0] * len(qty)
    back_per_line = [0] * len(qty)
    for i in units:
        before = list(refunded)
        refunded[i] += 1
        back = points_back(points, qty, before, refunded)
        assert 0 <= back <= points[i]
        back_per_line[i] += back
        assert back_per_line[i] <= points[i]  # never beyond what the line earned
    assert back_per_line == points


@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 20)), min_size=1, max_size=5),
    st.data(),
)
def test_refunds_in_any_steps_add_up_to_the_whole(
    lines: list[tuple[int, int]], data: st.DataObject
) -> None:
    points = [p for p, _ in lines]
    qty = [q for _, q in lines]
    done = [0] * len(lines)
    total = 0
    while done != qty:
        after = [data.draw(st.integers(d, q)) for d, q in zip(done, qty, strict=True)]
        if after == done:  # a step refunds something: one unit of the first line not done
            first = next(i for i, (d, q) in enumerate(zip(done, qty, strict=True)) if d < q)
            after[first] += 1
        total += points_back(points, qty, done, after)
        assert total <= sum(points)
        done = after
    assert total == sum(points)


def test_line_points_by_hand() -> None:
    # Two lines: 123.45 x2 points and 67.89 x1; member shares 12.34 / 6.79, coupons 11.11 + 6.45
    # and 6.11 + 3.55: paid 93.55 and 51.44. At 3 points per yuan: floor(561.3), floor(154.32).
    cart = [
        {"sku": "A", "unit_price": 12_345, "qty": 1},
        {"sku": "B", "unit_price": 6_789, "qty": 1},
    ]
    result = {
        "member_lines": [{"line": 0, "discount": 1234}, {"line": 1, "discount": 679}],
        "applied": [
            {"lines": [{"line": 0, "discount": 1111}, {"line": 1, "discount": 611}]},
            {"lines": [{"line": 0, "discount": 645}, {"line": 1, "discount": 355}]},
            {"lines": [], "points": 7},
        ],
    }
    assert line_points(cart, result, 3, [2, 1]) == [561, 154]
    assert line_points(cart, result, 3, None) == [280, 154]
    # A refund of one of three units takes a third of the line's points, rounded down; the
    # next two take the rest.
    assert points_back([100], [3], [0], [1]) == 33
    assert points_back([100], [3], [1], [2]) == 33
    assert points_back([100], [3], [2], [3]) == 34
