"""The points ledger's reads and moves (API.md v1.1 "Points").

The ledger is Postgres (009_points.sql): lots, append-only entries, and the allocations of each
spend; every move is one of its PL/pgSQL functions, run in one transaction after
`gw_points_lock`, which locks the member's row and brings the member's lots up to now
(pending lots whose time came count, lots past their expiry leave the balance, each at its own
time). A read that finds something due takes the same lock once; otherwise it only reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from gateway.checkout import idempotency
from gateway.clock import Clock
from gateway.errors import (
    InsufficientPoints,
    InvalidRequest,
    MemberNotFound,
    NotAllowed,
    RecipientNotRegistered,
    SameMember,
)
from gateway.points.schemas import (
    Adjustment,
    Entry,
    Expiring,
    ExpiringMember,
    History,
    Lot,
    NextExpiry,
    Points,
    PointsSummary,
    PointsTransfer,
    PointsTransferRequest,
)
from gateway.settings import Settings
from gateway.wire import cursor_place, cursor_when, encoder, iso, page_cursor, when

# The member's totals, and whether a lot is due to count or to expire at $2.
SUMMARY = """
SELECT m.points_balance AS balance, m.points_pending AS pending, m.points_debt AS debt,
       EXISTS (
           SELECT 1 FROM point_lots l
           WHERE l.member_id = m.member_id AND l.remaining > 0
             AND ((l.pending AND l.counts_from <= $2)
                  OR (NOT l.pending AND l.expires_at < $2))
       ) AS due,
       x.at AS expiry_at, x.points AS expiry_points
FROM members m
LEFT JOIN LATERAL (
    SELECT l.expires_at AS at, sum(l.remaining)::bigint AS points FROM point_lots l
    WHERE l.member_id = m.member_id AND l.remaining > 0 AND NOT l.pending
      AND l.expires_at IS NOT NULL
    GROUP BY l.expires_at ORDER BY l.expires_at LIMIT 1
) x ON true
WHERE m.member_id = $1
"""
LOCK = "SELECT gw_points_lock($1, $2)"
LOTS = """
SELECT points, remaining, earned_at, counts_from, expires_at, source FROM point_lots
WHERE member_id = $1 AND remaining > 0
ORDER BY expires_at NULLS LAST, counts_from, id
"""
ENTRY_COLUMNS = """
id, at, kind, CASE WHEN points <> 0 OR kind = 'adjust' THEN points ELSE pending END AS points,
balance_after, order_id, campaign_id, counterparty, reason
"""
HISTORY = f"""
SELECT {ENTRY_COLUMNS} FROM point_entries
WHERE member_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3
"""  # noqa: S608 - a constant column list, no value formatted in
ENTRY = f"SELECT {ENTRY_COLUMNS} FROM point_entries WHERE id = $1"  # noqa: S608 - constant
CREDIT = """
SELECT gw_points_credit($1, $2, $3, $4, 'adjust', 'adjust', 0, NULL, NULL, NULL, $5, $6)
"""
DEBIT = "SELECT gw_points_debit($1, $2, $3, 'adjust', NULL, NULL, NULL, $4, $5)"
TRANSFER = "SELECT out_entry, in_entry FROM gw_points_transfer($1, $2, $3, $4, $5)"
LOCK_TWO = """
SELECT member_id FROM members WHERE member_id = ANY($1::text[])
ORDER BY member_id FOR NO KEY UPDATE
"""
RULES = "SELECT transferable FROM gw_points_rules()"
# Members whose counting points expire within the window, soonest first; the cursor is the
# last (expiry, member) seen.
EXPIRING = """
SELECT member_id, min(expires_at) AS at, sum(remaining)::bigint AS points FROM point_lots
WHERE remaining > 0 AND NOT pending AND expires_at >= $1 AND expires_at <= $2
GROUP BY member_id
HAVING (min(expires_at), member_id) > ($3, $4)
ORDER BY min(expires_at), member_id LIMIT $5
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _entry(row: asyncpg.Record) -> Entry:
    return Entry(
        id=row["id"],
        at=iso(row["at"]),
        kind=row["kind"],
        points=row["points"],
        balance_after=row["balance_after"],
        order_id=row["order_id"],
        campaign_id=row["campaign_id"],
        counterparty=row["counterparty"],
        reason=row["reason"],
    )


async def summary(
    db: asyncpg.Pool | asyncpg.Connection, member_id: str, now_ms: int
) -> PointsSummary:
    """The member's points as its card shows them; raises MemberNotFound."""
    row = await _totals(db, member_id, now_ms)
    expiry = None
    if row["expiry_at"] is not None:
        expiry = NextExpiry(points=row["expiry_points"], at=iso(row["expiry_at"]))
    return PointsSummary(balance=row["balance"], pending=row["pending"], next_expiry=expiry)


async def _totals(
    db: asyncpg.Pool | asyncpg.Connection, member_id: str, now_ms: int
) -> asyncpg.Record:
    now = when(now_ms)
    row = await db.fetchrow(SUMMARY, member_id, now)
    if row is None:
        raise MemberNotFound(f"member {member_id!r} is not registered")
    if row["due"]:  # bring the ledger up to now (writes the activations and expiries), once
        if isinstance(db, asyncpg.Pool):
            async with db.acquire() as conn, conn.transaction():
                await conn.fetchval(LOCK, member_id, now)
        else:
            async with db.transaction():
                await db.fetchval(LOCK, member_id, now)
        row = await db.fetchrow(SUMMARY, member_id, now)
    return row


