"""Segments in Postgres: the RFM table of the member base and saved filters over it.

The rules are `reference.py`'s (its docstring says them in full); here they are SQL, computed
in Postgres in one statement per answer, never by a loop over members in Python:

- `MEASURES` measures the whole base: F, M and the last order's day from `member_spend_days`
  (kept by every commit and refund, so refunds count), W from the lines of the committed
  orders in the window; then the terciles over the buyers (explicit positions in the sorted
  values: integers, no float percentile) and each member's band, scores and group.
- `RFM` counts that; `SIZE` counts the members a filter matches; `GROUP_PAGE` pages them.
- `PAGE` pages a filter without `group` in member id order, measuring each member as it goes
  (index lookups per member), so a page costs what it scans, not the whole base; a `group`
  needs the base's terciles, so its pages go through `GROUP_PAGE`.

Measuring W reads every cart in the window: the statements skip it (`$3` false) when neither
the filter's `categories` nor its `group` needs it.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
import msgspec

from gateway.errors import InvalidRequest, SegmentNotFound
from gateway.segments.reference import GROUP_RULES, WINDOW_DAYS
from gateway.segments.schemas import (
    RecencyBands,
    Rfm,
    RfmGroup,
    RfmWindow,
    ScoreCounts,
    ScoredMeasure,
    Segment,
    SegmentCreate,
    SegmentFilter,
    SegmentMembers,
    Segments,
    SegmentSize,
    SegmentSummary,
    TercileThresholds,
)
from gateway.settings import get_settings
from gateway.wire import cursor_place, cursor_when, iso, page_cursor, to_ms, when

#: A pool or one of its connections (a job lists a segment inside its own transaction).
Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool

# $1 as_of, $2 the zone's name, $3 whether to measure W (categories); then the filter's $4..$14
# (`_FILTER`), and for a page $15 after (a member id or null) and $16 its limit.
_MEASURED = """
WITH asof_day AS (
    SELECT ($1::timestamptz AT TIME ZONE $2::text)::date AS today
), spend AS (
    SELECT d.member_id, sum(d.orders)::bigint AS orders, sum(d.paid)::bigint AS spend,
           max(d.day) FILTER (WHERE d.orders > 0) AS last_day
    FROM member_spend_days d, asof_day
    WHERE d.day > asof_day.today - 365 AND d.day <= asof_day.today
    GROUP BY d.member_id
), bought AS (
    -- A line counts while some of its units are not refunded (`refunded`: units per line).
    SELECT DISTINCT r.member_id, l.line ->> 'category' AS category
    FROM redemptions r, asof_day,
         jsonb_array_elements(r.cart -> 'lines') WITH ORDINALITY AS l(line, n)
    WHERE $3::boolean AND r.state = 'committed'
      AND r.committed_at >= (asof_day.today - 364)::timestamp AT TIME ZONE $2::text
      AND r.committed_at < (asof_day.today + 1)::timestamp AT TIME ZONE $2::text
      AND coalesce((r.refunded ->> (l.n - 1)::int)::int, 0) < (l.line ->> 'qty')::int
), width AS (
    SELECT member_id, count(*) AS categories FROM bought GROUP BY member_id
), measures AS (
    SELECT m.member_id, m.tier, m.birthday,
           asof_day.today - (m.registered_at AT TIME ZONE $2::text)::date AS registered_days,
           coalesce(s.orders, 0) AS orders, coalesce(s.spend, 0) AS spend,
           asof_day.today - s.last_day AS recency_days, coalesce(w.categories, 0) AS categories
    FROM asof_day CROSS JOIN members m
    LEFT JOIN spend s ON s.member_id = m.member_id
    LEFT JOIN width w ON w.member_id = m.member_id
    WHERE m.registered_at <= $1
), buyers AS (
    SELECT count(*)::int AS n,
           array_agg(orders ORDER BY orders) AS f,
           array_agg(spend ORDER BY spend) AS m,
           array_agg(categories ORDER BY categories) AS w
    FROM measures WHERE orders > 0
), thresholds AS MATERIALIZED (
    -- Positions ceil(n/3) and ceil(2n/3), 1-based; n = 0 gives nulls (nobody bought).
    -- Materialized: a generic plan, guessing few members, would redo it for every member.
    SELECT n, f[(n + 2) / 3] AS f1, f[(2 * n + 2) / 3] AS f2,
           m[(n + 2) / 3] AS m1, m[(2 * n + 2) / 3] AS m2,
           w[(n + 2) / 3] AS w1, w[(2 * n + 2) / 3] AS w2
    FROM buyers
), scored AS (
    SELECT me.*,
           CASE WHEN me.recency_days IS NULL OR me.recency_days > 360 THEN 'none'
                WHEN me.recency_days <= 90 THEN 'active'
                WHEN me.recency_days <= 180 THEN 'dormant'
                ELSE 'lapsed' END AS band,
           CASE WHEN me.orders = 0 OR me.orders <= t.f1 THEN 1
                WHEN me.orders <= t.f2 THEN 2 ELSE 3 END AS f_score,
           CASE WHEN me.orders = 0 OR me.spend <= t.m1 THEN 1
                WHEN me.spend <= t.m2 THEN 2 ELSE 3 END AS m_score,
           CASE WHEN me.orders = 0 OR me.categories <= t.w1 THEN 1
                WHEN me.categories <= t.w2 THEN 2 ELSE 3 END AS w_score
    FROM measures me CROSS JOIN thresholds t
), grouped AS (
    -- The first group whose rule holds (reference.GROUP_RULES' order).
    SELECT s.*,
           CASE WHEN s.band = 'active' AND s.f_score = 3 AND s.m_score = 3 THEN 'champions'
                WHEN s.band = 'active' AND s.f_score >= 2 THEN 'loyal'
                WHEN s.m_score = 3 AND s.band <> 'active' THEN 'big_spenders'
                WHEN s.f_score >= 2 AND s.band = 'dormant' THEN 'at_risk'
                WHEN s.band = 'lapsed' THEN 'lapsed'
                WHEN s.registered_days <= 30 AND s.orders <= 1 THEN 'new'
                ELSE 'others' END AS grp
    FROM scored s
)
"""

# A segment's filter over the measured rows; a condition whose parameter is null is not asked.
# A member without an order in the window has a null recency: no recency bound matches it.
_FILTER = """
    ($4::bigint IS NULL OR recency_days >= $4) AND ($5::bigint IS NULL OR recency_days <= $5)
AND ($6::bigint IS NULL OR orders >= $6) AND ($7::bigint IS NULL OR orders <= $7)
AND ($8::bigint IS NULL OR spend >= $8) AND ($9::bigint IS NULL OR spend <= $9)
AND ($10::bigint IS NULL OR categories >= $10)
AND ($11::text[] IS NULL OR tier = ANY ($11::text[]))
AND ($12::bigint IS NULL OR registered_days <= $12)
AND ($13::text IS NULL OR birthday LIKE $13 || '-%')
AND ($14::text IS NULL OR grp = $14)
"""

#: The RFM table: thresholds, and members per band, per score and per group ($1..$3).
RFM = (
    _MEASURED  # noqa: S608 - constant fragments: every value is bound
    + """
SELECT (SELECT today FROM asof_day) AS today,
       (SELECT n FROM thresholds) AS buyers,
       (SELECT f1 FROM thresholds) AS f1, (SELECT f2 FROM thresholds) AS f2,
       (SELECT m1 FROM thresholds) AS m1, (SELECT m2 FROM thresholds) AS m2,
       (SELECT w1 FROM thresholds) AS w1, (SELECT w2 FROM thresholds) AS w2,
       count(*) AS members,
       count(*) FILTER (WHERE band = 'active') AS band_active,
       count(*) FILTER (WHERE band = 'dormant') AS band_dormant,
       count(*) FILTER (WHERE band = 'lapsed') AS band_lapsed,
       count(*) FILTER (WHERE band = 'none') AS band_none,
       count(*) FILTER (WHERE f_score = 1) AS f_1,
       count(*) FILTER (WHERE f_score = 2) AS f_2,
       count(*) FILTER (WHERE f_score = 3) AS f_3,
       count(*) FILTER (WHERE m_score = 1) AS m_1,
       count(*) FILTER (WHERE m_score = 2) AS m_2,
       count(*) FILTER (WHERE m_score = 3) AS m_3,
       count(*) FILTER (WHERE w_score = 1) AS w_1,
       count(*) FILTER (WHERE w_score = 2) AS w_2,
       count(*) FILTER (WHERE w_score = 3) AS w_3,
       count(*) FILTER (WHERE grp = 'champions') AS group_champions,
       count(*) FILTER (WHERE grp = 'loyal') AS group_loyal,
       count(*) FILTER (WHERE grp = 'big_spenders') AS group_big_spenders,
       count(*) FILTER (WHERE grp = 'at_risk') AS group_at_risk,
       count(*) FILTER (WHERE grp = 'lapsed') AS group_lapsed,
       count(*) FILTER (WHERE grp = 'new') AS group_new,
       count(*) FILTER (WHERE grp = 'others') AS group_others
FROM grouped
"""
)
#: How many members a filter matches ($1..$14).
SIZE = _MEASURED + "SELECT count(*) AS size FROM grouped WHERE" + _FILTER  # noqa: S608 - constants
#: A page of the members a filter with a `group` matches ($1..$16).
GROUP_PAGE = (
    _MEASURED  # noqa: S608 - constant fragments: every value is bound
    + "SELECT member_id FROM grouped WHERE"
    + _FILTER
    + "AND ($15::text IS NULL OR member_id > $15) ORDER BY member_id LIMIT $16"
)
#: A page of the members a filter without `group` matches ($1..$16): members in id order from
#: `after`, each measured by its own rows (the primary keys of member_spend_days and
#: redemptions_member), until `limit` match. The measures are `_MEASURED`'s.
PAGE = (
    """
WITH asof_day AS (
    SELECT ($1::timestamptz AT TIME ZONE $2::text)::date AS today
)
SELECT member_id FROM (
    SELECT m.member_id, m.tier, m.birthday,
           asof_day.today - (m.registered_at AT TIME ZONE $2::text)::date AS registered_days,
           s.orders, s.spend, s.recency_days, w.categories, NULL::text AS grp
    FROM asof_day CROSS JOIN members m
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(d.orders), 0)::bigint AS orders,
               coalesce(sum(d.paid), 0)::bigint AS spend,
               asof_day.today - max(d.day) FILTER (WHERE d.orders > 0) AS recency_days
        FROM member_spend_days d
        WHERE d.member_id = m.member_id
          AND d.day > asof_day.today - 365 AND d.day <= asof_day.today
    ) s
    CROSS JOIN LATERAL (
        SELECT count(DISTINCT l.line ->> 'category') AS categories
        FROM redemptions r,
             jsonb_array_elements(r.cart -> 'lines') WITH ORDINALITY AS l(line, n)
        WHERE $3::boolean AND r.member_id = m.member_id AND r.state = 'committed'
          -- The window as local days, not as a range of instants: a range would tempt a
          -- generic plan into redemptions_committed, a scan of the whole window per member.
          AND (r.committed_at AT TIME ZONE $2::text)::date
              BETWEEN asof_day.today - 364 AND asof_day.today
          AND coalesce((r.refunded ->> (l.n - 1)::int)::int, 0) < (l.line ->> 'qty')::int
    ) w
    WHERE m.registered_at <= $1 AND ($15::text IS NULL OR m.member_id > $15)
) measured
WHERE"""  # noqa: S608 - constant fragments: every value is bound
    + _FILTER
    + "ORDER BY member_id LIMIT $16"
)

INSERT_SEGMENT = """
INSERT INTO segments (id, name, filter, actor, created_at) VALUES ($1, $2, $3, $4, $5)
"""
GET_SEGMENT = "SELECT id, name, filter, created_at FROM segments WHERE id = $1"
SEGMENT_FILTER = "SELECT filter FROM segments WHERE id = $1"
LATEST_SEGMENTS = """
SELECT id, name, filter, created_at FROM segments
WHERE $1::timestamptz IS NULL OR (created_at, id) < ($1, $2)
ORDER BY created_at DESC, id DESC LIMIT $3
"""


# The planner guesses 100 lines per cart (jsonb_array_elements), so the statements that read
# every cart of the window look costly enough to JIT-compile: at 1M orders that compiling was
# a fifth of the CPU (docs/BENCHMARKS.md, "Segments"), and bought nothing.
NO_JIT = "SET LOCAL jit = off"


async def _whole_base(db: Executor, statement: str, *args: Any) -> list[asyncpg.Record]:
    """Runs a statement over the whole base without JIT: in a transaction of its own, or
    inside the caller's (where `jit` stays off until it ends: its other statements are small)."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await _whole_base(conn, statement, *args)
    async with db.transaction():
        await db.execute(NO_JIT)
        rows: list[asyncpg.Record] = await db.fetch(statement, *args)
        return rows


