"""Builders of pricing requests for the tests: a valid default for every field."""

from __future__ import annotations

from typing import Any

from gateway import _native
from gateway.discounts import reference

NOW = 1_800_000_000
DAY = 86_400


def line(
    sku: str = "A", unit_price: int = 10_000, qty: int = 1, category: str = "tops"
) -> dict[str, Any]:
    return {"sku": sku, "category": category, "unit_price": unit_price, "qty": qty}


def member(
    tier: int = 0,
    birthday: int = 0,
    is_birthday: bool = False,
    on_member_price: bool = True,
    points_per_yuan: int = 0,
) -> dict[str, Any]:
    return {
        "tier_percent_off": tier,
        "birthday_percent_off": birthday,
        "is_birthday": is_birthday,
        "coupons_on_member_price": on_member_price,
        "points_per_yuan": points_per_yuan,
    }


def coupon(code: str, kind: str = "amount", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": code,
        "found": True,
        "owner_matches": True,
        "state": "active",
        "kind": kind,
        "amount_off": None,
        "percent_off": None,
        "max_discount": None,
        "min_spend": None,
        "sku": None,
        "points": None,
        "scope_skus": [],
        "scope_categories": [],
        "scope_stores": [],
        "channels": ["online", "store"],
        "valid_from": NOW - DAY,
        "valid_until": NOW + DAY,
        "stackable": False,
    }
    base.update(fields)
    return base


def unknown(code: str) -> dict[str, Any]:
    return {"code": code, "found": False}


def request(
    lines: list[dict[str, Any]],
    coupons: list[dict[str, Any]] | None = None,
    member_policy: dict[str, Any] | None = None,
    channel: str = "online",
    store_id: str | None = None,
) -> dict[str, Any]:
    return {
        "now": NOW,
        "channel": channel,
        "store_id": store_id,
        "lines": lines,
        "member": member_policy if member_policy is not None else member(),
        "coupons": coupons or [],
    }


def native_price(req: Any) -> dict[str, Any]:
    """The engine's quote as a dict, through the one pricing entry (`price_quote`)."""
    return _native.price_quote(req).to_dict()


def reference_price(req: Any) -> dict[str, Any]:
    """The reference's quote, with the engine's `search` field: the reference prices every
    candidate set, so its answer is always the exact one."""
    return {**reference.price(req), "search": "exact"}


def assert_optimal(req: dict[str, Any], native: dict[str, Any]) -> None:
    """An exact search gives the reference's quote; a bounded one (past the work budget) a
    valid quote saving no more than the best."""
    expected = reference_price(req)
    if native["search"] == "exact":
        assert native == expected
    else:
        assert native["search"] == "bounded"
        saved = native["member_discount"] + native["coupon_discount"]
        assert saved <= expected["member_discount"] + expected["coupon_discount"]
