"""Wire types of segments: the RFM table, saved filters, their sizes and members."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import msgspec

from gateway.members.schemas import Tier
from gateway.wire import TEXT_PATTERN, Out, Struct

#: The named groups, in precedence order: a member is in the first one whose rule it meets.
Group = Literal["champions", "loyal", "big_spenders", "at_risk", "lapsed", "new", "others"]
GROUPS: tuple[str, ...] = get_args(Group)
#: Recency bands (days since the last order): 0-90 活跃, 91-180 休眠, 181-360 流失, none.
Band = Literal["active", "dormant", "lapsed", "none"]
BANDS: tuple[str, ...] = get_args(Band)

#: A measure's bound: orders, cents or days (bigint in Postgres).
Bound = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000_000)]
SegmentName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=TEXT_PATTERN)]


class MeasureRange(Struct, omit_defaults=True):
    """Inclusive bounds; give `min`, `max` or both (`min` ≤ `max`)."""

    min: Bound | None = None
    max: Bound | None = None


class MeasureAtLeast(Struct):
    min: Bound


class MeasureAtMost(Struct):
    max: Bound


class SegmentFilter(Struct, omit_defaults=True):
    """Which members: every condition given must hold (an empty filter is every member).
    Measured over the 365 local days (GATEWAY_TIME_ZONE) ending today, as the RFM table:
    `recency_days` days since the last order (a member without an order in the window
    matches no recency bound), `orders` and `spend` (paid, cents) in the window, `categories`
    distinct categories bought in it, `tiers` the member's tier, `registered_days` local days
    since registration, `birthday_month` 1-12, `group` the member's RFM group."""

    recency_days: MeasureRange | None = None
    orders: MeasureRange | None = None
    spend: MeasureRange | None = None
    categories: MeasureAtLeast | None = None
    tiers: Annotated[list[Tier], msgspec.Meta(min_length=1, max_length=4)] | None = None
    registered_days: MeasureAtMost | None = None
    birthday_month: Annotated[int, msgspec.Meta(ge=1, le=12)] | None = None
    group: Group | None = None


class SegmentCreate(Struct):
    """`POST /v1/segments`: a name and a filter."""

    name: SegmentName
    filter: SegmentFilter


class SegmentPreview(Struct):
    """`POST /v1/segments/preview`: the filter being edited."""

    filter: SegmentFilter


class Segment(Out):
    """A saved segment and its size now (members matching its filter at the time of asking)."""

    id: str
    name: str
    filter: SegmentFilter
    size: int
    created_at: str


class SegmentSummary(Out):
    """A saved segment in the list (its size costs a pass over the members: ask one segment)."""

    id: str
    name: str
    filter: SegmentFilter
    created_at: str


class Segments(Out):
    segments: list[SegmentSummary]
    next: str | None


class SegmentSize(Out):
    size: int


class SegmentMembers(Out):
    """A page of the segment's member ids in member id order; `next` → `after` for the next
    page (null: this page is the last)."""

    member_ids: list[str]
    next: str | None


class TercileThresholds(Out):
    """A measure's terciles over the buyers (members with ≥ 1 order in the window): score 1
    for a value ≤ `score_1_max`, 2 for ≤ `score_2_max`, 3 above it. Null when nobody bought."""

    score_1_max: int | None
    score_2_max: int | None


class ScoreCounts(Out):
    one: int = msgspec.field(name="1")
    two: int = msgspec.field(name="2")
    three: int = msgspec.field(name="3")


class ScoredMeasure(Out):
    """A measure's thresholds and how many members got each score."""

    thresholds: TercileThresholds
    scores: ScoreCounts


class RecencyBands(Out):
    active: int
    dormant: int
    lapsed: int
    none: int


class RfmGroup(Out):
    name: Group
    rule: str
    count: int


class RfmWindow(Out):
    """The 365 local days scored, both included."""

    first_day: str
    last_day: str


class Rfm(Out):
    """The member base scored (see `GET /v1/segments/rfm`)."""

    as_of: str
    window: RfmWindow
    members: int
    buyers: int
    recency: RecencyBands
    frequency: ScoredMeasure
    monetary: ScoredMeasure
    width: ScoredMeasure
    groups: list[RfmGroup]
