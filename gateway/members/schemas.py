"""Wire types of the members resource."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.wire import Out, Struct

Tier = Literal["standard", "silver", "gold", "diamond"]
Birthday = Annotated[str, msgspec.Meta(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


class MemberPut(Struct):
    tier: Tier
    birthday: Birthday | None = None


class Member(Out):
    member_id: str
    tier: str
    birthday: str | None
    registered_at: str


class MemberToken(Out):
    """Who the member is on the member's pages: the mall's app opens a claim link or the
    wallet with `&m=<token>`."""

    token: str
    expires_at: str