def zone_name() -> str:
    """GATEWAY_TIME_ZONE, the zone of the local days that member_spend_days holds."""
    return get_settings().time_zone


def new_segment_id() -> str:
    return "seg_" + secrets.token_hex(8)


# -- the RFM table ---------------------------------------------------------------------------

#: The earliest and latest `as_of` (a window's days and instants stay inside every type).
AS_OF_MIN = datetime(1971, 1, 1, tzinfo=UTC)
AS_OF_MAX = datetime(9999, 1, 1, tzinfo=UTC)


def parse_as_of(text: str) -> datetime:
    """An RFC 3339 time with its offset (`Z` or `+08:00`). A `+` sent unencoded in a query
    string arrives as a space, and is read as the `+` it was."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        raise InvalidRequest("as_of: not an RFC 3339 time (2026-11-11T00:00:00+08:00)") from None
    if moment.tzinfo is None:
        raise InvalidRequest("as_of: give the time's offset (Z or +08:00)")
    if not AS_OF_MIN <= moment < AS_OF_MAX:
        raise InvalidRequest("as_of: must be between 1971 and 9998")
    return moment


def _scored(row: asyncpg.Record, measure: str) -> ScoredMeasure:
    return ScoredMeasure(
        thresholds=TercileThresholds(
            score_1_max=row[f"{measure}1"], score_2_max=row[f"{measure}2"]
        ),
        scores=ScoreCounts(
            one=row[f"{measure}_1"], two=row[f"{measure}_2"], three=row[f"{measure}_3"]
        ),
    )


async def rfm(conn: Executor, as_of: datetime, zone: str) -> Rfm:
    """The member base scored at `as_of` (one statement: see `reference` for the rules)."""
    (row,) = await _whole_base(conn, RFM, as_of, zone, True)  # an aggregate: one row
    today: date = row["today"]
    return Rfm(
        as_of=iso(as_of),
        window=RfmWindow(
            first_day=(today - timedelta(days=WINDOW_DAYS - 1)).isoformat(),
            last_day=today.isoformat(),
        ),
        members=row["members"],
        buyers=row["buyers"],
        recency=RecencyBands(
            active=row["band_active"],
            dormant=row["band_dormant"],
            lapsed=row["band_lapsed"],
            none=row["band_none"],
        ),
        frequency=_scored(row, "f"),
        monetary=_scored(row, "m"),
        width=_scored(row, "w"),
        groups=[
            RfmGroup(name=name, rule=rule, count=row[f"group_{name}"])  # type: ignore[arg-type]  # GROUP_RULES' names are Group's
            for name, rule in GROUP_RULES
        ],
    )


# -- filters ---------------------------------------------------------------------------------


def check_filter(rule: SegmentFilter) -> SegmentFilter:
    """What msgspec cannot say: a range gives a bound, and its min does not exceed its max."""
    for name in ("recency_days", "orders", "spend"):
        bounds = getattr(rule, name)
        if bounds is None:
            continue
        if bounds.min is None and bounds.max is None:
            raise InvalidRequest(f"filter.{name}: give min, max or both")
        if bounds.min is not None and bounds.max is not None and bounds.min > bounds.max:
            raise InvalidRequest(f"filter.{name}: min must not exceed max")
    return rule


def _needs_width(rule: SegmentFilter) -> bool:
    return rule.categories is not None or rule.group is not None


def filter_args(rule: SegmentFilter) -> tuple[Any, ...]:
    """`_FILTER`'s $4..$14, in order (null: not asked)."""
    recency, orders, spend = rule.recency_days, rule.orders, rule.spend
    return (
        recency.min if recency else None,
        recency.max if recency else None,
        orders.min if orders else None,
        orders.max if orders else None,
        spend.min if spend else None,
        spend.max if spend else None,
        rule.categories.min if rule.categories else None,
        list(rule.tiers) if rule.tiers is not None else None,
        rule.registered_days.max if rule.registered_days else None,
        f"{rule.birthday_month:02d}" if rule.birthday_month is not None else None,
        rule.group,
    )


