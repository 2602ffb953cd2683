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
    stock_total: int
    remaining: int
    claimed: int
    redeemed: int
    claim_rate: float
    redemption_rate: float


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
