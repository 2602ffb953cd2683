"""Wire types of coupons."""

from __future__ import annotations

from gateway.wire import Out


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
