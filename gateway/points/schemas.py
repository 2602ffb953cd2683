"""Wire types of points (API.md v1.1 "Points", "Points exchange")."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.coupons.schemas import Coupon
from gateway.wire import TEXT_PATTERN, Id, Out, Struct

#: A point amount a client sends: never 0, within what any ledger sum can hold (|n| <= 10^12).
PointsAmount = Annotated[int, msgspec.Meta(ge=-1_000_000_000_000, le=1_000_000_000_000)]
PositivePoints = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000_000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN)]

EntryKind = Literal[
    "earn",
    "earn_pending",
    "activate",
    "spend",
    "reverse",
    "expire",
    "transfer_in",
    "transfer_out",
    "adjust",
    "reward",
]


class NextExpiry(Out):
    """The points that expire first, and when (end of that day, local time)."""

    points: int
    at: str


class PointsSummary(Out):
    """What a member's card shows: the balance (negative while the member owes points),
    the pending points (an order's, inside its return window) and the next expiry."""

    balance: int
    pending: int
    next_expiry: NextExpiry | None


class Lot(Out):
    points: int
    remaining: int
    earned_at: str
    counts_from: str
    expires_at: str | None
    source: str


class Points(Out):
    """`GET /v1/members/{id}/points`: lots with points left, soonest expiry first."""

    balance: int
    pending: int
    debt: int
    lots: list[Lot]


class Entry(Out):
    """One move of the ledger. `points` is the change it made: to the balance, or to the
    pending points for `earn_pending` and for a refund's `reverse` of pending points."""

    id: int
    at: str
    kind: EntryKind
    points: int
    balance_after: int
    order_id: str | None
    campaign_id: str | None
    counterparty: str | None
    reason: str | None


class History(Out):
    entries: list[Entry]
    next: str | None


class Adjustment(Struct):
    """An operator's correction: positive credits a lot (with the programme's expiry),
    negative takes points soonest expiry first (never beyond the balance)."""

    points: PointsAmount
    reason: Reason


class PointsTransferRequest(Struct):
    to_member_id: Id
    points: PositivePoints


class PointsTransfer(Out):
    # `from` is a Python keyword: the field is renamed on the wire.
    from_: Entry = msgspec.field(name="from")
    to: Entry


class ExpiringMember(Out):
    member_id: str
    points: int
    at: str


class Expiring(Out):
    """Members whose points expire within the window, soonest first: how many and when."""

    members: list[ExpiringMember]
    next: str | None


class ExchangeRequest(Struct):
    member_id: Id
    channel: Literal["online", "store"]
    #: The campaign's link token, as for a claim: required by a `link_only` campaign.
    token: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class ExchangedCoupon(Coupon):
    points_spent: int
