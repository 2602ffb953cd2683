"""The reports: a few aggregate statements each, over the ledger's own tables.

Windows are half-open, [from, to), on the times the ledger records: an event's `at`, an order's
`committed_at`, a member's `registered_at`, a reward's `at` (all written on the gateway's
injectable clock). The points report's moves are the 30 days up to `as_of`, (as_of - 30 days,
as_of]. Each figure's exact definition is in the route's docstring (controllers.py), which is
its OpenAPI description.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import asyncpg

from gateway.clock import Clock
from gateway.errors import InvalidRequest
from gateway.reports.schemas import (
    ClerkFigures,
    ClerksReport,
    ClerkTotals,
    Inviter,
    MemberFigures,
    MembersReport,
    PointsMoves,
    PointsReport,
    ReferralRewards,
    ReferralsReport,
    TierFigures,
)
from gateway.wire import iso

#: A window's default length, and the reach of "active", "repeat" and the points' moves.
DAYS_30 = timedelta(days=30)
TIERS = ("standard", "silver", "gold", "diamond")

# Per actor, the coupons granted in the window and how many of them were redeemed at some
# time (a `redeem` event of the code, before or after `to`).
CLERKS = """
SELECT g.actor, count(*) AS granted,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM events r WHERE r.coupon_code = g.coupon_code AND r.kind = 'redeem'
       )) AS redeemed
FROM events g
WHERE g.kind = 'grant' AND g.at >= $1 AND g.at < $2 AND g.actor IS NOT NULL
GROUP BY g.actor
ORDER BY granted DESC, g.actor
"""
# Invitations (members registered in the window with a referrer), invitees' first orders
# committed in the window (members.first_order_id), and the referral rewards recorded in it.
REFERRALS = """
SELECT
    (SELECT count(*) FROM members
     WHERE registered_at >= $1 AND registered_at < $2 AND referred_by IS NOT NULL)
        AS invitations,
    (SELECT count(*) FROM redemptions r
     JOIN members m ON m.member_id = r.member_id AND m.first_order_id = r.order_id
     WHERE r.committed_at >= $1 AND r.committed_at < $2 AND m.referred_by IS NOT NULL)
        AS first_orders,
    w.given, w.refused, w.points, w.coupons
FROM (
    SELECT count(*) FILTER (WHERE refused IS NULL) AS given,
           count(*) FILTER (WHERE refused IS NOT NULL) AS refused,
           coalesce(sum(points), 0)::bigint AS points,
           count(coupon_code) AS coupons
    FROM rewards WHERE kind = 'referral' AND at >= $1 AND at < $2
) w
"""
# The 10 inviters with the most invitees whose first order committed in the window.
TOP_INVITERS = """
SELECT m.referred_by AS member_id, count(*) AS invitees_ordered
FROM redemptions r
JOIN members m ON m.member_id = r.member_id AND m.first_order_id = r.order_id
WHERE r.committed_at >= $1 AND r.committed_at < $2 AND m.referred_by IS NOT NULL
GROUP BY m.referred_by
ORDER BY invitees_ordered DESC, m.referred_by
LIMIT 10
"""
# The lots' figures at $1 (each lot's points left now; lots earned after $1 left out), and the
# debt members hold now. A lot counts from `counts_from` while $1 <= `expires_at`.
POINTS_HELD = """
SELECT
    coalesce(sum(remaining) FILTER (
        WHERE counts_from <= $1 AND (expires_at IS NULL OR expires_at >= $1)
    ), 0)::bigint AS outstanding,
    coalesce(sum(remaining) FILTER (WHERE counts_from > $1), 0)::bigint AS pending,
    coalesce(sum(remaining) FILTER (
        WHERE counts_from <= $1 AND expires_at >= $1 AND expires_at < $1 + interval '30 days'
    ), 0)::bigint AS expiring_30d,
    coalesce(sum(remaining) FILTER (
        WHERE counts_from <= $1 AND expires_at >= $1 AND expires_at < $1 + interval '90 days'
    ), 0)::bigint AS expiring_90d,
    coalesce(sum(remaining) FILTER (
        WHERE NOT expired AND expires_at < $1 AND expires_at > $1 - interval '30 days'
    ), 0)::bigint AS expired_unswept,
    (SELECT coalesce(sum(points_debt), 0) FROM members WHERE points_debt > 0)::bigint AS owed