class PointsService:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock
        self.zone = settings.time_zone
        self.idem_ttl_s = settings.idempotency_ttl_s

    async def points(self, member_id: str) -> Points:
        now_ms = self.clock.now_ms()
        async with self.pool.acquire() as conn:
            row = await _totals(conn, member_id, now_ms)
            lots = await conn.fetch(LOTS, member_id)
        return Points(
            balance=row["balance"],
            pending=row["pending"],
            debt=row["debt"],
            lots=[
                Lot(
                    points=lot["points"],
                    remaining=lot["remaining"],
                    earned_at=iso(lot["earned_at"]),
                    counts_from=iso(lot["counts_from"]),
                    expires_at=iso(lot["expires_at"]) if lot["expires_at"] else None,
                    source=lot["source"],
                )
                for lot in lots
            ],
        )

    async def history(self, member_id: str, limit: int, before: str | None) -> History:
        if not 1 <= limit <= 200:
            raise InvalidRequest("limit: must be 1..200")
        start = 2**63 - 1
        if before is not None:
            [start] = cursor_place(before, "before", numbers=1)
        async with self.pool.acquire() as conn:
            await _totals(conn, member_id, self.clock.now_ms())  # 404, and due moves written
            rows = await conn.fetch(HISTORY, member_id, start, limit + 1)
        entries = [_entry(row) for row in rows[:limit]]
        more = len(rows) > limit
        return History(entries=entries, next=page_cursor(entries[-1].id) if more else None)

    async def adjust(
        self, member_id: str, data: Adjustment, actor: str, key: str | None, body: bytes
    ) -> bytes:
        """An operator's adjustment: 201 the entry (encoded); a retry with the same
        Idempotency-Key gets the first answer."""
        if data.points == 0:
            raise InvalidRequest("points: must not be 0")
        now = when(self.clock.now_ms())
        scope = f"points-adjust:{member_id}"
        h = idempotency.request_hash(body)
        async with self.pool.acquire() as conn, conn.transaction():
            if key is not None:
                earlier = await idempotency.replay(conn, scope, key, h, self.idem_ttl_s)
                if earlier is not None:
                    return earlier[1]
            if not await conn.fetchval(LOCK, member_id, now):
                raise MemberNotFound(f"member {member_id!r} is not registered")
            if data.points > 0:
                entry_id = await conn.fetchval(
                    CREDIT, member_id, data.points, now, self.zone, data.reason, actor
                )
            else:
                entry_id = await conn.fetchval(
                    DEBIT, member_id, -data.points, now, data.reason, actor
                )
                if entry_id is None:
                    raise InsufficientPoints(
                        f"member {member_id!r} holds fewer than {-data.points} points"
                    )
            encoded = encoder.encode(_entry(await conn.fetchrow(ENTRY, entry_id)))
            if key is not None:
                await idempotency.remember(conn, scope, key, h, 201, encoded)
        return encoded

    async def transfer(
        self,
        member_id: str,
        data: PointsTransferRequest,
        actor: str,
        key: str | None,
        body: bytes,
    ) -> bytes:
        """积分赠送: 201 `{"from", "to"}` (encoded). The friend's points keep the expiry of
        the lots they came from."""
        if data.to_member_id == member_id:
            raise SameMember("points cannot be given to the member who holds them")
        now = when(self.clock.now_ms())
        scope = f"points-transfer:{member_id}"
        h = idempotency.request_hash(body)
        async with self.pool.acquire() as conn, conn.transaction():
            if key is not None:
                earlier = await idempotency.replay(conn, scope, key, h, self.idem_ttl_s)
                if earlier is not None:
                    return earlier[1]
            if not await conn.fetchval(RULES):
                raise NotAllowed("the programme does not let members give points")
            # Both rows locked in member-id order (two opposite transfers never deadlock),
            # then each brought up to now.
            found = {
                r["member_id"] for r in await conn.fetch(LOCK_TWO, [member_id, data.to_member_id])
            }
            if member_id not in found:
                raise MemberNotFound(f"member {member_id!r} is not registered")
            if data.to_member_id not in found:
                raise RecipientNotRegistered(f"member {data.to_member_id!r} is not registered")
            for member in sorted(found):
                await conn.fetchval(LOCK, member, now)
            row = await conn.fetchrow(
                TRANSFER, member_id, data.to_member_id, data.points, now, actor
            )
            if row["out_entry"] is None:
                raise InsufficientPoints(
                    f"member {member_id!r} holds fewer than {data.points} points"
                )
            result = PointsTransfer(
                from_=_entry(await conn.fetchrow(ENTRY, row["out_entry"])),
                to=_entry(await conn.fetchrow(ENTRY, row["in_entry"])),
            )
            encoded = encoder.encode(result)
            if key is not None:
                await idempotency.remember(conn, scope, key, h, 201, encoded)
        return encoded

    async def expiring(self, within_days: int, limit: int, after: str | None) -> Expiring:
        """Members whose points expire within `within_days` from now (积分到期提醒)."""
        if not 1 <= within_days <= 3660:
            raise InvalidRequest("within_days: must be 1..3660")
        if not 1 <= limit <= 1000:
            raise InvalidRequest("limit: must be 1..1000")
        start_at, start_member = _EPOCH, ""
        if after is not None:
            at_ms, start_member = cursor_place(after, "after", numbers=1, texts=1)
            start_at = cursor_when(at_ms, "after")
        now = when(self.clock.now_ms())
        rows = await self.pool.fetch(
            EXPIRING, now, now + timedelta(days=within_days), start_at, start_member, limit + 1
        )
        members = [
            ExpiringMember(member_id=r["member_id"], points=r["points"], at=iso(r["at"]))
            for r in rows[:limit]
        ]
        cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            at_ms = int(last["at"].timestamp() * 1000)
            cursor = page_cursor(at_ms, last["member_id"])
        return Expiring(members=members, next=cursor)
