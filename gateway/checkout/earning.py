"""What an order's lines earn in points, from its stored pricing result (refunds use it).

The engine computes the order's `points_earned` (docs/PRICING.md, "Points"): per line,
`floor(paid * points_per_yuan * multiplier / 100)`, where `paid` is the line's amount less its
shares of the member discount and of every applied coupon, plus the points of the applied
points coupons. These are the same figures per line, so that a refund takes back exactly what
its lines earned.
"""

from __future__ import annotations

from typing import Any

from gateway.checkout.refunds import line_paid


def line_points(
    cart_lines: list[dict[str, Any]],
    result: dict[str, Any],
    points_per_yuan: int,
    multipliers: list[int] | None,
) -> list[int]:
    """The points each cart line earned (without points coupons)."""
    paid = line_paid(cart_lines, result)
    factors = multipliers or [1] * len(cart_lines)
    return [amount * points_per_yuan * m // 100 for amount, m in zip(paid, factors, strict=True)]


def points_back(line_points: list[int], qty: list[int], before: list[int], after: list[int]) -> int:
    """What a refund takes back when line i goes from `before[i]` to `after[i]` refunded
    units of `qty[i]`: cumulative, so unit-by-unit refunds add up to the whole, never beyond."""
    return sum(
        points * done // units - points * earlier // units
        for points, units, earlier, done in zip(line_points, qty, before, after, strict=True)
    )
