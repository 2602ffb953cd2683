"""HTTP routes of segments: the RFM table (四度分析) and saved segments."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from gateway.auth.services import actor
from gateway.clock import clock
from gateway.segments import services
from gateway.segments.schemas import (
    Rfm,
    Segment,
    SegmentCreate,
    SegmentMembers,
    SegmentPreview,
    Segments,
    SegmentSize,
)
from gateway.wire import check_id, strict_body, when


class SegmentController(Controller):
    path = "/v1/segments"
    tags = ["segments"]  # noqa: RUF012 - Litestar reads a plain list

    @get("/rfm", operation_id="getRfm", opt={"roles": ("admin",)})
    async def rfm(
        self, state: State, as_of: str | None = Parameter(default=None, max_length=64)
    ) -> Rfm:
        """The member base (members registered by `as_of`, default now) scored over the
        window: the 365 local days (GATEWAY_TIME_ZONE) ending with `as_of`'s day.

        **R**ecency: days since the last order in the window; bands 0-90 `active` (活跃),
        91-180 `dormant` (休眠), 181-360 `lapsed` (流失), `none` (no order in the window, or
        the last 361-364 days before). **F**requency: orders committed (one refunded whole is
        not counted); **M**onetary: their paid spend in cents, less partial refunds;
        **W**idth: distinct categories of the lines bought (a line refunded whole is not).

        F, M and W score 1-3 by terciles over the **buyers** (members with ≥ 1 order in the
        window): with the buyers' values sorted ascending, `score_1_max` is the value at
        position ceil(n/3) and `score_2_max` at ceil(2n/3); a value ≤ `score_1_max` scores 1,
        ≤ `score_2_max` 2, above 3. Ties always share a score (a run of equal values across
        a boundary takes the lower score, so the top third may be smaller, even empty).
        Members without an order in the window score 1 on all three and are not part of the
        terciles. Both thresholds are returned per measure (null: nobody bought).

        Groups, in this order, each member in the **first** that matches: `champions`
        (R active, F 3, M 3), `loyal` (R active, F ≥ 2), `big_spenders` (M 3, R not active),
        `at_risk` (F ≥ 2, R dormant), `lapsed` (R lapsed), `new` (registered ≤ 30 local days
        before, ≤ 1 order), `others`. Also the members per band and per score."""
        now = when(clock.now_ms())
        moment = services.parse_as_of(as_of) if as_of is not None else now
        return await services.rfm(state.pool, moment, services.zone_name())

    @post("/", operation_id="createSegment", opt={"roles": ("admin",)})
    async def create(
        self, request: Request[Any, Any, Any], state: State, data: JSONBody[SegmentCreate]
    ) -> Segment:
        """Saves a segment: a name and a filter (every condition given must hold). 201 with
        its size now. Bad filters are 400 naming the field: a range without bounds or with
        `min` > `max`, a negative bound, an unknown tier or group, an unknown field."""
        data = await strict_body(request, SegmentCreate)
        return await services.create_segment(state.pool, data, actor(request), clock.now_ms())

    @get("/", operation_id="listSegments", opt={"roles": ("admin",)})
    async def segments(
        self,
        state: State,
        limit: int = Parameter(default=50, ge=1, le=200),
        before: str | None = Parameter(default=None, max_length=200),
    ) -> Segments:
        """Saved segments, newest first (`next` → `before`); a segment's size: GET it."""
        return await services.latest_segments(state.pool, limit, before)

    @post("/preview", operation_id="previewSegment", status_code=200, opt={"roles": ("admin",)})
    async def preview(
        self, request: Request[Any, Any, Any], state: State, data: JSONBody[SegmentPreview]
    ) -> SegmentSize:
        """The size a filter has now, without saving it (the segment builder asks as the
        operator edits). The same filter and the same 400s as `POST /v1/segments`."""
        data = await strict_body(request, SegmentPreview)
        return await services.preview(state.pool, data.filter, clock.now_ms())

    @get("/{segment_id:str}", operation_id="getSegment", opt={"roles": ("admin",)})
    async def segment(self, state: State, segment_id: FromPath[str]) -> Segment:
        """A saved segment with its size now (its filter applied to the members as they are)."""
        check_id(segment_id, "segment_id")
        return await services.get_segment(state.pool, segment_id, clock.now_ms())

    @get("/{segment_id:str}/members", operation_id="listSegmentMembers", opt={"roles": ("admin",)})
    async def members(
        self,
        state: State,
        segment_id: FromPath[str],
        limit: int = Parameter(default=100, ge=1, le=1000),
        after: str | None = Parameter(default=None, max_length=200),
    ) -> SegmentMembers:
        """The segment's members now, a page of member ids in member id order; `next` →
        `after` for the next page (null: the last). One statement per page."""
        check_id(segment_id, "segment_id")
        return await services.segment_members(state.pool, segment_id, after, limit, clock.now_ms())