FROM point_lots
WHERE remaining > 0 AND earned_at <= $1
"""
# The entries of (as_of - 30 days, as_of], by what moved them. An 'expire' entry is written
# at its lot's expiry (when a read or the sweep comes by): it belongs to the window when the
# lot had expired by $1 (expires_at < $1). A 'reverse' with a campaign gives a refused
# exchange's points back; one without takes back what a refunded order earned.
POINTS_MOVED = """
SELECT
    coalesce(sum(points + pending) FILTER (
        WHERE kind IN ('earn', 'earn_pending', 'reward')
    ), 0)::bigint AS earned,
    coalesce(-sum(points) FILTER (
        WHERE kind = 'spend' OR (kind = 'reverse' AND campaign_id IS NOT NULL)
    ), 0)::bigint AS spent,
    coalesce(-sum(points) FILTER (WHERE kind = 'expire' AND at < $1), 0)::bigint AS expired,
    coalesce(sum(points) FILTER (WHERE kind = 'transfer_in'), 0)::bigint AS transferred,
    coalesce(sum(points) FILTER (WHERE kind = 'adjust'), 0)::bigint AS adjusted,
    coalesce(-sum(points + pending) FILTER (
        WHERE kind = 'reverse' AND campaign_id IS NULL
    ), 0)::bigint AS reversed
FROM point_entries
WHERE at > $1 - interval '30 days' AND at <= $1
"""
NEW_MEMBERS = """
SELECT tier, count(*) AS new_members FROM members
WHERE registered_at >= $1 AND registered_at < $2
GROUP BY tier
"""
# Per tier (the member's tier now), from the committed orders of registered members (a
# wholly refunded order is state 'refunded' and does not count): members with an order in
# the 30 days before $2 (active), with one in [$1, $2) (ordering), with two in [$1, $2) at
# most 30 days apart (repeat), and the window's orders and their paid totals.
MEMBER_ORDERS = """
WITH orders AS (
    SELECT r.member_id, m.tier, r.committed_at, (r.result ->> 'total')::bigint AS paid,
           r.committed_at >= $1 AS in_window
    FROM redemptions r JOIN members m ON m.member_id = r.member_id
    WHERE r.committed_at >= least($1::timestamptz, $2::timestamptz - interval '30 days')
      AND r.committed_at < $2
      AND r.state = 'committed'
), spaced AS (
    SELECT o.*, o.committed_at - lag(o.committed_at) OVER (
               PARTITION BY o.member_id, o.in_window ORDER BY o.committed_at) AS since_previous
    FROM orders o
), per_member AS (
    SELECT member_id, tier,
           count(*) FILTER (WHERE in_window) AS orders,
           coalesce(sum(paid) FILTER (WHERE in_window), 0) AS paid,
           coalesce(bool_or(in_window AND since_previous <= interval '30 days'), false) AS repeat,
           bool_or(committed_at >= $2 - interval '30 days') AS active
    FROM spaced GROUP BY member_id, tier
)
SELECT tier,
       count(*) FILTER (WHERE active) AS active_members,
       count(*) FILTER (WHERE orders > 0) AS ordering_members,
       count(*) FILTER (WHERE repeat) AS repeat_members,
       coalesce(sum(orders), 0)::bigint AS orders,
       coalesce(sum(paid), 0)::bigint AS paid_total
FROM per_member GROUP BY tier
"""


def rate(part: int, whole: int) -> float | None:
    """part / whole to 4 decimals; None when there is no whole."""
    return round(part / whole, 4) if whole else None


_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_time(value: str | None, name: str) -> datetime | None:
    """An RFC 3339 time with its offset (`2026-11-11T00:00:00+08:00`, or `...Z`), or None when
    absent; anything else is 400 naming the parameter. A '+' sent unescaped in a query string
    arrives as a space: read back as the '+' the caller meant."""
    if value is None:
        return None
    text = value.strip()
    if len(text) > 6 and text[-6] == " " and text[-3] == ":":
        text = text[:-6] + "+" + text[-5:]
    problem = "must be an RFC 3339 time with its offset, e.g. 2026-11-11T00:00:00+08:00"
    if not 20 <= len(text) <= 64:  # a date alone is not a time
        raise InvalidRequest(f"{name}: {problem}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{name}: {problem}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidRequest(f"{name}: {problem}")
    # Far enough from datetime's limits that a window's arithmetic never overflows.
    if not _EARLIEST <= parsed <= _LATEST:
        raise InvalidRequest(f"{name}: must be between the years 1900 and 9000")
    return parsed


class Window:
    """[start, end): `from` and `to`, by default the 30 days before now."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.end = end

    @classmethod
    def of(cls, start: str | None, end: str | None, now: datetime) -> Window:
        begin, finish = parse_time(start, "from"), parse_time(end, "to")
        if finish is None:
            finish = now
            if begin is not None and begin >= finish:
                raise InvalidRequest("from: must be before to (default: now)")
        begin = begin or finish - DAYS_30
        if finish <= begin:
            raise InvalidRequest("to: must be after from")
        return cls(begin, finish)


