"""HTTP routes of the programme."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put
from litestar.datastructures import State
from litestar.params import JSONBody

from gateway.auth.services import actor
from gateway.programme import services
from gateway.programme.schemas import Programme
from gateway.wire import strict_body


class ProgrammeController(Controller):
    path = "/v1/programme"
    tags = ["programme"]  # noqa: RUF012 - Litestar reads a plain list

    @put("/", operation_id="putProgramme", opt={"roles": ("admin",)})
    async def put_programme(
        self, request: Request[Any, Any, Any], state: State, data: JSONBody[Programme]
    ) -> Programme:
        """Replaces the whole programme (积分 and 等级 rules): points expiry, pending days,
        transfers and multipliers, tier thresholds and downgrades, rewards. A part left out
        takes its default (as before any PUT). Answers the programme as stored. Bad rules
        (a multiplier outside 1..10, thresholds that do not rise with the tier, a campaign
        that is not live, a window that ends before it starts): 400 naming the field."""
        data = await strict_body(request, Programme)
        return await services.put_programme(state.pool, data, actor(request))

    @get("/", operation_id="getProgramme", opt={"roles": ("admin",)})
    async def get_programme(self, state: State) -> Programme:
        """The programme; until one is set, the defaults: points expire at the end of next
        year, no pending days, not transferable, no multipliers, no tier thresholds (tiers
        move only by an admin), every reward off."""
        return await services.get_programme(state.pool)
