"""Wire types of claims and grants."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.coupons.schemas import Coupon
from gateway.wire import Id, Out, Struct

Channel = Literal["online", "store"]


class ClaimRequest(Struct):
    member_id: Id
    channel: Channel
    token: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class GrantRequest(Struct):
    member_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=1000)]
    channel: Channel


class GrantRejection(Out):
    member_id: str
    reason: str


class GrantResult(Out):
    granted: list[Coupon]
    rejected: list[GrantRejection]
