"""The engine against the reference on random carts and codes, the invariants of every quote,
and bad input: a ValueError naming the field, the same from both."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import _native
from gateway.discounts import reference
from tests.native.pricing_data import (
    NOW,
    assert_optimal,
    coupon,
    line,
    member,
    native_price,
    reference_price,
    request,
)

SKUS = ["A", "B", "C", "D"]
CATEGORIES = ["tops", "shoes", "bras"]
STORES = ["SH-01", "BJ-02"]
CODES = [f"C{i}" for i in range(9)]

money = st.one_of(
    st.integers(0, 300),
    st.integers(0, 60_000),
    st.sampled_from([0, 1, 99, 100, 10_000, 50_000, 1_000_000_000]),
)
rate = st.one_of(
    st.integers(0, 10_000), st.sampled_from([0, 1, 500, 1200, 1500, 2500, 9999, 10_000])
)


@st.composite
def lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 6))
    out = []
    for _ in range(count):
        cart_line = line(
            sku=draw(st.sampled_from(SKUS)),
            category=draw(st.sampled_from(CATEGORIES)),
            unit_price=draw(money),
            qty=draw(st.one_of(st.integers(1, 3), st.sampled_from([7, 999]))),
        )
        multiplier = draw(st.one_of(st.none(), st.integers(1, 10)))
        if multiplier is not None:  # absent: 1
            cart_line["points_multiplier"] = multiplier
        out.append(cart_line)
    return out


@st.composite
def candidates(draw: st.DrawFn) -> dict[str, Any]:
    code = draw(st.sampled_from(CODES))
    if draw(st.integers(0, 19)) == 0:
        return {"code": code, "found": False}
    kind = draw(st.sampled_from(["percent", "amount", "threshold", "exchange", "gift", "points"]))
    optional_money = st.one_of(st.none(), money)
    fields: dict[str, Any] = {
        "owner_matches": draw(st.integers(0, 19)) != 0,
        "state": draw(
            st.sampled_from(
                ["active"] * 15 + ["reserved", "redeemed", "expired", "transferred", "revoked"]
            )
        ),
        "amount_off": draw(optional_money),
        "percent_off": draw(st.one_of(st.none(), rate)),
        "max_discount": draw(st.one_of(st.none(), st.none(), money)),
        "min_spend": draw(st.one_of(st.none(), st.none(), money)),
        "sku": draw(st.one_of(st.none(), st.sampled_from(SKUS))),
        "points": draw(st.one_of(st.none(), st.integers(0, 1000))),
        "scope_skus": draw(st.lists(st.sampled_from(SKUS), max_size=2)),
        "scope_categories": draw(st.lists(st.sampled_from(CATEGORIES), max_size=2)),
        "scope_stores": draw(st.lists(st.sampled_from(STORES), max_size=1)),
        "channels": draw(st.sampled_from([["online", "store"], ["online"], ["store"], []])),
        "valid_from": NOW - draw(st.sampled_from([-1, 0, 1, 86_400])),
        "valid_until": NOW + draw(st.sampled_from([0, 1, 86_400])),
        "stackable": draw(st.integers(0, 3)) != 0,
    }
    needed = {"percent": "percent_off", "amount": "amount_off", "threshold": "amount_off"}
    needed |= {"exchange": "sku", "gift": "sku", "points": "points"}
    if fields[needed[kind]] is None:
        fields[needed[kind]] = draw(money) if kind != "percent" else draw(rate)
        if kind in ("exchange", "gift"):
            fields["sku"] = draw(st.sampled_from(SKUS))
    return coupon(code, kind, **fields)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    channel = draw(st.sampled_from(["online", "store"]))
    return request(
        draw(lines()),
        draw(st.lists(candidates(), max_size=7)),
        member(
            tier=draw(rate),
            birthday=draw(rate),
            is_birthday=draw(st.booleans()),
            on_member_price=draw(st.booleans()),
            points_per_yuan=draw(st.sampled_from([0, 1, 2, 3, 7, 10])),
        ),
        channel=channel,
        store_id=draw(st.one_of(st.none(), st.sampled_from(STORES))),
    )


def check_invariants(req: dict[str, Any], quote: dict[str, Any]) -> None:
    amounts = [x["unit_price"] * x["qty"] for x in req["lines"]]
    assert quote["subtotal"] == sum(amounts)
    assert quote["total"] == quote["subtotal"] - quote["member_discount"] - quote["coupon_discount"]
    assert quote["total"] >= 0
    assert sum(s["discount"] for s in quote["member_lines"]) == quote["member_discount"]
    taken = [0] * len(amounts)
    for share in quote["member_lines"]:
        taken[share["line"]] += share["discount"]
    for applied in quote["applied"]:
        assert applied["discount"] >= 0
        assert sum(s["discount"] for s in applied["lines"]) == applied["discount"]
        for share in applied["lines"]:
            assert share["discount"] > 0
            assert share["sku"] == req["lines"][share["line"]]["sku"]
            taken[share["line"]] += share["discount"]
    assert all(t <= a for t, a in zip(taken, amounts, strict=True))
    assert quote["coupon_discount"] == sum(a["discount"] for a in quote["applied"])
    codes = [c["code"] for c in req["coupons"]]
    seen = [a["code"] for a in quote["applied"]] + [r["code"] for r in quote["rejected"]]
    assert sorted(seen) == sorted(codes)
    assert all(r["reason"] in reference.REASONS for r in quote["rejected"])
    by_code: dict[str, dict[str, Any]] = {}
    for c in req["coupons"]:
        by_code.setdefault(c["code"], c)  # a later duplicate never applies
    if any(not by_code[a["code"]]["stackable"] for a in quote["applied"]):
        assert len(quote["applied"]) == 1
    # Points: per line, floor(paid * points_per_yuan * multiplier / 100), where paid is the
    # line's amount less every share taken from it; plus the points coupons.
    per_yuan = req["member"]["points_per_yuan"]
    line_points = [
        (amount - took) * per_yuan * cart_line.get("points_multiplier", 1) // 100
        for amount, took, cart_line in zip(amounts, taken, req["lines"], strict=True)
    ]
    points = sum(a["points"] for a in quote["applied"])
    assert quote["points_earned"] == sum(line_points) + points


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_native_equals_reference_on_random_carts(req: dict[str, Any]) -> None:
    native = native_price(req)
    assert_optimal(req, native)
    check_invariants(req, native)


@st.composite
def stackable_piles(draw: st.DrawFn) -> dict[str, Any]:
    """Many stackable money codes on overlapping scopes: where the best set is not everything."""
    cart = draw(lines())
    pile = []
    for i in range(draw(st.integers(2, 9))):
        kind = draw(st.sampled_from(["percent", "amount", "threshold", "exchange"]))
        pile.append(
            coupon(
                f"S{i}",
                kind,
                amount_off=draw(money),
                percent_off=draw(rate),
                max_discount=draw(st.one_of(st.none(), money)),
                sku=draw(st.sampled_from(SKUS)),
                scope_skus=draw(st.lists(st.sampled_from(SKUS), max_size=2)),
                stackable=draw(st.integers(0, 5)) != 0,
            )
        )
    policy = member(tier=draw(rate), on_member_price=draw(st.booleans()))
    return request(cart, pile, policy)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stackable_piles())
def test_best_set_search_equals_brute_force(req: dict[str, Any]) -> None:
    native = native_price(req)
    assert_optimal(req, native)
    check_invariants(req, native)


@st.composite
def percent_piles(draw: st.DrawFn) -> dict[str, Any]:
    """Stackable percent codes sharing scopes, capped or not: where they compound, which the
    search's bound for percent groups (`Search::chained_bound`) relies on."""
    cart = draw(lines())
    scopes = draw(st.lists(st.sampled_from([[], ["A"], ["A", "B"], ["C"]]), min_size=1, max_size=2))
    pile = [
        coupon(
            f"P{i}",
            "percent",
            percent_off=draw(rate),
            max_discount=draw(st.one_of(st.none(), money)),
            scope_skus=draw(st.sampled_from(scopes)),
            stackable=True,
        )
        for i in range(draw(st.integers(2, 9)))
    ]
    if draw(st.booleans()):
        pile.append(coupon("AMT", amount_off=draw(money), stackable=True))
    if draw(st.booleans()):
        pile.insert(0, coupon("EX", "exchange", sku=draw(st.sampled_from(SKUS)), stackable=True))
    policy = member(tier=draw(rate), on_member_price=draw(st.booleans()))
    return request(cart, pile, policy)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(percent_piles())
