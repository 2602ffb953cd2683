"""HTTP route of tier policies."""

from __future__ import annotations

from typing import Any, get_args

from litestar import Controller, Request, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from gateway.auth.services import actor
from gateway.clock import clock
from gateway.errors import InvalidRequest
from gateway.members.schemas import Tier
from gateway.tiers import services
from gateway.tiers.review import ReviewReport, review_due
from gateway.tiers.schemas import TierList, TierPolicy, TierPut
from gateway.wire import strict_body

TIERS: tuple[str, ...] = get_args(Tier)


class TierController(Controller):
    path = "/v1/tiers"
    tags = ["tiers"]  # noqa: RUF012 - Litestar reads a plain list

    @put("/{tier:str}", operation_id="putTier", opt={"roles": ("admin",)})
    async def put_tier(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tier: FromPath[str],
        data: JSONBody[TierPut],
    ) -> TierPolicy:
        """Sets a tier's policy: its rate, the birthday rate (the better one applies, never
        both), points per yuan, and whether coupons apply on the member price (折上折)."""
        if tier not in TIERS:
            raise InvalidRequest(f"tier: must be one of {', '.join(TIERS)}")
        data = await strict_body(request, TierPut)
        return await services.put_tier(state.pool, tier, data, actor(request))

    @get("/", operation_id="listTiers", opt={"roles": ("admin",)})
    async def list_tiers(self, state: State) -> TierList:
        """Every tier that has a policy, by tier name; a tier not listed has none yet (its
        members get no member discount)."""
        return TierList(tiers=await services.list_tiers(state.pool))

    @post("/review", operation_id="reviewTiers", opt={"roles": ("admin",)}, status_code=200)
    async def review(self, request: Request[Any, Any, Any], state: State) -> ReviewReport:
        """Runs the tier review (保级) now, as the scheduled one does: every member whose
        anniversary of `tier_since` has come keeps the tier or moves down. Idempotent: a rerun
        finds nothing due."""
        return await review_due(state.pool, clock.now_ms(), actor=actor(request))
