"""HTTP routes of the members resource."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from gateway.auth.services import actor, caller_of
from gateway.clock import clock
from gateway.members import services
from gateway.members.schemas import Member, MemberPut, MemberToken
from gateway.wire import check_id, strict_body


class MemberController(Controller):
    path = "/v1/members"
    tags = ["members"]  # noqa: RUF012 - Litestar reads a plain list

    @put("/{member_id:str}", operation_id="putMember", opt={"roles": ("admin", "front")})
    async def put_member(
        self,
        request: Request[Any, Any, Any],
        state: State,
        member_id: FromPath[str],
        data: JSONBody[MemberPut],
    ) -> Member:
        """Registers or updates a member: tier (admin only, beyond `standard` or the stored
        tier: 403 `forbidden` for a front key), birthday, and the referrer at registration
        (422 `referrer_not_registered`, 422 `same_member`, 409 `referrer_fixed`). An admin's
        change of tier starts `tier_since` anew and is recorded as a `tier_set` event."""
        data = await strict_body(request, MemberPut)
        check_id(member_id, "member_id")
        caller = caller_of(request.scope)
        return await services.put_member(
            state.pool,
            member_id,
            data,
            admin=caller is not None and caller.role == "admin",
            actor=actor(request),
            now_ms=clock.now_ms(),
        )

    @get("/{member_id:str}", operation_id="getMember", opt={"roles": ("admin", "front")})
    async def get_member(self, state: State, member_id: FromPath[str]) -> Member:
        """A registered member with its rolling spend, the next tier, the next review (保级)
        and its points; or 404 `member_not_found`."""
        check_id(member_id, "member_id")
        return await services.get_member(state.pool, member_id, clock.now_ms())

    @post(
        "/{member_id:str}/tokens",
        operation_id="createMemberToken",
        opt={"roles": ("front", "admin")},
        status_code=201,
    )
    async def create_token(self, state: State, member_id: FromPath[str]) -> MemberToken:
        """A member token for the member's pages: the mall's server asks for one for its
        signed-in member and opens the claim link (or `/wallet`) with `&m=<token>`. HMAC with
        GATEWAY_MEMBER_TOKEN_SECRET, valid GATEWAY_MEMBER_TOKEN_TTL_S (30 minutes by default),
        for this member only. 404 `member_not_found` for an unregistered member."""
        check_id(member_id, "member_id")
        settings = state.settings
        return await services.issue_token(
            state.pool,
            settings.member_token_secret,
            member_id,
            clock.now_ms(),
            settings.member_token_ttl_s,
        )
