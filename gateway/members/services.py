"""Members in Postgres: registration (tier, birthday, referrer) and the programme's view of a
member (rolling spend, the next tier, the next review, points)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import date
from typing import Any

import asyncpg
import msgspec

from gateway.errors import (
    Forbidden,
    InvalidRequest,
    MemberNotFound,
    ReferrerFixed,
    ReferrerNotRegistered,
    SameMember,
)
from gateway.members.schemas import TIERS, KeepTier, Member, MemberPut, MemberToken, NextTier
from gateway.points.services import summary
from gateway.settings import get_settings
from gateway.wire import ID_PATTERN, iso, iso_ms, to_ms

# A first registration: ON CONFLICT DO NOTHING, so that of two at once one inserts and the
# other finds the row (under its lock) and updates it; nothing is lost. $5: now, in ms.
INSERT_MEMBER = """
INSERT INTO members (member_id, tier, birthday, referred_by, registered_at, tier_since)
VALUES ($1, $2, $3, $4, to_timestamp($5 / 1000.0), to_timestamp($5 / 1000.0))
ON CONFLICT (member_id) DO NOTHING
RETURNING member_id
"""
LOCK_MEMBER = "SELECT tier, referred_by FROM members WHERE member_id = $1 FOR UPDATE"
MEMBER_EXISTS = "SELECT 1 FROM members WHERE member_id = $1"
UPDATE_BIRTHDAY = "UPDATE members SET birthday = $2, updated_at = now() WHERE member_id = $1"
# An admin's change of tier: held since now, its reviews counted afresh.
SET_TIER = """
UPDATE members SET tier = $2, birthday = $3, tier_since = to_timestamp($4 / 1000.0),
                   tier_reviewed_at = NULL, updated_at = now()
WHERE member_id = $1
"""
TIER_SET_EVENT = """
INSERT INTO events (kind, at, member_id, actor, detail)
VALUES ('tier_set', to_timestamp($2 / 1000.0), $1, $3, $4)
"""
# The member with its programme view, in one round trip: the programme's tier thresholds, the
# spend and orders of the last 365 local days (`day > today - 365`, today included), and the
# next review (010_tier_review.sql) with the spend so far of the tier year it closes.
# $2: now in ms; $3: the zone (GATEWAY_TIME_ZONE).
GET_MEMBER = """
SELECT m.member_id, m.tier, m.birthday, m.registered_at, m.referred_by, m.tier_since,
       (SELECT body -> 'tiers' FROM programme) AS tiers,
       y.spend_12m, y.orders_12m, r.review_at, k.review_spend
