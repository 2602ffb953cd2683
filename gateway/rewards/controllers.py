"""HTTP routes of rewards."""

from __future__ import annotations

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import FromPath, Parameter

from gateway.rewards.schemas import Rewards
from gateway.rewards.services import RewardService
from gateway.wire import check_id


class RewardController(Controller):
    path = "/v1/members"
    tags = ["rewards"]  # noqa: RUF012 - Litestar reads a plain list

    @get(
        "/{member_id:str}/rewards",
        operation_id="getMemberRewards",
        opt={"roles": ("admin", "front")},
    )
    async def rewards(
        self,
        state: State,
        member_id: FromPath[str],
        limit: int = Parameter(default=50, ge=1, le=200),
        before: str | None = Parameter(default=None, max_length=64),
    ) -> Rewards:
        """The member's rewards given or refused, newest first (`next` → `before` pages on).
        Each reward of the programme runs by itself, at most once per member and occasion; a
        coupon that could not be granted is listed with its reason (`refused`), its points
        given all the same."""
        check_id(member_id, "member_id")
        service: RewardService = state.rewards
        return await service.of_member(member_id, limit, before)
