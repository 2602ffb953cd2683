"""Wire types of rewards."""

from __future__ import annotations

from gateway.wire import Out


class Reward(Out):
    """A reward given (its points and/or coupon) or whose coupon was refused (`refused`: the
    grant's reason, e.g. sold_out, limit_reached, not_live; its points are given all the
    same). `occasion` says which instance: 'first_order', 'referral:inviter:<invitee>',
    'spend_step:month:2026-11:50000', 'birthday:2027', ..."""

    kind: str
    occasion: str
    at: str
    points: int
    campaign_id: str | None
    coupon_code: str | None
    refused: str | None
    order_id: str | None
    counterparty: str | None


class Rewards(Out):
    rewards: list[Reward]
    next: str | None
