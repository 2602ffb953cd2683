"""Wire types of the members resource."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import msgspec

from gateway.points.schemas import PointsSummary
from gateway.wire import Id, Out, Struct

Tier = Literal["standard", "silver", "gold", "diamond"]
#: The tiers from the bottom up: a review moves a member down this ladder, a commit up it.
TIERS: tuple[str, ...] = get_args(Tier)
Birthday = Annotated[str, msgspec.Meta(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


class MemberPut(Struct):
    """Registers a member or updates one. `tier` absent: `standard` for a new member, the
    stored tier otherwise; only an admin key may set a tier other than the stored one (a new
    member's stored tier is `standard`). `birthday` is replaced (absent: null). `referred_by`
    (推荐人) is accepted when the member is first registered, must name another registered
    member, and never changes: sending the stored value again is fine, another is 409
    `referrer_fixed`."""

    tier: Tier | msgspec.UnsetType = msgspec.UNSET
    birthday: Birthday | None = None
    referred_by: Id | msgspec.UnsetType = msgspec.UNSET


class NextTier(Out):
    """The next tier up that has a `yearly_spend`, and what the member must still spend
    within 365 days to reach it (0 when reached: the next commit raises the tier)."""

    tier: str
    spend_needed: int


class KeepTier(Out):
    """The next review (保级): at `until` (local midnight of the next anniversary of
    `tier_since`, in calendar years; a 02-29 falls on 02-28 in other years) the member keeps
    the tier if the paid spend of the tier year it closes (since the previous anniversary, or
    since `tier_since`: 365 days, 366 across a 02-29) reaches the tier's `yearly_spend`;
    `spend_needed` is what must still be spent by then (0: kept)."""

    until: str
    spend_needed: int


class Member(Out):
    """A member with the programme's view of it. `spend_12m`/`orders_12m`: paid spend and
    orders of the last 365 local days, today included. `next_tier`: null at the top or when no
    higher tier has a `yearly_spend`. `keep_tier`: null for `standard` (nothing to keep, never
    reviewed) and for a tier without a `yearly_spend` in the programme (never moved down)."""

    member_id: str
    tier: str
    birthday: str | None
    registered_at: str
    referred_by: str | None
    tier_since: str
    spend_12m: int
    orders_12m: int
    next_tier: NextTier | None
    keep_tier: KeepTier | None
    points: PointsSummary


class MemberToken(Out):
    """Who the member is on the member's pages: the mall's app opens a claim link or the
    wallet with `&m=<token>`."""

    token: str
    expires_at: str
