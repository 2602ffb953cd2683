"""HTTP routes of jobs (a grant to a segment is made by the grant route: claims/controllers)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, Parameter

from gateway.http import ErrorBody
from gateway.jobs.schemas import Job, Jobs
from gateway.jobs.services import JobService
from gateway.wire import check_id


class JobController(Controller):
    path = "/v1/jobs"
    tags = ["jobs"]  # noqa: RUF012 - Litestar reads a plain list

    @get(
        "/{job_id:str}",
        operation_id="getJob",
        opt={"roles": ("admin",)},
        responses={
            404: ResponseSpec(
                data_container=ErrorBody, description="job_not_found", generate_examples=False
            )
        },
    )
    async def job(self, state: State, job_id: FromPath[str]) -> Job:
        """A job's progress: `total` members, `done` of them with an outcome, `granted` and
        `rejected` by reason; `state` running until every member has one, then done."""
        service: JobService = state.jobs
        return await service.get(check_id(job_id, "job_id"))

    @get("/", operation_id="listJobs", opt={"roles": ("admin",)})
    async def jobs(self, state: State, limit: int = Parameter(default=20, ge=1, le=200)) -> Jobs:
        """The latest jobs, newest first (the back office's list of grant jobs)."""
        service: JobService = state.jobs
        return await service.latest(limit)
