"""Wire types of the reports. Counts are integers, money integer cents, points integers; a
rate is a float rounded to 4 decimals, or null when its denominator is 0."""

from __future__ import annotations

import msgspec

from gateway.wire import Out


class ClerkFigures(Out):
    #: The key's name (`gateway keys create --name`), or `key:<id>` for a key without one.
    actor: str
    granted: int
    redeemed: int
    redemption_rate: float | None


class ClerkTotals(Out):
    granted: int
    redeemed: int
    redemption_rate: float | None


class ClerksReport(Out):
    """导购发券量与转化率: per API key name, the coupons it granted in the window and how many
    of those were redeemed."""

    #: The window, [from, to).
    from_: str = msgspec.field(name="from")
    to: str
    clerks: list[ClerkFigures]
    total: ClerkTotals


class ReferralRewards(Out):
    given: int
    refused: int
    points: int
    coupons: int


class Inviter(Out):
    member_id: str
    invitees_ordered: int


class ReferralsReport(Out):
    """推荐有礼 and its board (推荐排行榜)."""

    from_: str = msgspec.field(name="from")
    to: str
    invitations: int
    first_orders: int
    rewards: ReferralRewards
    top_inviters: list[Inviter]


class PointsMoves(Out):
    #: The window, (from, to].
    from_: str = msgspec.field(name="from")
    to: str
    earned: int
    spent: int
    expired: int
    transferred: int
    adjusted: int
    reversed: int


class PointsReport(Out):
    """积分: what members hold, owe and are about to lose, and how points moved lately."""

    as_of: str
    outstanding: int
    pending: int
    owed: int
    expiring_30d: int
    expiring_90d: int
    last_30_days: PointsMoves


class MemberFigures(Out):
    new_members: int
    active_members: int
    ordering_members: int
    repeat_members: int
    repeat_rate: float | None
    orders: int
    paid_total: int
    average_order_value: int | None


class TierFigures(MemberFigures):
    tier: str


class MembersReport(Out):
    """新会员, 活跃会员, 复购率, 会员客单价: overall and per tier."""

    from_: str = msgspec.field(name="from")
    to: str
    overall: MemberFigures
    tiers: list[TierFigures]
