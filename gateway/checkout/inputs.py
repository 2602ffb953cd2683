"""Pricing inputs: what the engine needs to price a cart, read from Postgres as named records.

The engine's request (docs/PRICING.md) is the cart's lines, the member's tier policy and each
code's candidate coupon as read now. The member's policy and the coupons are loaded for every
cart priced in the same event-loop tick (quotes and reserves alike) with one query: under load,
one round trip serves tens of carts instead of each holding a pooled connection for its own.

Coupon state is read fresh for every batch (never cached): a quote sees a coupon reserved or
redeemed a moment ago. Only campaign terms, which never change, are kept, and the programme,
whose version comes back with the same query: a worker reloads it only when it moved.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from gateway.batching import TickBatcher
from gateway.checkout.schemas import Cart, RedemptionCreate
from gateway.checkout.sql import CAMPAIGN_TERMS, PRICING_INPUTS
from gateway.coupons.services import parse_code
from gateway.programme.multipliers import Rule, line_multipliers
from gateway.programme.services import ProgrammeCache
from gateway.programme.services import cache as programme_cache
from gateway.wire import zone


class TierPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A member's birthday and tier policy; `percent_off` is None when the tier has none.
    `registered`: the member is registered (only then can an order's points be credited)."""

    registered: bool = False
    birthday: str | None = None
    percent_off: int | None = None
    birthday_percent_off: int | None = None
    points_per_yuan: int | None = None
    coupons_on_member_price: bool | None = None

    def member(self, now_ms: int) -> dict[str, Any]:
        """The engine's `member` fields (no policy: no member discount, coupons apply)."""
        if self.percent_off is None:
            return {
                "tier_percent_off": 0,
                "birthday_percent_off": 0,
                "is_birthday": False,
                "coupons_on_member_price": True,
                "points_per_yuan": 0,
            }
        return {
            "tier_percent_off": self.percent_off,
            "birthday_percent_off": self.birthday_percent_off,
            "is_birthday": is_birthday(self.birthday, now_ms),
            "coupons_on_member_price": self.coupons_on_member_price,
            "points_per_yuan": self.points_per_yuan,
        }


NO_POLICY = TierPolicy()


class FoundCoupon(msgspec.Struct, frozen=True, kw_only=True):
    """A coupon as pricing needs it: who holds it, its state, its validity (epoch seconds)
    and its campaign's terms (the engine's fields, shared by every coupon of the campaign)."""

    holder: str
    state: str
    valid_from: int
    valid_until: int
    terms: dict[str, Any]


class Loaded(msgspec.Struct, frozen=True, kw_only=True):
    """The inputs of one cart: its member's policy, the coupons found of its codes and the
    programme's points multipliers (shared by every cart of the batch; empty: none)."""

    policy: TierPolicy
    found: dict[str, FoundCoupon]
    rules: tuple[Rule, ...] = ()


def is_birthday(birthday: str | None, now_ms: int) -> bool:
    if birthday is None:
        return False
    today = datetime.fromtimestamp(now_ms / 1000, zone())
    if birthday == "02-29" and not calendar.isleap(today.year):
        birthday = "02-28"  # celebrated on the last day of February in common years
    return today.strftime("%m-%d") == birthday


def campaign_terms(row: asyncpg.Record) -> dict[str, Any]:
    """The engine's fields of a campaign, shared by every coupon of it."""
    scope = row["scope"] or {}
    return {
        "kind": row["kind"],
        "amount_off": row["amount_off"],
        "percent_off": row["percent_off"],
        "max_discount": row["max_discount"],
        "min_spend": row["min_spend"],
        "sku": row["sku"],
        "points": row["points"],
        "scope_skus": scope.get("skus", []),
        "scope_categories": scope.get("categories", []),
        "scope_stores": scope.get("stores", []),
        "channels": list(row["channels"]),
        "stackable": row["stackable"],
    }