async def filter_size(conn: Executor, rule: SegmentFilter, *, as_of: datetime, zone: str) -> int:
    """How many members of the base the filter matches at `as_of`."""
    (row,) = await _whole_base(conn, SIZE, as_of, zone, _needs_width(rule), *filter_args(rule))
    size: int = row["size"]
    return size


async def filter_page(
    conn: Executor,
    rule: SegmentFilter,
    *,
    after: str | None,
    limit: int,
    as_of: datetime,
    zone: str,
) -> list[str]:
    """The next `limit` member ids after `after` (member id order) the filter matches."""
    args = (as_of, zone, _needs_width(rule), *filter_args(rule), after, limit)
    if rule.group is not None:
        rows = await _whole_base(conn, GROUP_PAGE, *args)
    else:
        rows = await conn.fetch(PAGE, *args)
    return [row["member_id"] for row in rows]


def _filter_of(stored: Any) -> SegmentFilter:
    # The pool decodes jsonb; a bare connection hands over its text.
    raw = json.loads(stored) if isinstance(stored, str) else stored
    return msgspec.convert(raw, SegmentFilter)


async def _stored_filter(conn: Executor, segment_id: str) -> SegmentFilter:
    stored = await conn.fetchval(SEGMENT_FILTER, segment_id)
    if stored is None:
        raise SegmentNotFound(f"segment {segment_id!r} does not exist")
    return _filter_of(stored)