FROM members m
CROSS JOIN LATERAL (
    SELECT coalesce(sum(d.paid), 0)::bigint AS spend_12m,
           coalesce(sum(d.orders), 0)::bigint AS orders_12m
    FROM member_spend_days d
    CROSS JOIN LATERAL (SELECT (to_timestamp($2 / 1000.0) AT TIME ZONE $3)::date AS today) t
    WHERE d.member_id = m.member_id AND d.day > t.today - 365 AND d.day <= t.today
) y
CROSS JOIN LATERAL (
    SELECT gw_tier_review_at(m.tier_since, m.tier_reviewed_at, $3) AS review_at
) r
CROSS JOIN LATERAL (
    SELECT coalesce(sum(d.paid), 0)::bigint AS review_spend
    FROM member_spend_days d
    WHERE d.member_id = m.member_id
      AND d.day >= gw_tier_year_start(m.tier_since, r.review_at, $3)
      AND d.day < (r.review_at AT TIME ZONE $3)::date
) k
WHERE m.member_id = $1
"""


REWARDS_REGISTERED = "SELECT gw_rewards_registered($1, to_timestamp($2 / 1000.0))"


def _check_birthday(birthday: str | None) -> None:
    if birthday is None:
        return
    month, day = int(birthday[:2]), int(birthday[3:])
    try:
        date(2000, month, day)  # a leap year: 02-29 is a real birthday
    except ValueError:
        raise InvalidRequest(f"birthday: {birthday!r} is not a day of the year") from None


def yearly_spend(tiers: Any, tier: str) -> int | None:
    """A tier's `yearly_spend` in the programme's `tiers`, or None (no programme, the tier off
    in it, or `standard`, which has no threshold)."""
    if not isinstance(tiers, dict):
        return None
    rule = tiers.get(tier)
    if not isinstance(rule, dict):
        return None
    value = rule.get("yearly_spend")
    return value if isinstance(value, int) else None


def next_tier(tiers: Any, tier: str, spend_12m: int) -> NextTier | None:
    """The first tier above `tier` with a `yearly_spend`, and the spend still needed for it."""
    above = TIERS[TIERS.index(tier) + 1 :] if tier in TIERS else ()
    for candidate in above:
        threshold = yearly_spend(tiers, candidate)
        if threshold is not None:
            return NextTier(tier=candidate, spend_needed=max(0, threshold - spend_12m))
    return None


def keep_tier(tiers: Any, tier: str, review_at_ms: int, review_spend: int) -> KeepTier | None:
    """What keeps `tier` at its next review; None when no review can move it down."""
    threshold = yearly_spend(tiers, tier) if tier != "standard" else None
    if threshold is None:
        return None
    return KeepTier(until=iso_ms(review_at_ms), spend_needed=max(0, threshold - review_spend))


async def put_member(
    pool: asyncpg.Pool, member_id: str, data: MemberPut, *, admin: bool, actor: str, now_ms: int
) -> Member:
    """Registers or updates a member (see `MemberPut`); returns it as `get_member` reads it."""
    _check_birthday(data.birthday)
    referrer = None if data.referred_by is msgspec.UNSET else data.referred_by
    if referrer == member_id:
        raise SameMember("referred_by: a member cannot refer itself")
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(LOCK_MEMBER, member_id)
        if row is None:
            tier = "standard" if data.tier is msgspec.UNSET else data.tier
            if tier != "standard" and not admin:
                raise Forbidden("tier: only an admin key registers a member above standard")
            if referrer is not None and await conn.fetchval(MEMBER_EXISTS, referrer) is None:
                raise ReferrerNotRegistered(f"referred_by: member {referrer!r} is not registered")
            inserted = await conn.fetchval(
                INSERT_MEMBER, member_id, tier, data.birthday, referrer, now_ms
            )
            if inserted is not None:
                # 开卡礼: the welcome reward is due with the registration, never twice.
                await conn.execute(REWARDS_REGISTERED, member_id, now_ms)
                if tier != "standard":
                    await conn.execute(
                        TIER_SET_EVENT, member_id, now_ms, actor, {"from": None, "to": tier}
                    )
                return await _read(conn, member_id, now_ms)
            # Registered by a request running beside this one: update what it wrote.
            row = await conn.fetchrow(LOCK_MEMBER, member_id)
        await _update(conn, member_id, row, data, referrer, admin=admin, actor=actor, now_ms=now_ms)
        return await _read(conn, member_id, now_ms)


async def _update(
    conn: asyncpg.Connection,
    member_id: str,
    row: asyncpg.Record,
    data: MemberPut,
    referrer: str | None,
    *,
    admin: bool,
    actor: str,
    now_ms: int,
) -> None:
    """An update of a registered member whose row `conn` holds locked."""
    if referrer is not None and referrer != row["referred_by"]:
        raise ReferrerFixed(
            f"referred_by: fixed at registration ({row['referred_by']!r}); it never changes"
        )
    if data.tier is msgspec.UNSET or data.tier == row["tier"]:
        await conn.execute(UPDATE_BIRTHDAY, member_id, data.birthday)
        return
    if not admin:
        raise Forbidden("tier: only an admin key changes a member's tier")
    await conn.execute(SET_TIER, member_id, data.tier, data.birthday, now_ms)
    await conn.execute(
        TIER_SET_EVENT, member_id, now_ms, actor, {"from": row["tier"], "to": data.tier}
    )


async def get_member(pool: asyncpg.Pool, member_id: str, now_ms: int) -> Member:
    """The member with its programme view (two round trips: the member, then its points)."""
    return await _read(pool, member_id, now_ms)


async def _read(db: asyncpg.Pool | asyncpg.Connection, member_id: str, now_ms: int) -> Member:
    row = await db.fetchrow(GET_MEMBER, member_id, now_ms, get_settings().time_zone)
    if row is None:
        raise MemberNotFound(f"member {member_id!r} is not registered")
    tiers, tier = row["tiers"], row["tier"]
    return Member(
        member_id=row["member_id"],
        tier=tier,
        birthday=row["birthday"],
        registered_at=iso(row["registered_at"]),
        referred_by=row["referred_by"],
        tier_since=iso(row["tier_since"]),
        spend_12m=row["spend_12m"],
        orders_12m=row["orders_12m"],
        next_tier=next_tier(tiers, tier, row["spend_12m"]),
        keep_tier=keep_tier(tiers, tier, to_ms(row["review_at"]), row["review_spend"]),
        points=await summary(db, member_id, now_ms),
    )


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
