"""The worked examples of DOMAIN.md and one case per rejection reason, on the engine and on the
reference alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway import _native
from gateway.discounts import reference
from tests.native.pricing_data import (
    DAY,
    NOW,
    coupon,
    line,
    member,
    native_price,
    reference_price,
    request,
    unknown,
)

Engine = Callable[[dict[str, Any]], Any]


@pytest.fixture(params=["native", "reference"])
def price(request: pytest.FixtureRequest) -> Engine:
    return native_price if request.param == "native" else reference.price


def reasons(quote: dict[str, Any]) -> dict[str, str]:
    return {r["code"]: r["reason"] for r in quote["rejected"]}


def test_500_off_100_at_520_takes_100_off(price: Engine) -> None:
    c = coupon("M500", "threshold", amount_off=10_000, min_spend=50_000)
    quote = price(request([line(unit_price=52_000)], [c]))
    assert quote["coupon_discount"] == 10_000
    assert quote["total"] == 42_000
    assert quote["applied"][0]["lines"] == [{"line": 0, "sku": "A", "discount": 10_000}]


def test_500_off_100_at_499_99_is_below_threshold(price: Engine) -> None:
    c = coupon("M500", "threshold", amount_off=10_000, min_spend=50_000)
    quote = price(request([line(unit_price=49_999)], [c]))
    assert quote["applied"] == []
    assert reasons(quote) == {"M500": "below_threshold"}


def test_85_percent_on_two_at_299_takes_89_70_off(price: Engine) -> None:
    c = coupon("ZHE85", "percent", percent_off=1500)
    quote = price(request([line(unit_price=29_900, qty=2)], [c]))
    assert quote["coupon_discount"] == 8970
    assert quote["total"] == 59_800 - 8970


def test_birthday_rate_beats_gold_rate_and_never_adds_to_it(price: Engine) -> None:
    gold = member(tier=1200, birthday=2500, is_birthday=True)
    quote = price(request([line(unit_price=10_000)], member_policy=gold))
    assert quote["member_discount"] == 2500
    not_today = member(tier=1200, birthday=2500, is_birthday=False)
    assert (
        price(request([line(unit_price=10_000)], member_policy=not_today))["member_discount"]
        == 1200
    )


def test_exchange_without_its_sku_in_the_cart_is_out_of_scope(price: Engine) -> None:
    c = coupon("SWAP", "exchange", sku="BESTSELLER")
    quote = price(request([line(sku="OTHER")], [c]))
    assert reasons(quote) == {"SWAP": "out_of_scope"}


def test_exchange_makes_one_unit_free(price: Engine) -> None:
    c = coupon("SWAP", "exchange", sku="BESTSELLER")
    quote = price(request([line(sku="OTHER"), line(sku="BESTSELLER", unit_price=5000, qty=3)], [c]))
    assert quote["coupon_discount"] == 5000
    assert quote["applied"][0]["lines"] == [{"line": 1, "sku": "BESTSELLER", "discount": 5000}]


def test_two_non_stackable_codes_apply_the_better_one(price: Engine) -> None:
    small = coupon("SMALL", amount_off=1000)
    big = coupon("BIG", "percent", percent_off=2000)
    quote = price(request([line(unit_price=20_000)], [small, big]))
    assert [a["code"] for a in quote["applied"]] == ["BIG"]
    assert quote["coupon_discount"] == 4000
    assert reasons(quote) == {"SMALL": "not_stackable"}


def test_stackable_codes_combine_percent_first(price: Engine) -> None:
    pct = coupon("PCT", "percent", percent_off=1000, stackable=True)
    cash = coupon("CASH", amount_off=1000, stackable=True)
    quote = price(request([line(unit_price=20_000)], [cash, pct]))
    # 10% of 200.00 first, then 10.00 off what is left.
    assert [(a["code"], a["discount"]) for a in quote["applied"]] == [("CASH", 1000), ("PCT", 2000)]


def test_gift_and_points_coupons_apply_next_to_money(price: Engine) -> None:
    gift = coupon("GIFT", "gift", sku="TOTEBAG", stackable=True)
    pts = coupon("PTS", "points", points=500, stackable=True)
    cash = coupon("CASH", amount_off=1000, stackable=True)
    quote = price(request([line(unit_price=20_000)], [gift, pts, cash], member(points_per_yuan=1)))
    assert [a["code"] for a in quote["applied"]] == ["GIFT", "PTS", "CASH"]
    assert quote["applied"][0]["gift_sku"] == "TOTEBAG"
    assert quote["points_earned"] == 190 + 500


def test_points_are_floored_per_line_with_each_line_multiplier(price: Engine) -> None:
    # Lines 123.45 (x2 points) and 67.89 (x1), 10% member discount (折上折), a 10% and a 10.00
    # coupon, 3 points per yuan, and a points coupon of 7.
    doubled = {**line("A", unit_price=12_345), "points_multiplier": 2}
    codes = [
        coupon("PCT", "percent", percent_off=1000, stackable=True),
        coupon("CASH", amount_off=1000, stackable=True),
        coupon("PTS", "points", points=7, stackable=True),
    ]
    quote = price(
        request([doubled, line("B", unit_price=6_789)], codes, member(1000, 0, False, True, 3))
    )

    def shares(lines: list[dict[str, Any]]) -> list[tuple[int, int]]:
        return [(s["line"], s["discount"]) for s in lines]

    # Member 19.13 split 12.34 / 6.79 (the leftover cent to the larger remainder, line B).
    assert shares(quote["member_lines"]) == [(0, 1234), (1, 679)]
    # 10% of 111.11 + 61.10 = 17.22, split 11.11 / 6.11; then 10.00 over 100.00 / 54.99.
    assert shares(quote["applied"][0]["lines"]) == [(0, 1111), (1, 611)]
    assert shares(quote["applied"][1]["lines"]) == [(0, 645), (1, 355)]
    # Paid 93.55 and 51.44: floor(9355 * 3 * 2 / 100) = 561 (not 561.3), floor(5144 * 3 / 100)
    # = 154 (not 154.32), plus the coupon's 7. The cart-level 3 * (14499 // 100) would be 432.
    assert quote["total"] == 9355 + 5144
    assert quote["points_earned"] == 561 + 154 + 7


def test_points_without_member_price_take_the_member_share_off_each_line(price: Engine) -> None:
    # No 折上折 and a 50% member discount that beats 10% off: the coupons saw list prices, the
    # member share alone comes off. Member 95.67 split 61.73 / 33.94 (equal remainders: the
    # cent to the lower line); floor(6172 * 3 * 2 / 100) = 370, floor(3395 * 3 / 100) = 101.
    doubled = {**line("A", unit_price=12_345), "points_multiplier": 2}
    pct = coupon("PCT", "percent", percent_off=1000)
    policy = member(5000, 0, False, False, 3)
    quote = price(request([doubled, line("B", unit_price=6_789)], [pct], policy))
    assert reasons(quote) == {"PCT": "not_stackable"}
    assert [s["discount"] for s in quote["member_lines"]] == [6173, 3394]
    assert quote["points_earned"] == 370 + 101


def test_without_member_price_policy_the_better_of_member_and_coupons_wins(price: Engine) -> None:
    gold = member(tier=1200, on_member_price=False)
    cash = coupon("CASH", amount_off=1000)
    quote = price(request([line(unit_price=20_000)], [cash], gold))
    assert (quote["member_discount"], quote["coupon_discount"]) == (2400, 0)
    assert reasons(quote) == {"CASH": "not_stackable"}
    big = coupon("BIG", amount_off=3000)
    quote = price(request([line(unit_price=20_000)], [big], gold))
    assert (quote["member_discount"], quote["coupon_discount"]) == (0, 3000)


def test_coupons_on_member_price_stack_on_it(price: Engine) -> None:
    gold = member(tier=1200, on_member_price=True)
    pct = coupon("PCT", "percent", percent_off=1000)
    quote = price(request([line(unit_price=20_000)], [pct], gold))
    assert (quote["member_discount"], quote["coupon_discount"]) == (2400, 1760)


REJECTIONS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("not_found", unknown("X"), {}),
    ("not_owner", coupon("X", owner_matches=False, amount_off=100), {}),
    ("not_yet_valid", coupon("X", amount_off=100, valid_from=NOW + 1), {}),
    ("expired", coupon("X", amount_off=100, valid_until=NOW), {}),
    ("expired", coupon("X", amount_off=100, state="expired"), {}),
    ("reserved", coupon("X", amount_off=100, state="reserved"), {}),
    ("redeemed", coupon("X", amount_off=100, state="redeemed"), {}),
    ("transferred", coupon("X", amount_off=100, state="transferred"), {}),
    ("revoked", coupon("X", amount_off=100, state="revoked"), {}),
    ("wrong_channel", coupon("X", amount_off=100, channels=["store"]), {}),
    (
        "wrong_store",
        coupon("X", amount_off=100, scope_stores=["SH-01"]),
        {"channel": "store", "store_id": "BJ-02"},
    ),
    ("out_of_scope", coupon("X", amount_off=100, scope_categories=["shoes"]), {}),
    ("below_threshold", coupon("X", "threshold", amount_off=100, min_spend=10_001), {}),
]


@pytest.mark.parametrize(
    ("reason", "candidate", "extra"),
    REJECTIONS,
    ids=[f"{r[0]}-{i}" for i, r in enumerate(REJECTIONS)],
)
def test_each_rejection_reason(
    price: Engine, reason: str, candidate: dict[str, Any], extra: dict[str, Any]
) -> None:
    quote = price(request([line(unit_price=10_000)], [candidate], **extra))
    assert quote["applied"] == []
    assert quote["rejected"] == [{"code": "X", "reason": reason}]
    assert quote["total"] == 10_000


def test_rejection_not_stackable(price: Engine) -> None:
    quote = price(request([line()], [coupon("A1", amount_off=100), coupon("B2", amount_off=50)]))
    assert reasons(quote) == {"B2": "not_stackable"}


def test_rejection_duplicate_judges_the_first_occurrence_alone(price: Engine) -> None:
    quote = price(request([line()], [coupon("X", amount_off=100), coupon("X", amount_off=100)]))
    assert [a["code"] for a in quote["applied"]] == ["X"]
    assert quote["rejected"] == [{"code": "X", "reason": "duplicate"}]


def test_owner_check_comes_before_the_state(price: Engine) -> None:
    c = coupon("X", amount_off=100, owner_matches=False, state="redeemed", valid_until=NOW - DAY)
    assert reasons(price(request([line()], [c]))) == {"X": "not_owner"}


def test_state_comes_before_the_dates(price: Engine) -> None:
    c = coupon("X", amount_off=100, state="redeemed", valid_until=NOW - DAY)
    assert reasons(price(request([line()], [c]))) == {"X": "redeemed"}


def test_store_scope_does_not_bind_online_orders(price: Engine) -> None:
    c = coupon("X", amount_off=100, scope_stores=["SH-01"])
    assert price(request([line()], [c]))["coupon_discount"] == 100


@pytest.mark.skipif(not hasattr(_native, "price_many"), reason="a build with --features bench")
def test_price_many_prices_each_request(price: Engine) -> None:
    del price
    reqs = [
        request([line(unit_price=p)], [coupon("X", "percent", percent_off=1000)])
        for p in (999, 5000)
    ]
    assert _native.price_many(reqs) == [reference_price(r) for r in reqs]
    assert [q["coupon_discount"] for q in _native.price_many(reqs)] == [99, 500]
