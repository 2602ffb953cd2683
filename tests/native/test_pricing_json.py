"""`price_json` answers, as JSON bytes, exactly what `price` answers as a dict."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import _native
from tests.native.pricing_data import coupon, line, request
from tests.native.test_pricing_differential import broken_request, requests, stackable_piles


def price_via_json(req: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = msgspec.json.decode(_native.price_json(msgspec.json.encode(req)))
    return answer


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_price_json_equals_price_on_random_carts(req: dict[str, Any]) -> None:
    assert price_via_json(req) == _native.price(req)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stackable_piles())
def test_price_json_equals_price_on_stackable_piles(req: dict[str, Any]) -> None:
    assert price_via_json(req) == _native.price(req)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.data())
def test_price_json_rejects_exactly_what_price_rejects(
    req: dict[str, Any], data: st.DataObject
) -> None:
    broken = broken_request(req, data)
    try:
        expected: Any = _native.price(broken)
    except ValueError:
        expected = ValueError
    try:
        got: Any = price_via_json(broken)
    except ValueError:
        got = ValueError
    assert got == expected


def test_price_json_keeps_escaped_and_non_ascii_text() -> None:
    skus = ['A"1', "B\\2", "鞋-3", "\u00e9\n"]
    req = request(
        [line(sku=s) for s in skus],
        [coupon('满"500', "threshold", amount_off=100, min_spend=100, scope_skus=skus[:2])],
    )
    assert price_via_json(req) == _native.price(req)


def test_price_json_range_errors_match_price() -> None:
    req = request([line(qty=0)])
    with pytest.raises(ValueError, match=r"^lines\[0\]\.qty: must be 1\.\.999$"):
        price_via_json(req)


def test_price_json_on_bytes_that_are_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^request: "):
        _native.price_json(b"{not json")
