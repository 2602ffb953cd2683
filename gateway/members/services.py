"""Members in Postgres."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import date

import asyncpg

from gateway.errors import InvalidRequest, MemberNotFound
from gateway.members.schemas import Member, MemberPut, MemberToken
from gateway.wire import ID_PATTERN, iso, iso_ms

UPSERT_MEMBER = """
INSERT INTO members (member_id, tier, birthday) VALUES ($1, $2, $3)
ON CONFLICT (member_id) DO UPDATE SET tier = $2, birthday = $3, updated_at = now()
RETURNING member_id, tier, birthday, registered_at
"""
MEMBER_EXISTS = "SELECT 1 FROM members WHERE member_id = $1"
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


# -- member tokens ----------------------------------------------------------------------------
# `v1.<member id, base64url>.<expiry, ms since the epoch>.<HMAC-SHA256 of the rest, 128 bits>`:
# checked without a lookup (the claim page's POST must not cost a Postgres read), bound to one
# member and one expiry. A member id may contain dots, hence its base64url.
_TOKEN_VERSION = "v1"  # noqa: S105 - the format's version tag, not a secret
_MEMBER_ID = re.compile(ID_PATTERN)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), f"member-token:{payload}".encode(), hashlib.sha256)
    return _b64(digest.digest()[:16])


def member_token(secret: str, member_id: str, expires_ms: int) -> str:
    """The token that names `member_id` until `expires_ms`."""
    payload = f"{_TOKEN_VERSION}.{_b64(member_id.encode())}.{expires_ms}"
    return f"{payload}.{_mac(secret, payload)}"


def token_member(secret: str, token: str | None, now_ms: int) -> str | None:
    """The member a token names, or None when it is missing, malformed, forged or expired."""
    if not token or len(token) > 256 or not token.isascii():
        return None
    payload, _, mac = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 3 or parts[0] != _TOKEN_VERSION or not parts[2].isdigit():
        return None
    if not hmac.compare_digest(_mac(secret, payload).encode(), mac.encode()):
        return None
    if int(parts[2]) <= now_ms:
        return None
    try:
        member_id = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return member_id if _MEMBER_ID.match(member_id) else None


async def issue_token(
    pool: asyncpg.Pool, secret: str, member_id: str, now_ms: int, ttl_s: int
) -> MemberToken:
    """A member token for a registered member (404 `member_not_found` otherwise)."""
    if await pool.fetchval(MEMBER_EXISTS, member_id) is None:
        raise MemberNotFound(f"member {member_id!r} is not registered")
    expires_ms = now_ms + ttl_s * 1000
    return MemberToken(
        token=member_token(secret, member_id, expires_ms), expires_at=iso_ms(expires_ms)
    )
