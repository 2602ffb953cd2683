"""Members in Postgres."""

from __future__ import annotations

from datetime import date

import asyncpg

from gateway.errors import InvalidRequest, MemberNotFound
from gateway.members.schemas import Member, MemberPut
from gateway.wire import iso

UPSERT_MEMBER = """
INSERT INTO members (member_id, tier, birthday) VALUES ($1, $2, $3)
ON CONFLICT (member_id) DO UPDATE SET tier = $2, birthday = $3, updated_at = now()
RETURNING member_id, tier, birthday, registered_at
"""
GET_MEMBER = "SELECT member_id, tier, birthday, registered_at FROM members WHERE member_id = $1"


def _check_birthday(birthday: str | None) -> None:
    if birthday is None:
        return
    month, day = int(birthday[:2]), int(birthday[3:])
    try:
        date(2000, month, day)  # a leap year: 02-29 is a real birthday
    except ValueError:
        raise InvalidRequest(f"birthday: {birthday!r} is not a day of the year") from None


def _member(row: asyncpg.Record) -> Member:
    return Member(
        member_id=row["member_id"],
        tier=row["tier"],
        birthday=row["birthday"],
        registered_at=iso(row["registered_at"]),
    )


async def put_member(pool: asyncpg.Pool, member_id: str, data: MemberPut) -> Member:
    _check_birthday(data.birthday)
    return _member(await pool.fetchrow(UPSERT_MEMBER, member_id, data.tier, data.birthday))


async def get_member(pool: asyncpg.Pool, member_id: str) -> Member:
    row = await pool.fetchrow(GET_MEMBER, member_id)
    if row is None:
        raise MemberNotFound(f"member {member_id!r} is not registered")
    return _member(row)