class ReportService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock

    def window(self, start: str | None, end: str | None) -> Window:
        return Window.of(start, end, self.clock.now())

    async def clerks(self, window: Window) -> ClerksReport:
        rows = await self.pool.fetch(CLERKS, window.start, window.end)
        clerks = [
            ClerkFigures(
                actor=r["actor"],
                granted=r["granted"],
                redeemed=r["redeemed"],
                redemption_rate=rate(r["redeemed"], r["granted"]),
            )
            for r in rows
        ]
        granted = sum(c.granted for c in clerks)
        redeemed = sum(c.redeemed for c in clerks)
        return ClerksReport(
            from_=iso(window.start),
            to=iso(window.end),
            clerks=clerks,
            total=ClerkTotals(
                granted=granted, redeemed=redeemed, redemption_rate=rate(redeemed, granted)
            ),
        )

    async def referrals(self, window: Window) -> ReferralsReport:
        async with self.pool.acquire() as conn:
            counts = await conn.fetchrow(REFERRALS, window.start, window.end)
            top = await conn.fetch(TOP_INVITERS, window.start, window.end)
        return ReferralsReport(
            from_=iso(window.start),
            to=iso(window.end),
            invitations=counts["invitations"],
            first_orders=counts["first_orders"],
            rewards=ReferralRewards(
                given=counts["given"],
                refused=counts["refused"],
                points=counts["points"],
                coupons=counts["coupons"],
            ),
            top_inviters=[
                Inviter(member_id=r["member_id"], invitees_ordered=r["invitees_ordered"])
                for r in top
            ],
        )

    async def points(self, as_of: str | None) -> PointsReport:
        at = parse_time(as_of, "as_of") or self.clock.now()
        async with self.pool.acquire() as conn:
            held = await conn.fetchrow(POINTS_HELD, at)
            moved = await conn.fetchrow(POINTS_MOVED, at)
        return PointsReport(
            as_of=iso(at),
            outstanding=held["outstanding"],
            pending=held["pending"],
            owed=held["owed"],
            expiring_30d=held["expiring_30d"],
            expiring_90d=held["expiring_90d"],
            last_30_days=PointsMoves(
                from_=iso(at - DAYS_30),
                to=iso(at),
                earned=moved["earned"],
                spent=moved["spent"],
                expired=moved["expired"] + held["expired_unswept"],
                transferred=moved["transferred"],
                adjusted=moved["adjusted"],
                reversed=moved["reversed"],
            ),
        )

    async def members(self, window: Window) -> MembersReport:
        async with self.pool.acquire() as conn:
            new_rows = await conn.fetch(NEW_MEMBERS, window.start, window.end)
            order_rows = await conn.fetch(MEMBER_ORDERS, window.start, window.end)
        new = {r["tier"]: r["new_members"] for r in new_rows}
        orders = {r["tier"]: r for r in order_rows}
        # The four tiers always (zeros when empty), then any other a member holds.
        tiers = [*TIERS, *sorted((set(new) | set(orders)) - set(TIERS))]
        per_tier = [_tier(tier, new.get(tier, 0), orders.get(tier)) for tier in tiers]
        return MembersReport(
            from_=iso(window.start),
            to=iso(window.end),
            overall=_total(per_tier),
            tiers=per_tier,
        )


def _tier(tier: str, new_members: int, row: asyncpg.Record | None) -> TierFigures:
    active = ordering = repeat = orders = paid = 0
    if row is not None:
        active, ordering = row["active_members"], row["ordering_members"]
        repeat, orders, paid = row["repeat_members"], row["orders"], row["paid_total"]
    return TierFigures(
        tier=tier,
        new_members=new_members,
        active_members=active,
        ordering_members=ordering,
        repeat_members=repeat,
        repeat_rate=rate(repeat, ordering),
        orders=orders,
        paid_total=paid,
        average_order_value=paid // orders if orders else None,
    )


def _total(tiers: Iterable[MemberFigures]) -> MemberFigures:
    """The figures of every tier together: each member is in exactly one tier."""
    new = active = ordering = repeat = orders = paid = 0
    for t in tiers:
        new += t.new_members
        active += t.active_members
        ordering += t.ordering_members
        repeat += t.repeat_members
        orders += t.orders
        paid += t.paid_total
    return MemberFigures(
        new_members=new,
        active_members=active,
        ordering_members=ordering,
        repeat_members=repeat,
        repeat_rate=rate(repeat, ordering),
        orders=orders,
        paid_total=paid,
        average_order_value=paid // orders if orders else None,
    )