def engine_request(
    cart: Cart | RedemptionCreate, codes: list[str | None], loaded: Loaded, now_ms: int
) -> dict[str, Any]:
    """The engine's request for `cart`; `codes`: each typed code parsed (None: not a code)."""
    coupons: list[dict[str, Any]] = []
    for text, code in zip(cart.coupon_codes, codes, strict=True):
        coupon = loaded.found.get(code) if code is not None else None
        if code is None or coupon is None:
            coupons.append({"code": text, "found": False})
        else:
            coupons.append(
                {
                    **coupon.terms,
                    "code": code,
                    "found": True,
                    "owner_matches": coupon.holder == cart.member_id,
                    "state": coupon.state,
                    "valid_from": coupon.valid_from,
                    "valid_until": coupon.valid_until,
                }
            )
            if coupon.terms["points"] and not loaded.policy.registered:
                # 积分券 of a member who is not registered: no ledger to credit, so the quote
                # promises none (points_earned is what the commit credits).
                coupons[-1]["points"] = 0
    lines = [
        {
            "sku": line.sku,
            "category": line.category,
            "unit_price": line.unit_price,
            "qty": line.qty,
        }
        for line in cart.lines
    ]
    if loaded.rules:  # no multipliers: the request stays as the engine always had it
        multipliers = line_multipliers(
            loaded.rules,
            cart.lines,
            channel=cart.channel,
            store_id=cart.store_id,
            birthday=loaded.policy.birthday,
            now_ms=now_ms,
            zone=zone(),
        )
        for line_dict, multiplier in zip(lines, multipliers or (), strict=True):
            line_dict["points_multiplier"] = multiplier
    return {
        "now": now_ms // 1000,
        "channel": cart.channel,
        "store_id": cart.store_id,
        "lines": lines,
        "member": loaded.policy.member(now_ms),
        "coupons": coupons,
    }


class PricingInputs:
    """Loads the pricing inputs of every cart priced in the same event-loop tick with one query
    (PRICING_INPUTS), the terms of campaigns not seen before with a second, and the programme
    with a third only when the version PRICING_INPUTS read is newer than the one held."""

    _TERMS_MAX = 10_000  # bounds memory; campaigns are few, a clear just costs a reload

    def __init__(self, pool: asyncpg.Pool, programme: ProgrammeCache = programme_cache) -> None:
        self.pool = pool
        self.programme = programme
        self._terms: dict[str, dict[str, Any]] = {}
        self._batcher: TickBatcher[tuple[str, list[str]], Loaded] = TickBatcher(self._load_batch)

    async def request(self, cart: Cart | RedemptionCreate, now_ms: int) -> dict[str, Any]:
        """The engine's request for `cart`, its coupons as read now (docs/PRICING.md)."""
        codes = [parse_code(text) for text in cart.coupon_codes]
        wanted = [code for code in codes if code is not None]
        loaded = await self._batcher.submit((cart.member_id, wanted))
        return engine_request(cart, codes, loaded, now_ms)

    async def _load_batch(self, carts: list[tuple[str, list[str]]]) -> list[Loaded]:
        """The inputs of each (member_id, codes), in order."""
        members = sorted({member_id for member_id, _ in carts})
        codes = sorted({code for _, wanted in carts for code in wanted})
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(PRICING_INPUTS, members, codes)
            if rows:  # no row: nothing to price points by (no member, no coupon)
                self.programme.seen_version(rows[0]["programme_version"])
            rules = (await self.programme.get(conn)).rules
            missing = sorted(
                {r["campaign_id"] for r in rows if not r["is_member"]} - self._terms.keys()
            )
            if missing:
                if len(self._terms) > self._TERMS_MAX:
                    self._terms.clear()
                for row in await conn.fetch(CAMPAIGN_TERMS, missing):
                    self._terms[row["id"]] = campaign_terms(row)
        policies: dict[str, TierPolicy] = {}
        coupons: dict[str, FoundCoupon] = {}
        for r in rows:
            if r["is_member"]:
                policies[r["key"]] = TierPolicy(
                    registered=True,
                    birthday=r["birthday"],
                    percent_off=r["percent_off"],
                    birthday_percent_off=r["birthday_percent_off"],
                    points_per_yuan=r["points_per_yuan"],
                    coupons_on_member_price=r["coupons_on_member_price"],
                )
            else:
                coupons[r["key"]] = FoundCoupon(
                    holder=r["holder"],
                    state=r["state"],
                    valid_from=r["valid_from"],
                    valid_until=r["valid_until"],
                    terms=self._terms[r["campaign_id"]],
                )
        return [
            Loaded(
                policy=policies.get(member_id, NO_POLICY),
                found={code: coupons[code] for code in wanted if code in coupons},
                rules=rules,
            )
            for member_id, wanted in carts
        ]