# -- saved segments: what other features call --------------------------------------------------


async def segment_member_ids(
    conn: Executor, segment_id: str, *, after: str | None, limit: int, now_ms: int
) -> list[str]:
    """A page of the segment's members at `now_ms`: up to `limit` member ids after `after`, in
    member id order (one statement per page). A grant job pages through a segment with it."""
    rule = await _stored_filter(conn, segment_id)
    return await filter_page(
        conn, rule, after=after, limit=limit, as_of=when(now_ms), zone=zone_name()
    )


async def segment_size(conn: Executor, segment_id: str, *, now_ms: int) -> int:
    """How many members the segment has at `now_ms`."""
    rule = await _stored_filter(conn, segment_id)
    return await filter_size(conn, rule, as_of=when(now_ms), zone=zone_name())


# -- the API -----------------------------------------------------------------------------------


def _summary(row: asyncpg.Record) -> SegmentSummary:
    return SegmentSummary(
        id=row["id"],
        name=row["name"],
        filter=_filter_of(row["filter"]),
        created_at=iso(row["created_at"]),
    )


async def create_segment(
    pool: asyncpg.Pool, body: SegmentCreate, actor: str, now_ms: int
) -> Segment:
    """Saves the filter; the segment with its size now."""
    rule = check_filter(body.filter)
    segment_id = new_segment_id()
    stored = msgspec.to_builtins(rule)
    await pool.execute(INSERT_SEGMENT, segment_id, body.name, stored, actor, when(now_ms))
    size = await filter_size(pool, rule, as_of=when(now_ms), zone=zone_name())
    return Segment(
        id=segment_id, name=body.name, filter=rule, size=size, created_at=iso(when(now_ms))
    )


