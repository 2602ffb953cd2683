"""How retail writes an offer and its dates: pure functions of a campaign, per language.

满500减100 (threshold), 8.5折 (percent_off 1500: the member pays 85%), 无门槛10元 (amount
without a minimum), 兑换 (exchange of a sku), 礼品 (a gift), 积分 N (points). Money is cents
in, yuan out, without trailing zeros (50000 -> "500", 1990 -> "19.9").
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from gateway.i18n import Language, text


def yuan(cents: int) -> str:
    """Cents as retail prints yuan: 50000 -> "500", 1990 -> "19.9", 5 -> "0.05"."""
    whole, fen = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}{whole}" if fen == 0 else f"{sign}{whole}.{fen:02d}".rstrip("0")


def zhe(percent_off: int) -> str:
    """A discount in basis points as 折 (tenths of the price paid): 1500 -> "8.5", 1000 -> "9",
    1250 -> "8.75"."""
    paid = 10_000 - percent_off  # basis points of the price the member pays
    whole, rest = divmod(paid, 1000)
    return str(whole) if rest == 0 else f"{whole}.{rest:03d}".rstrip("0")


def percent(percent_off: int) -> str:
    """Basis points as a percentage: 1500 -> "15", 1250 -> "12.5"."""
    whole, rest = divmod(percent_off, 100)
    return str(whole) if rest == 0 else f"{whole}.{rest:02d}".rstrip("0")


def offer(campaign: Any, lang: Language) -> str:
    """The offer's headline: 满500减100, 8.5折, 无门槛10元, 兑换 SKU, 礼品 SKU, 积分 100."""
    kind = campaign.kind
    min_spend = campaign.min_spend or 0
    if kind == "percent":
        headline = text(
            "offer.percent",
            lang,
            zhe=zhe(campaign.percent_off or 0),
            percent=percent(campaign.percent_off or 0),
        )
        if campaign.max_discount:
            headline += text("offer.cap", lang, cap=yuan(campaign.max_discount))
        if min_spend:
            headline = text("offer.min_spend", lang, min=yuan(min_spend)) + headline
        return headline
    if kind in ("threshold", "amount"):
        amount = yuan(campaign.amount_off or 0)
        if min_spend:
            return text("offer.threshold", lang, min=yuan(min_spend), amount=amount)
        return text("offer.no_threshold", lang, amount=amount)
    if kind == "exchange":
        return text("offer.exchange", lang, sku=campaign.sku or "")
    if kind == "gift":
        return text("offer.gift", lang, sku=campaign.sku or "")
    if kind == "points":
        return text("offer.points", lang, points=campaign.points or 0)
    return str(kind)  # a kind this page does not know yet: its name rather than nothing


def kind_name(kind: str, lang: Language) -> str:
    """折扣券, 满减券, 无门槛券, 兑换券, 礼品券, 积分券."""
    return text(f"kind.{kind}", lang)


def local_time(value: str | datetime, zone: tzinfo) -> str:
    """An RFC 3339 time (or a datetime) in the gateway's zone: "2026-11-11 00:00"."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def validity(campaign: Any, lang: Language, zone: tzinfo) -> str:
    """领取后7天内有效, or 2026-11-11 00:00 至 2026-11-18 00:00."""
    rule = campaign.validity
    if rule.get("mode") == "relative":
        return text("offer.valid_days", lang, days=rule["days"])
    return text(
        "offer.valid_between",
        lang,
        start=local_time(str(rule["starts_at"]), zone),
        end=local_time(str(rule["ends_at"]), zone),
    )


def claim_window(campaign: Any, lang: Language, zone: tzinfo) -> str:
    """领取时间 2026-11-11 00:00 至 2026-11-12 00:00."""
    return text(
        "offer.claim_window",
        lang,
        start=local_time(campaign.claim_starts_at, zone),
        end=local_time(campaign.claim_ends_at, zone),
    )
