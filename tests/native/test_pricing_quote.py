"""`price_quote`'s native `Quote` says exactly what `price`'s dict says: its attributes, its
`to_dict()`, and its `to_json()`, which is the checkout quote's JSON byte for byte."""

from __future__ import annotations

import ast
import gc
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import _native
from gateway.checkout.schemas import Quote as QuoteBody
from tests.native.pricing_data import (
    coupon,
    line,
    native_price,
    reference_price,
    request,
    unknown,
)
from tests.native.test_pricing_differential import (
    broken_request,
    check_invariants,
    requests,
    stackable_piles,
)

#: The quote's wire fields, as the one Python definition (`gateway.checkout.schemas.Quote`) has
#: them; `test_the_quote_is_one_shape_across_the_boundary` holds the engine and the stub to it.
FIELDS = list(QuoteBody.__struct_fields__)


def check_quote(req: dict[str, Any]) -> None:
    expected = reference_price(req)
    quote = _native.price_quote(req)
    # Attributes first, so that the lists are built lazily before `to_dict()` runs.
    for field in FIELDS:
        assert getattr(quote, field) == expected[field], field
    assert quote.to_dict() == expected
    assert list(quote.to_dict()) == FIELDS
    assert quote.to_dict() == native_price(req)
    assert msgspec.json.decode(quote.to_json()) == expected
    assert quote.to_json() == msgspec.json.encode(msgspec.convert(expected, QuoteBody))
    assert quote.applied_codes == tuple(a["code"] for a in expected["applied"])
    assert quote.all_apply() == (expected["rejected"] == [])
    check_invariants(req, quote.to_dict())


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_quote_object_equals_reference_on_random_carts(req: dict[str, Any]) -> None:
    check_quote(req)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stackable_piles())
def test_quote_object_equals_reference_on_stackable_piles(req: dict[str, Any]) -> None:
    check_quote(req)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.data())
def test_quote_object_rejects_exactly_what_price_rejects(
    req: dict[str, Any], data: st.DataObject
) -> None:
    broken = broken_request(req, data)
    try:
        expected: Any = native_price(broken)
    except ValueError as error:
        expected = str(error)
    try:
        got: Any = _native.price_quote(broken).to_dict()
    except ValueError as error:
        got = str(error)
    assert got == expected


def test_lists_are_built_once_and_to_dict_is_a_fresh_copy() -> None:
    req = request([line(), line(sku="B")], [coupon("X", "percent", percent_off=1000), unknown("Y")])
    quote = _native.price_quote(req)
    assert quote.applied is quote.applied
    assert quote.rejected is quote.rejected
    assert quote.member_lines is quote.member_lines
    first = quote.to_dict()
    first["applied"].clear()
    first["total"] = -1
    assert quote.to_dict() == native_price(req)
    assert quote.to_dict()["applied"] is not quote.applied


def test_quote_outlives_its_request() -> None:
    # The skus and codes are the caller's own strings: the quote must keep them alive.
    skus = ["".join(["SKU-", str(i)]) for i in range(3)]
    req = request(
        [line(sku=s) for s in skus], [coupon("".join(["C", "1"]), "amount", amount_off=5)]
    )
    expected = native_price(req)
    quote = _native.price_quote(req)
    del req, skus
    gc.collect()
    assert quote.to_dict() == expected
    assert msgspec.json.decode(quote.to_json()) == expected


def test_to_json_keeps_escaped_and_non_ascii_text() -> None:
    skus = ['A"1', "B\\2", "鞋-3", "\u00e9\n"]
    req = request(
        [line(sku=s) for s in skus],
        [coupon('满"500', "threshold", amount_off=100, min_spend=100, scope_skus=skus[:2])],
    )
    quote = _native.price_quote(req)
    assert msgspec.json.decode(quote.to_json()) == native_price(req)


def test_repr_names_the_totals() -> None:
    quote = _native.price_quote(request([line(unit_price=52_000)], [unknown("NOPE")]))
    assert repr(quote) == (
        "Quote(subtotal=52000, member_discount=0, coupon_discount=0, total=52000, applied=0, "
        "rejected=1)"
    )


def test_quote_is_frozen() -> None:
    quote = _native.price_quote(request([line()]))
    with pytest.raises(AttributeError):
        quote.total = 0  # type: ignore[misc]


def test_the_quote_is_one_shape_across_the_boundary() -> None:
    # Rust's `QUOTE_FIELDS` (`Quote.FIELDS`), the keys of `to_dict()` and `to_json()`, the
    # fields of `schemas.Quote` and the properties of `_native.pyi`'s Quote are one list.
    assert QuoteBody.__struct_fields__ == _native.Quote.FIELDS
    quote = _native.price_quote(request([line()], [coupon("X", "percent", percent_off=100)]))
    assert tuple(quote.to_dict()) == _native.Quote.FIELDS
    assert tuple(msgspec.json.decode(quote.to_json())) == _native.Quote.FIELDS
    wire = msgspec.json.decode(quote.to_json(), type=QuoteBody, strict=True)
    assert wire == msgspec.convert(quote.to_dict(), QuoteBody)
    stub = ast.parse((Path(_native.__file__).parent / "_native.pyi").read_text())
    (quote_stub,) = (n for n in stub.body if isinstance(n, ast.ClassDef) and n.name == "Quote")
    properties = {
        n.name
        for n in quote_stub.body
        if isinstance(n, ast.FunctionDef)
        and any(isinstance(d, ast.Name) and d.id == "property" for d in n.decorator_list)
    }
    assert set(QuoteBody.__struct_fields__) <= properties


@pytest.mark.skipif(
    not hasattr(_native, "_price_lookup_floor"), reason="a build with --features bench"
)
def test_lookup_floor_of_the_benchmark_finds_every_field() -> None:
    # The benchmark's floor must look up each field the engine reads, or it floors nothing.
    req = request([line(), line(sku="B")], [coupon("X"), coupon("Y")])
    assert _native._price_lookup_floor(req) == 6 + 5 + 4 * 2 + 18 * 2
