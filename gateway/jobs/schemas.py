"""Wire types of jobs, and the grant route's body (members now, or a segment as a job)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.claims.schemas import Channel
from gateway.wire import Id, Out, Struct


class GrantBody(Struct):
    """`POST /v1/campaigns/{id}/grants`: `member_ids` (1..1000, granted at once: 200) or
    `segment_id` (every member of the saved segment, as a job: 202), never both."""

    channel: Channel
    member_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=1000)] | None = None
    segment_id: Id | None = None


class JobCreated(Out):
    job_id: str


class Job(Out):
    """A job's progress: `done` members of `total` have an outcome, `granted` a coupon, the
    others were refused (`rejected`: how many for each reason)."""

    id: str
    kind: str
    state: Literal["running", "done", "failed"]
    campaign_id: str | None
    segment_id: str | None
    total: int
    done: int
    granted: int
    rejected: dict[str, int]
    started_at: str
    finished_at: str | None


class Jobs(Out):
    jobs: list[Job]
