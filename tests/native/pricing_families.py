"""The hard families of carts for the best-set search, seeded so that tests, the GIL test and
loadtests/bench_pricing.py price the same carts (docs/PRICING.md, "Worst cases")."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from tests.native.pricing_data import coupon, line, member, request

SKUS = ["A", "B", "C", "D"]
CATEGORIES = ["tops", "shoes", "bras"]


def _cart(rng: random.Random, lines: int) -> list[dict[str, Any]]:
    return [
        line(
            sku=rng.choice(SKUS),
            category=rng.choice(CATEGORIES),
            unit_price=rng.randint(1, 60_000),
            qty=rng.randint(1, 3),
        )
        for _ in range(lines)
    ]


def mixed_percent(seed: int, lines: int = 200, codes: int = 20) -> dict[str, Any]:
    """The family docs/PRICING.md measured at 1-4.5 s before the work budget: stackable percent
    codes, random scopes over four skus, some capped. Each code adds only what is left after
    the others, so nearly every subset comes within rounding of the best."""
    rng = random.Random(seed)
    pile = [
        coupon(
            f"P{i}",
            "percent",
            percent_off=rng.choice([rng.randint(1, 10_000), 500, 1000, 1500, 2500]),
            max_discount=rng.choice([None, None, rng.randint(0, 200_000)]),
            scope_skus=rng.sample(SKUS, rng.randint(0, 3)),
            stackable=True,
        )
        for i in range(codes)
    ]
    return request(_cart(rng, lines), pile, member(tier=rng.choice([0, 1200])))


def small_rates(seed: int, lines: int = 200, codes: int = 20) -> dict[str, Any]:
    """Percent codes of 0.01-1% with mixed scopes: every code is worth a few cents, within the
    rounding of the others, so the bounds cannot tell the subsets apart."""
    rng = random.Random(seed)
    pile = [
        coupon(
            f"R{i}",
            "percent",
            percent_off=rng.randint(1, 100),
            scope_skus=rng.sample(SKUS, rng.randint(1, 3)),
            stackable=True,
        )
        for i in range(codes)
    ]
    return request(_cart(rng, lines), pile)


def capped_mix(seed: int, lines: int = 200, codes: int = 20) -> dict[str, Any]:
    """Percent codes with caps near their take, amount codes and an exchange, scopes by sku
    and category: caps and the fixed order are where a code can lose money for the set."""
    rng = random.Random(seed)
    pile: list[dict[str, Any]] = [coupon("EX", "exchange", sku=rng.choice(SKUS), stackable=True)]
    for i in range(codes - 1):
        scope = {
            "scope_skus": rng.sample(SKUS, rng.randint(0, 2)),
            "scope_categories": rng.sample(CATEGORIES, rng.randint(0, 1)),
        }
        if rng.random() < 0.7:
            pile.append(
                coupon(
                    f"C{i}",
                    "percent",
                    percent_off=rng.randint(100, 3000),
                    max_discount=rng.randint(1_000, 100_000),
                    stackable=True,
                    **scope,
                )
            )
        else:
            pile.append(
                coupon(
                    f"A{i}", "amount", amount_off=rng.randint(100, 50_000), stackable=True, **scope
                )
            )
    return request(_cart(rng, lines), pile, member(tier=1200, on_member_price=rng.random() < 0.5))


FAMILIES: dict[str, Callable[..., dict[str, Any]]] = {
    "mixed_percent": mixed_percent,
    "small_rates": small_rates,
    "capped_mix": capped_mix,
}
