"""Wire types of tier policies."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway.wire import Out, Struct

#: A rate in basis points where 0 is meaningful (a tier with only a birthday rate).
Rate = Annotated[int, msgspec.Meta(ge=0, le=10_000)]
PointsPerYuan = Annotated[int, msgspec.Meta(ge=0, le=1000)]


class TierPut(Struct):
    """A tier's whole policy; PUT replaces it, so every field is required."""

    percent_off: Rate
    birthday_percent_off: Rate
    points_per_yuan: PointsPerYuan
    coupons_on_member_price: bool


class TierPolicy(Out):
    tier: str
    percent_off: int
    birthday_percent_off: int
    points_per_yuan: int
    coupons_on_member_price: bool
    updated_at: str


class TierList(Out):
    tiers: list[TierPolicy]
