"""Wire types of the campaigns resource."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.wire import (
    TEXT_PATTERN,
    AwareDatetime,
    BasisPoints,
    Cents,
    Count,
    Id,
    Out,
    PositiveCents,
    Struct,
)

Kind = Literal["percent", "amount", "threshold", "exchange", "gift", "points"]
Channel = Literal["online", "store"]
Status = Literal["draft", "live", "paused", "closed"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN)]


class Scope(Struct):
    skus: Annotated[list[Id], msgspec.Meta(max_length=1000)] = msgspec.field(default_factory=list)
    categories: Annotated[list[Id], msgspec.Meta(max_length=1000)] = msgspec.field(
        default_factory=list
    )
    stores: Annotated[list[Id], msgspec.Meta(max_length=1000)] = msgspec.field(default_factory=list)


class FixedValidity(Struct, tag_field="mode", tag="fixed"):
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class RelativeValidity(Struct, tag_field="mode", tag="relative"):
    days: Annotated[int, msgspec.Meta(ge=1, le=3650)]


Validity = FixedValidity | RelativeValidity


class CampaignCreate(Struct, kw_only=True):
    name: Name
    kind: Kind
    amount_off: PositiveCents | None = None
    percent_off: BasisPoints | None = None
    max_discount: PositiveCents | None = None
    min_spend: Cents | None = None
    sku: Id | None = None
    points: Count | None = None
    scope: Scope = msgspec.field(default_factory=Scope)
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=2)]
    claim_starts_at: AwareDatetime
    claim_ends_at: AwareDatetime
    validity: Validity
    stock: Count
    per_member_limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    transferable: bool = False
    stackable: bool = False
    low_stock_threshold: Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)] = 0
    #: Claims need the campaign's link token (403 `invalid_token` without it). Fixed at creation.
    link_only: bool = False
    #: 积分兑换: its coupons are exchanged for this many points (`POST .../exchanges`), never
    #: claimed (409 `exchange_only`). Fixed at creation.
    points_price: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000_000)] | None = None
    buckets: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=64,
            description=(
                'Hot-stock buckets (API v1.1 "Hot campaigns on Redis Cluster"): the stock is '
                "split over this many shards of the Redis Cluster, each member always claiming "
                "in the same one. Limits stay exact; `remaining` and `stats` are the "
                "campaign's totals. Fixed at creation."
            ),
        ),
    ] = 1


class CampaignUpdate(Struct):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    claim_ends_at: AwareDatetime | msgspec.UnsetType = msgspec.UNSET
    validity: Validity | msgspec.UnsetType = msgspec.UNSET
    low_stock_threshold: (
        Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)] | msgspec.UnsetType
    ) = msgspec.UNSET


class StockChange(Struct):
    delta: Annotated[int, msgspec.Meta(ge=-1_000_000_000, le=1_000_000_000)]


class Stats(Out):
    """A campaign's live figures. `claim_rate` = claimed / stock_total and `redemption_rate` =
    redeemed / claimed (0 when undefined); `conversion_rate`, `transferred` and `exchanged` as
    described on each field (API v1.1 "Reports")."""

    stock_total: int
    remaining: int
    claimed: int
    redeemed: int
    claim_rate: float
    redemption_rate: float
    conversion_rate: Annotated[
        float | None,
        msgspec.Meta(
            description=(
                "Conversion after use (使用券后完成购买的比例): the orders ever committed with a "
                "coupon of the campaign (distinct order ids of its `redeem` events) divided by "
                "the orders that ever reserved one (distinct order ids of its `reserve` "
                "events; an order reserves once, whatever happens to it after), rounded to 4 "
                "decimals; null while no coupon of the campaign was ever reserved. A refund "
                "later does not undo a conversion."
            )
        ),
    ]
    transferred: Annotated[
        int,
        msgspec.Meta(
            description=(
                "Coupons of the campaign given on to a friend (转赠): those now `transferred`, "
                "one per transfer (the friend's new coupon is not counted again)."
            )
        ),
    ]
    exchanged: Annotated[
        int,
        msgspec.Meta(
            description=(
                "Exchanges done (积分兑换): coupons of the campaign a member got for points; "
                "refused or unfinished exchanges are not counted."
            )
        ),
    ]


class Campaign(Out):
    id: str
    status: str
    name: str
    kind: str
    amount_off: int | None
    percent_off: int | None
    max_discount: int | None
    min_spend: int | None
    sku: str | None
    points: int | None
    scope: dict[str, list[str]]
    channels: list[str]
    claim_starts_at: str
    claim_ends_at: str
    validity: dict[str, object]
    stock: int
    per_member_limit: int
    transferable: bool
    stackable: bool
    low_stock_threshold: int
    link_only: bool
    points_price: int | None
    #: The campaign's hot-stock buckets (1..64, fixed at creation).
    buckets: int
    created_at: str
    stats: Stats


class CampaignList(Out):
    campaigns: list[Campaign]
    #: The cursor of the next page (`before=`), or null on the last.
    next: str | None = None


class StockLevel(Out):
    stock_total: int
    remaining: int


class Link(Out):
    url: str
    token: str
