"""The discount rules in plain Python: the specification that the Rust engine is tested against.

Production prices carts with `gateway._native.price` (through `gateway.native`); this package is
for people reading the rules, for the differential tests and for the benchmarks.
"""

from gateway.discounts.reference import (
    REASONS,
    AppliedCoupon,
    LineShare,
    Quote,
    RejectedCode,
    price,
    price_many,
)

__all__ = [
    "REASONS",
    "AppliedCoupon",
    "LineShare",
    "Quote",
    "RejectedCode",
    "price",
    "price_many",
]
