"""Wire types of coupons."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway.wire import TEXT_PATTERN, Out, Struct

#: A clerk's or operator's reason for a revocation or a reissue; stored in the events' `detail`
#: (jsonb), so no NUL (see `TEXT_PATTERN`).
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN)]


class Coupon(Out):
    code: str
    campaign_id: str
    member_id: str
    kind: str
    state: str
    valid_from: str
    valid_until: str
    claimed_at: str
    channel: str
    transferable: bool
    transferred_from: str | None


class Wallet(Out):
    coupons: list[Coupon]


class RevokeRequest(Struct):
    """Why the coupon is withdrawn (kept in its event): 1..200 characters."""

    reason: Reason


class ReissueRequest(Struct):
    """Why the coupon is replaced (kept in both coupons' events): 1..200 characters."""

    reason: Reason
