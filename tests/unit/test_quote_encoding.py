"""The quote route encodes the engine's dict as is: it must be exactly the `Quote` wire shape."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway.checkout.schemas import Quote
from gateway.native import price_quote
from gateway.wire import encoder

MEMBER = {
    "tier_percent_off": 500,
    "birthday_percent_off": 0,
    "is_birthday": False,
    "coupons_on_member_price": True,
    "points_per_yuan": 1,
}


def coupon(code: str, **terms: Any) -> dict[str, Any]:
    return {
        "code": code,
        "found": True,
        "owner_matches": True,
        "state": "active",
        "kind": "amount",
        "amount_off": 1000,
        "percent_off": None,
        "max_discount": None,
        "min_spend": None,
        "sku": None,
        "points": None,
        "scope_skus": [],
        "scope_categories": [],
        "scope_stores": [],
        "channels": ["online"],
        "valid_from": 0,
        "valid_until": 4_000_000_000,
        "stackable": True,
        **terms,
    }


@pytest.mark.parametrize(
    "coupons",
    [
        [],
        [coupon("A")],
        [
            coupon("A"),
            coupon("B", kind="gift", amount_off=None, sku="G"),
            {"code": "x", "found": False},
        ],
        [coupon("P", kind="points", amount_off=None, points=50), coupon("A", state="reserved")],
        [coupon("C", kind="percent", amount_off=None, percent_off=1500, max_discount=700)],
    ],
)
def test_the_engine_answer_encodes_exactly_as_a_quote(coupons: list[dict[str, Any]]) -> None:
    result = price_quote(
        {
            "now": 1_000_000,
            "channel": "online",
            "store_id": None,
            "lines": [
                {"sku": "S1", "category": "c", "unit_price": 12345, "qty": 3},
                {"sku": "G", "category": "d", "unit_price": 999, "qty": 1},
            ],
            "member": MEMBER,
            "coupons": coupons,
        }
    ).to_dict()
    assert encoder.encode(result) == encoder.encode(msgspec.convert(result, Quote))
