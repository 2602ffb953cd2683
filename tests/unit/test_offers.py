"""The offer as retail writes it, and the money and 折 it is made of."""

from __future__ import annotations

from datetime import UTC
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from gateway.pages.offers import local_time, offer, validity, yuan, zhe


def campaign(**fields: Any) -> Any:
    base = {
        "kind": "threshold",
        "amount_off": None,
        "percent_off": None,
        "max_discount": None,
        "min_spend": None,
        "sku": None,
        "points": None,
    }
    return SimpleNamespace(**{**base, **fields})


def test_yuan_drops_the_zeros_retail_does_not_print() -> None:
    assert [yuan(c) for c in (50000, 1000, 1990, 1999, 5, 0)] == [
        "500",
        "10",
        "19.9",
        "19.99",
        "0.05",
        "0",
    ]


def test_zhe_is_the_share_of_the_price_paid() -> None:
    assert [zhe(bp) for bp in (1500, 1000, 2000, 1250, 5000)] == ["8.5", "9", "8", "8.75", "5"]


def test_each_kind_in_chinese_and_english() -> None:
    cases = [
        (campaign(amount_off=10000, min_spend=50000), "满500减100", "¥100 off ¥500"),
        (
            campaign(kind="amount", amount_off=1000, min_spend=0),
            "无门槛10元",
            "¥10 off, no minimum",
        ),
        (campaign(kind="percent", percent_off=1500), "8.5折", "15% off"),
        (
            campaign(kind="percent", percent_off=1000, max_discount=5000),
            "9折，最高减50元",
            "10% off, up to ¥50",
        ),
        (campaign(kind="exchange", sku="SKU-1"), "兑换 SKU-1", "Free SKU-1"),
        (campaign(kind="gift", sku="TOTE"), "礼品 TOTE", "Gift: TOTE"),
        (campaign(kind="points", points=200), "积分 200", "200 points"),
    ]
    for c, zh, en in cases:
        assert offer(c, "zh") == zh
        assert offer(c, "en") == en


def test_validity_in_the_gateway_zone() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert local_time("2026-11-10T16:00:00+00:00", shanghai) == "2026-11-11 00:00"
    fixed = campaign(
        validity={
            "mode": "fixed",
            "starts_at": "2026-11-10T16:00:00Z",
            "ends_at": "2026-11-17T16:00:00Z",
        }
    )
    assert validity(fixed, "zh", shanghai) == "有效期 2026-11-11 00:00 至 2026-11-18 00:00"
    relative = campaign(validity={"mode": "relative", "days": 7})
    assert validity(relative, "zh", UTC) == "领取后7天内有效"
    assert validity(relative, "en", UTC) == "Valid for 7 days after claiming"