async def get_segment(pool: asyncpg.Pool, segment_id: str, now_ms: int) -> Segment:
    row = await pool.fetchrow(GET_SEGMENT, segment_id)
    if row is None:
        raise SegmentNotFound(f"segment {segment_id!r} does not exist")
    summary = _summary(row)
    size = await filter_size(pool, summary.filter, as_of=when(now_ms), zone=zone_name())
    return Segment(
        id=summary.id,
        name=summary.name,
        filter=summary.filter,
        size=size,
        created_at=summary.created_at,
    )


async def latest_segments(pool: asyncpg.Pool, limit: int, before: str | None) -> Segments:
    """Saved segments, newest first; `next` → `before` for the next page."""
    created: datetime | None = None
    last_id: str | None = None
    if before is not None:
        ms, last_id = cursor_place(before, "before", 1, 1)
        created = cursor_when(ms, "before")
    rows = await pool.fetch(LATEST_SEGMENTS, created, last_id, limit + 1)
    page = [_summary(row) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        last = rows[limit - 1]
        following = page_cursor(to_ms(last["created_at"]), last["id"])
    return Segments(segments=page, next=following)


async def segment_members(
    pool: asyncpg.Pool, segment_id: str, after: str | None, limit: int, now_ms: int
) -> SegmentMembers:
    """A page of the segment's member ids; `next` → `after` (null: the last page)."""
    start = cursor_place(after, "after", 0, 1)[0] if after is not None else None
    async with pool.acquire() as conn:
        ids = await segment_member_ids(
            conn, segment_id, after=start, limit=limit + 1, now_ms=now_ms
        )
    following = page_cursor(ids[limit - 1]) if len(ids) > limit else None
    return SegmentMembers(member_ids=ids[:limit], next=following)


async def preview(pool: asyncpg.Pool, rule: SegmentFilter, now_ms: int) -> SegmentSize:
    """The size a filter would have now (the back office asks while the filter is edited)."""
    check_filter(rule)
    return SegmentSize(size=await filter_size(pool, rule, as_of=when(now_ms), zone=zone_name()))
