"""Wire types of the programme (`PUT/GET /v1/programme`).

The same types are the request and the answer: a GET's body can be edited and PUT back. Every
field has a default, the value of API.md's "Until it is set" (points expire at the end of next
year, nothing pending, not transferable, no multipliers, no tier thresholds, every reward off),
so a PUT that leaves a part out sets that part to its default: PUT still replaces the whole.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.wire import TEXT_PATTERN, AwareDatetime, Id, Struct

Channel = Literal["online", "store"]
#: Tier thresholds and spend steps: cents, far beyond any order, well inside 64 bits.
Threshold = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000_000)]
PositiveThreshold = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000_000)]
RewardPoints = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
#: A condition's list: at least one entry (leave the condition out for "any").
Ids = Annotated[list[Id], msgspec.Meta(min_length=1, max_length=1000)]
Channels = Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=2)]
RuleName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=TEXT_PATTERN)]

MAX_MULTIPLIERS = 50
MAX_SPEND_STEPS = 20


# -- points -----------------------------------------------------------------------------------


class ExpiryEndOfNextYear(Struct, tag_field="mode", tag="end_of_next_year"):
    """Points earned in a year expire at the end of 31 December of the next (local time)."""


class ExpiryDays(Struct, tag_field="mode", tag="days"):
    """Points expire `days` days after they count."""

    days: Annotated[int, msgspec.Meta(ge=1, le=36_500)]


class ExpiryNever(Struct, tag_field="mode", tag="never"):
    """Points never expire."""


Expiry = ExpiryEndOfNextYear | ExpiryDays | ExpiryNever


class MultiplierWhen(Struct, omit_defaults=True):
    """A multiplier's conditions; every one present must hold. Absent: any."""

    #: The member's birthday falls in the current month (local time).
    birthday_month: bool | None = None
    #: 会员日: the day of the month, local time (31 holds only in months that have one).
    day_of_month: Annotated[int, msgspec.Meta(ge=1, le=31)] | None = None
    #: From this instant (inclusive).
    starts_at: AwareDatetime | None = None
    #: Until this instant (exclusive).
    ends_at: AwareDatetime | None = None
    #: The line's sku is one of these.
    skus: Ids | None = None
    #: The line's category is one of these.
    categories: Ids | None = None
    #: The cart's store is one of these (a cart without a store never matches).
    stores: Ids | None = None
    #: The cart's channel is one of these.
    channels: Channels | None = None


class Multiplier(Struct):
    """A line earns `multiplier` times its points when every condition of `when` holds; the
    largest matching multiplier applies, never the product of several."""

    name: RuleName
    multiplier: Annotated[int, msgspec.Meta(ge=1, le=10)]
    when: MultiplierWhen = msgspec.field(default_factory=MultiplierWhen)


class PointsRules(Struct):
    expiry: Expiry = msgspec.field(default_factory=ExpiryEndOfNextYear)
    #: Points of an order count only after this many days (the return window).
    pending_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 0
    #: Members may give points to a registered friend (积分赠送).
    transferable: bool = False
    multipliers: Annotated[list[Multiplier], msgspec.Meta(max_length=MAX_MULTIPLIERS)] = (
        msgspec.field(default_factory=list)
    )


# -- tiers ------------------------------------------------------------------------------------


class TierThreshold(Struct):
    """What reaches a tier: one committed order's paid total, or the paid spend of the last 365
    days (cents). Null: that way does not reach it."""

    single_order: Threshold | None = None
    yearly_spend: Threshold | None = None


class TierRules(Struct):
    """Thresholds of each tier (null or absent: none; `standard` never has one); each kind must
    rise strictly from silver to gold to diamond where both tiers set it."""

    silver: TierThreshold | None = None
    gold: TierThreshold | None = None
    diamond: TierThreshold | None = None
    downgrade: Literal["one_step", "recalculate"] = "one_step"


# -- rewards ----------------------------------------------------------------------------------


class RewardGrant(Struct):
    """A reward: a coupon of a live campaign (null: none) and/or points (0: none)."""

    campaign_id: Id | None = None
    points: RewardPoints = 0


class ReferralReward(Struct):
    inviter: RewardGrant = msgspec.field(default_factory=RewardGrant)
    invitee: RewardGrant = msgspec.field(default_factory=RewardGrant)


class TransferReward(Struct):
    giver_points: RewardPoints = 0
    first_order_campaign_id: Id | None = None


class SpendStep(Struct):
    """满赠 (`order`: one order's paid total reaches `min_paid`) or 阶梯满返 (`month`: the
    member's paid spend in a calendar month first reaches it): a coupon of `campaign_id`."""

    period: Literal["order", "month"]
    min_paid: PositiveThreshold
    campaign_id: Id


class BirthdayReward(Struct):
    """生日礼: a coupon of `campaign_id` from `days_before` local days before the member's
    birthday up to the day itself (the scan runs every 10 minutes), once per birthday year. A
    02-29 birthday is celebrated on 02-28 in common years (so due from 02-28 minus
    `days_before`), as the birthday rate is."""

    campaign_id: Id | None = None
    days_before: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=30,
            description=(
                "生日礼: the coupon is due from this many local days before the birthday up to "
                "the day itself, once per birthday year; a 02-29 birthday is celebrated on "
                "02-28 in common years."
            ),
        ),
    ] = 0


class WinBack(Struct):
    """回归礼: a coupon of `campaign_id` for a member with at least one order and none in the
    `after_days` local days since its last one; once per lapse (an order starts a new one)."""

    campaign_id: Id | None = None
    after_days: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=3650,
            description=(
                "回归礼: due when the member's last order is this many local days old or "
                "more; once per lapse (an order starts a new one)."
            ),
        ),
    ] = 60


class RewardRules(Struct):
    welcome: RewardGrant = msgspec.field(default_factory=RewardGrant)
    first_order: RewardGrant = msgspec.field(default_factory=RewardGrant)
    referral: ReferralReward = msgspec.field(default_factory=ReferralReward)
    transfer: TransferReward = msgspec.field(default_factory=TransferReward)
    spend_steps: Annotated[list[SpendStep], msgspec.Meta(max_length=MAX_SPEND_STEPS)] = (
        msgspec.field(default_factory=list)
    )
    birthday: BirthdayReward = msgspec.field(default_factory=BirthdayReward)
    win_back: WinBack = msgspec.field(default_factory=WinBack)


class Programme(Struct):
    """The whole programme: points rules, tier thresholds, rewards."""

    points: PointsRules = msgspec.field(default_factory=PointsRules)
    tiers: TierRules = msgspec.field(default_factory=TierRules)
    rewards: RewardRules = msgspec.field(default_factory=RewardRules)


DEFAULT = Programme()