def test_percent_groups_search_equals_brute_force(req: dict[str, Any]) -> None:
    native = native_price(req)
    assert_optimal(req, native)
    check_invariants(req, native)


def test_largest_cart_does_not_overflow() -> None:
    big = [line(sku=f"S{i}", unit_price=1_000_000_000, qty=999) for i in range(200)]
    codes = [coupon(f"P{i}", "percent", percent_off=9999, stackable=True) for i in range(5)]
    codes += [coupon(f"A{i}", amount_off=2**63 - 1, stackable=True) for i in range(5)]
    req = request(big, codes, member(tier=9999, points_per_yuan=2**63 - 1))
    native = native_price(req)
    assert_optimal(req, native)
    check_invariants(req, native)
    assert native["total"] == 0
    # Nothing off, every line at x10 and the largest points per yuan: beyond 64 bits, exact.
    for cart_line in big:
        cart_line["points_multiplier"] = 10
    req = request(big, [], member(points_per_yuan=2**63 - 1))
    native = native_price(req)
    assert_optimal(req, native)
    check_invariants(req, native)
    assert native["points_earned"] == 200 * (999 * 10**9 * (2**63 - 1) * 10 // 100)


def test_twenty_stackable_codes_are_searched_quickly() -> None:
    cart = [line(sku=SKUS[i % 4], unit_price=1000 * (i + 1), qty=1 + i % 3) for i in range(40)]
    codes = [
        coupon(
            f"S{i}", "amount", amount_off=500 * (i + 1), scope_skus=[SKUS[i % 4]], stackable=True
        )
        for i in range(20)
    ]
    quote = native_price(request(cart, codes))
    check_invariants(request(cart, codes), quote)
    assert len(quote["applied"]) + len(quote["rejected"]) == 20


# Bad input: every field replaced by something outside the contract.
JUNK: list[Any] = [None, "x", -1, 10**30, True, 1.5, [], {}, 10_001, 0]


def broken_request(req: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """A copy of `req` with one field, drawn among `paths(req)`, removed or set to junk."""
    path = data.draw(st.sampled_from(paths(req)))
    broken = copy.deepcopy(req)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(st.sampled_from(JUNK))
    return broken


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            out += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += paths(inner, (*prefix, i))
    return out


def outcome(price: Any, req: Any) -> tuple[str, Any]:
    try:
        return ("ok", price(req))
    except ValueError as error:
        return ("error", str(error))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.data())
def test_bad_input_is_a_value_error_naming_the_field(
    req: dict[str, Any], data: st.DataObject
) -> None:
    broken = broken_request(req, data)
    native = outcome(native_price, broken)
    assert native == outcome(reference_price, broken)
    if native[0] == "error":
        assert ": " in native[1]
        assert native[1].split(": ")[0].split("[")[0].split(".")[0] in {
            "request",
            "now",
            "channel",
            "store_id",
            "lines",
            "member",
            "coupons",
        }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["lines"][0].update(qty=0), "lines[0].qty: must be 1..999"),
        (
            lambda r: r["lines"][0].update(points_multiplier=0),
            "lines[0].points_multiplier: must be 1..10",
        ),
        (
            lambda r: r["lines"][0].update(points_multiplier=11),
            "lines[0].points_multiplier: must be 1..10",
        ),
        (
            lambda r: r["lines"][0].update(points_multiplier=None),
            "lines[0].points_multiplier: must be an integer",
        ),
        (
            lambda r: r["lines"][0].update(points_multiplier=True),
            "lines[0].points_multiplier: must be an integer",
        ),
        (
            lambda r: r["lines"][0].update(points_multiplier=2**64),
            "lines[0].points_multiplier: must be a 64-bit integer",
        ),
        (
            # Read before the range checks, like every field of a line.
            lambda r: r["lines"][0].update(unit_price=-1, points_multiplier="2"),
            "lines[0].points_multiplier: must be an integer",
        ),
        (
            lambda r: r["lines"][0].update(unit_price=-1),
            "lines[0].unit_price: must be 0..1000000000",
        ),
        (lambda r: r.update(lines=[]), "lines: must hold 1..200 lines"),
        (lambda r: r.update(channel="mail"), "channel: must be 'online' or 'store'"),
        (
            lambda r: r["member"].update(tier_percent_off=10_001),
            "member.tier_percent_off: must be 0..10000",
        ),
        (lambda r: r["member"].pop("is_birthday"), "member.is_birthday: missing"),
        (lambda r: r.update(now="today"), "now: must be an integer"),
        (lambda r: r.update(now=2**64), "now: must be a 64-bit integer"),
        (
            lambda r: r["coupons"][0].update(kind="bogo"),
            "coupons[0].kind: must be one of percent, amount, threshold, exchange, gift, points",
        ),
        (
            lambda r: r["coupons"][0].update(percent_off=None),
            "coupons[0].percent_off: required for kind percent",
        ),
        (
            lambda r: r["coupons"][0].update(scope_skus=["A", 3]),
            "coupons[0].scope_skus[1]: must be a string",
        ),
        (lambda r: r.update(coupons=[r["coupons"][0]] * 21), "coupons: must hold 0..20 codes"),
        (lambda r: r.update(lines="A"), "lines: must be a list"),
        (lambda r: r["lines"].__setitem__(0, 5), "lines[0]: must be a dict"),
    ],
)
def test_bad_input_messages(mutate: Any, message: str) -> None:
    req = request([line()], [coupon("X", "percent", percent_off=100)])
    mutate(req)
    with pytest.raises(
        ValueError,
        match=r"^" + message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.") + "$",
    ):
        native_price(req)
    with pytest.raises(ValueError) as ref_error:
        reference.price(req)
    assert str(ref_error.value) == message


def test_request_that_is_not_a_dict_is_a_value_error() -> None:
    for engine in (native_price, reference.price):
        with pytest.raises(ValueError, match="request: must be a dict"):
            engine([])  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(_native, "price_many"), reason="a build with --features bench")
def test_price_many_names_the_bad_request_of_a_batch() -> None:
    with pytest.raises(ValueError, match=r"requests\[1\]\.lines\[0\]\.qty: must be 1\.\.999"):
        _native.price_many([request([line()]), request([line(qty=0)])])
