"""Campaigns: Postgres rows, the hot state in Redis, lifecycle, stock and claim links."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as redis
import segno

from gateway.campaigns.schemas import (
    Campaign,
    CampaignCreate,
    CampaignUpdate,
    FixedValidity,
    Link,
    Stats,
    StockChange,
    StockLevel,
    Validity,
)
from gateway.errors import (
    CampaignNotFound,
    InvalidRequest,
    InvalidTransition,
    StockBelowClaimed,
)
from gateway.store import buckets as stock_buckets
from gateway.store import redis as keys
from gateway.store.hot_state import hot_state, redis_run_id
from gateway.store.redis import Scripts
from gateway.wire import _ID_RE, cursor_place, iso, page_cursor

log = logging.getLogger(__name__)

INSERT_CAMPAIGN = """
INSERT INTO campaigns (id, name, kind, amount_off, percent_off, max_discount, min_spend, sku,
    points, scope, channels, claim_starts_at, claim_ends_at, validity, stock_total,
    per_member_limit, transferable, stackable, low_stock_threshold, link_only, points_price,
    buckets)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22)
RETURNING *
"""
GET_CAMPAIGN = "SELECT * FROM campaigns WHERE id = $1"
LOCK_CAMPAIGN = "SELECT * FROM campaigns WHERE id = $1 FOR UPDATE"
# The ledger's counts behind the stats of each campaign `c` (a row with its `id`), each through
# an index on campaign_id: its coupons (coupons_campaign), the orders that reserved and
# committed them (events_campaign, kinds 'reserve' and 'redeem'; an order reserves once, so
# distinct order ids are reservations) and its exchanges done (exchanges_campaign).
_COUNTS = """
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE source IN ('claim', 'grant')) AS claimed,
           count(*) FILTER (WHERE state = 'redeemed') AS redeemed,
           count(*) FILTER (WHERE state = 'transferred') AS transferred
    FROM coupons WHERE campaign_id = c.id
) k
CROSS JOIN LATERAL (
    SELECT count(DISTINCT order_id) FILTER (WHERE kind = 'reserve') AS reservations,
           count(DISTINCT order_id) FILTER (WHERE kind = 'redeem') AS converted
    FROM events WHERE campaign_id = c.id AND kind IN ('reserve', 'redeem')
) e
CROSS JOIN LATERAL (
    SELECT count(*) AS exchanged FROM exchanges WHERE campaign_id = c.id AND state = 'done'
) x
"""
_COUNT_COLUMNS = "k.claimed, k.redeemed, k.transferred, e.reservations, e.converted, x.exchanged"
# One page of the list with each row's ledger counts, newest first, after the cursor
# (created_at, id) when there is one: a keyset walk of the index campaigns_newest. One
# statement per page, whatever its size.
LIST_CAMPAIGNS = f"""
SELECT c.*, {_COUNT_COLUMNS}
FROM (
    SELECT * FROM campaigns
    WHERE ($1::text IS NULL OR status = $1)
      AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0)
      AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::text))
    ORDER BY created_at DESC, id DESC
    LIMIT $5
) c
{_COUNTS}
ORDER BY c.created_at DESC, c.id DESC
"""  # noqa: S608 - constant fragments, values are bound
# One campaign's counts ($1: its id), in one statement.
CAMPAIGN_COUNTS = f"""
SELECT {_COUNT_COLUMNS} FROM (SELECT $1::text AS id) c
{_COUNTS}
"""  # noqa: S608 - constant fragments, values are bound
SET_STATUS = "UPDATE campaigns SET status = $2, updated_at = now() WHERE id = $1 RETURNING *"
SET_STOCK = "UPDATE campaigns SET stock_total = $2, updated_at = now() WHERE id = $1 RETURNING *"
UPDATE_CAMPAIGN = """
UPDATE campaigns SET name = $2, claim_ends_at = $3, validity = $4, low_stock_threshold = $5,
    updated_at = now()
WHERE id = $1 RETURNING *
"""
COUNT_CLAIMED = """
SELECT count(*) FILTER (WHERE source IN ('claim', 'grant')) AS claimed,
       count(*) FILTER (WHERE state = 'redeemed') AS redeemed
FROM coupons WHERE campaign_id = $1
"""
INSERT_EVENT = """
INSERT INTO events (kind, campaign_id, actor, detail) VALUES ($1, $2, $3, $4)
"""

# From each status, the moves the lifecycle allows: verb -> (allowed from, to).
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "publish": (frozenset({"draft"}), "live"),
    "pause": (frozenset({"live"}), "paused"),
    "resume": (frozenset({"paused"}), "live"),
    "close": (frozenset({"draft", "live", "paused"}), "closed"),
}

_VALUE_FIELD = {
    "percent": "percent_off",
    "amount": "amount_off",
    "threshold": "amount_off",
    "exchange": "sku",
    "gift": "sku",
    "points": "points",
}


def validate_create(data: CampaignCreate) -> None:
    """Cross-field rules msgspec cannot state: each kind needs its value field."""
    needed = _VALUE_FIELD[data.kind]
    if getattr(data, needed) is None:
        raise InvalidRequest(f"{needed}: required for kind {data.kind!r}")
    if data.kind == "threshold" and not data.min_spend:
        raise InvalidRequest("min_spend: a threshold coupon needs a positive min_spend")
    if data.max_discount is not None and data.kind != "percent":
        raise InvalidRequest("max_discount: only a percent coupon has a cap")
    if data.claim_ends_at <= data.claim_starts_at:
        raise InvalidRequest("claim_ends_at: must be after claim_starts_at")
    if len(set(data.channels)) != len(data.channels):
        raise InvalidRequest("channels: listed twice")
    _validate_validity(data.validity)


def _validate_validity(validity: Validity) -> None:
    if isinstance(validity, FixedValidity) and validity.ends_at <= validity.starts_at:
        raise InvalidRequest("validity.ends_at: must be after validity.starts_at")


def _validity_json(validity: Validity) -> dict[str, Any]:
    if isinstance(validity, FixedValidity):
        return {
            "mode": "fixed",
            "starts_at": validity.starts_at.isoformat(),
            "ends_at": validity.ends_at.isoformat(),
        }
    return {"mode": "relative", "days": validity.days}


def new_campaign_id() -> str:
    return "cmp_" + secrets.token_hex(8)


class CampaignService:
    def __init__(self, pool: asyncpg.Pool, client: redis.Redis, scripts: Scripts) -> None:
        self.pool = pool
        self.redis = client
        self.scripts = scripts

    async def create(self, data: CampaignCreate, actor: str) -> Campaign:
        validate_create(data)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                INSERT_CAMPAIGN,
                new_campaign_id(),
                data.name,
                data.kind,
                data.amount_off,
                data.percent_off,
                data.max_discount,
                data.min_spend,
                data.sku,
                data.points,
                msgspec.to_builtins(data.scope),
                list(data.channels),
                data.claim_starts_at,
                data.claim_ends_at,
                _validity_json(data.validity),
                data.stock,
                data.per_member_limit,
                data.transferable,
                data.stackable,
                data.low_stock_threshold,
                data.link_only,
                data.points_price,
                data.buckets,
            )
            await conn.execute(INSERT_EVENT, "campaign_created", row["id"], actor, None)
        return await self._campaign(row)

    async def get(self, campaign_id: str) -> Campaign:
        return await self._campaign(await self._row(campaign_id))

    async def list(
        self,
        limit: int = 50,
        status: str | None = None,
        q: str | None = None,
        before: str | None = None,
    ) -> tuple[list[Campaign], str | None]:
        """A page of campaigns, newest first, and the cursor of the next page (None: the last).

        Two round trips whatever the page's size: one statement for the rows and their ledger
        counts, one pipelined HMGET per published row for the live counters."""
        after = decode_cursor(before) if before is not None else None
        rows = await self.pool.fetch(
            LIST_CAMPAIGNS,
            status,
            q,
            after[0] if after else None,
            after[1] if after else None,
            limit + 1,
        )
        page, more = rows[:limit], len(rows) > limit
        published = [row for row in page if row["status"] != "draft"]
        hot: dict[str, list[Any]] = {}
        if published:
            reads = [stock_buckets.totals_commands(r["id"], r["buckets"]) for r in published]
            replies = await keys.pipelined(self.redis, [c for read in reads for c in read])
            at = 0
            for row, read in zip(published, reads, strict=True):
                hot[row["id"]] = await stock_buckets.totals_of(
                    self.redis, replies[at : at + len(read)]
                )
                at += len(read)
        campaigns = [campaign_of(row, stats_of(row, row, hot.get(row["id"]))) for row in page]
        return campaigns, encode_cursor(page[-1]) if more else None

    async def _row(self, campaign_id: str) -> asyncpg.Record:
        row = await self.pool.fetchrow(GET_CAMPAIGN, campaign_id)
        if row is None:
            raise CampaignNotFound(f"campaign {campaign_id!r} does not exist")
        return row

    async def move(self, campaign_id: str, verb: str, actor: str) -> Campaign:
        """publish / pause / resume / close: Postgres and the hot state move together."""
        allowed, target = TRANSITIONS[verb]
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, campaign_id)
            if row["status"] not in allowed:
                raise InvalidTransition(f"cannot {verb} a campaign that is {row['status']}")
            row_status = row["status"]
            row = await conn.fetchrow(SET_STATUS, campaign_id, target)
            if verb == "publish":
                claimed = await conn.fetchval(COUNT_CLAIMED, campaign_id)
                await self._publish(row, claimed)
            elif row_status != "draft":
                for slot in stock_buckets.slots(campaign_id, row["buckets"]):
                    await self.redis.hset(keys.meta_key(slot), "status", target)
            # A draft closed without being published has no hot state, and must not get a
            # partial one: a meta hash with a status but no run id reads as built for another
            # Redis run (stale_hot_state), which answered claims and grants 503 "Redis
            # restarted" although it never had. Claims of it are refused `not_live` from the
            # ledger's status instead.
            await conn.execute(
                INSERT_EVENT, verb, campaign_id, actor, {"from": row_status, "to": target}
            )
        return await self._campaign(row)

    async def _publish(self, row: asyncpg.Record, claimed: int) -> None:
        """Writes the hot state of each of the campaign's buckets: its share of the stock,
        `buckets` = K, one epoch, and the run id of the node holding it."""
        buckets = row["buckets"]
        epoch = secrets.token_hex(6)
        shares = stock_buckets.split(row["stock_total"] - claimed, buckets)
        # Bucket 0 (with stock_total) last: a campaign reads as published once it has it.
        for bucket in reversed(range(buckets)):
            meta = keys.meta_key(keys.bucket_id(row["id"], bucket))
            state: Any = hot_state(
                row,
                claimed,
                await redis_run_id(self.redis, meta),
                bucket=bucket,
                remaining=shares[bucket],
                epoch=epoch,
            )
            await self.redis.hset(meta, mapping=state)

    async def change_stock(self, campaign_id: str, change: StockChange, actor: str) -> StockLevel:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, campaign_id)
            if row["status"] == "closed":
                raise InvalidTransition("the stock of a closed campaign cannot change")
            if row["status"] == "draft":
                new_total = row["stock_total"] + change.delta
                if new_total < 0:
                    raise StockBelowClaimed("stock cannot go below zero", claimed=0)
                await conn.execute(SET_STOCK, campaign_id, new_total)
                remaining = new_total
            else:
                new_total, remaining = await stock_buckets.change_stock(
                    self.redis, self.scripts, campaign_id, row["buckets"], change.delta
                )
                try:
                    await conn.execute(SET_STOCK, campaign_id, new_total)
                except BaseException:
                    # Postgres refused: give Redis its stock back so the two agree again.
                    await stock_buckets.change_stock(
                        self.redis, self.scripts, campaign_id, row["buckets"], -change.delta
                    )
                    raise
            await conn.execute(
                INSERT_EVENT,
                "stock_change",
                campaign_id,
                actor,
                {"delta": change.delta, "stock_total": new_total},
            )
        return StockLevel(stock_total=new_total, remaining=remaining)

    async def update(self, campaign_id: str, data: CampaignUpdate, actor: str) -> Campaign:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, campaign_id)
            if row["status"] == "closed":
                raise InvalidTransition("a closed campaign cannot be edited")
            name = row["name"] if data.name is msgspec.UNSET else data.name
            ends = (
                row["claim_ends_at"] if data.claim_ends_at is msgspec.UNSET else data.claim_ends_at
            )
            if ends <= row["claim_starts_at"]:
                raise InvalidRequest("claim_ends_at: must be after claim_starts_at")
            validity = row["validity"]
            if data.validity is not msgspec.UNSET:
                _validate_validity(data.validity)
                validity = _validity_json(data.validity)
            low = (
                row["low_stock_threshold"]
                if data.low_stock_threshold is msgspec.UNSET
                else data.low_stock_threshold
            )
            row = await conn.fetchrow(UPDATE_CAMPAIGN, campaign_id, name, ends, validity, low)
            if row["status"] != "draft":
                state = hot_state(row, 0)
                fields: Any = {
                    k: state[k] for k in ("ends", "vmode", "vdays", "vfrom", "vuntil", "low")
                }
                for slot in stock_buckets.slots(campaign_id, row["buckets"]):
                    await self.redis.hset(keys.meta_key(slot), mapping=fields)
            await conn.execute(
                INSERT_EVENT, "campaign_updated", campaign_id, actor, msgspec.to_builtins(data)
            )
        return await self._campaign(row)

    async def stats(self, row: asyncpg.Record) -> Stats:
        counts = await self.pool.fetchrow(CAMPAIGN_COUNTS, row["id"])
        hot: list[Any] | None = None
        if row["status"] != "draft":
            hot = await stock_buckets.totals(self.redis, row["id"], row["buckets"])
        return stats_of(row, counts, hot)

    async def _campaign(self, row: asyncpg.Record) -> Campaign:
        return campaign_of(row, await self.stats(row))

    async def link(self, campaign_id: str, public_url: str, secret: str) -> Link:
        await self._row(campaign_id)
        token = link_token(secret, campaign_id)
        return Link(url=f"{public_url.rstrip('/')}/claim/{campaign_id}?token={token}", token=token)

    async def qr(self, campaign_id: str, public_url: str, secret: str, kind: str) -> bytes:
        link = await self.link(campaign_id, public_url, secret)
        out = io.BytesIO()
        segno.make(link.url, error="m").save(out, kind=kind, scale=8, border=4)
        return out.getvalue()


def stats_of(row: asyncpg.Record, counts: asyncpg.Record, hot: list[Any] | None) -> Stats:
    """A campaign's stats from its ledger counts (`counts`: the columns of `_COUNT_COLUMNS`)
    and, once published, the live counters of its hot state (`hot`: its HMGET of stock_total
    and remaining; None or empty: the ledger's)."""
    stock_total, remaining = row["stock_total"], row["stock_total"] - counts["claimed"]
    if hot and hot[0] is not None:
        stock_total, remaining = int(hot[0]), int(hot[1])
    claimed = stock_total - remaining
    redeemed, reservations = counts["redeemed"], counts["reservations"]
    return Stats(
        stock_total=stock_total,
        remaining=remaining,
        claimed=claimed,
        redeemed=redeemed,
        claim_rate=claimed / stock_total if stock_total else 0.0,
        redemption_rate=redeemed / claimed if claimed else 0.0,
        conversion_rate=round(counts["converted"] / reservations, 4) if reservations else None,
        transferred=counts["transferred"],
        exchanged=counts["exchanged"],
    )


def campaign_of(row: asyncpg.Record, stats: Stats) -> Campaign:
    return Campaign(
        id=row["id"],
        status=row["status"],
        name=row["name"],
        kind=row["kind"],
        amount_off=row["amount_off"],
        percent_off=row["percent_off"],
        max_discount=row["max_discount"],
        min_spend=row["min_spend"],
        sku=row["sku"],
        points=row["points"],
        scope=row["scope"],
        channels=list(row["channels"]),
        claim_starts_at=iso(row["claim_starts_at"]),
        claim_ends_at=iso(row["claim_ends_at"]),
        validity=row["validity"],
        stock=row["stock_total"],
        per_member_limit=row["per_member_limit"],
        transferable=row["transferable"],
        stackable=row["stackable"],
        low_stock_threshold=row["low_stock_threshold"],
        link_only=row["link_only"],
        points_price=row["points_price"],
        buckets=row["buckets"],
        created_at=iso(row["created_at"]),
        stats=stats,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(row: asyncpg.Record) -> str:
    """The opaque cursor of the page after `row`: its place in the list, (created_at, id)."""
    return page_cursor((row["created_at"] - _EPOCH) // timedelta(microseconds=1), row["id"])


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The place a cursor of `encode_cursor` stands for; anything else is 400 naming `before`."""
    micros, campaign_id = cursor_place(cursor, "before", numbers=1, texts=1)
    if not _ID_RE.match(campaign_id):
        raise InvalidRequest("before: not a cursor of this list")
    try:
        return _EPOCH + timedelta(microseconds=micros), campaign_id
    except OverflowError:
        raise InvalidRequest("before: not a cursor of this list") from None


async def _locked(conn: asyncpg.Connection, campaign_id: str) -> asyncpg.Record:
    """The campaign's row, locked for the rest of the transaction (404 when there is none)."""
    row = await conn.fetchrow(LOCK_CAMPAIGN, campaign_id)
    if row is None:
        raise CampaignNotFound(f"campaign {campaign_id!r} does not exist")
    return row


def link_token(secret: str, campaign_id: str) -> str:
    """The HMAC-SHA256 of the campaign id, base64url, 128 bits."""
    mac = hmac.new(secret.encode(), campaign_id.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_valid(secret: str, campaign_id: str, token: str) -> bool:
    """Whether `token` is the campaign's link token. Any other string, including non-ASCII
    text (which `compare_digest` refuses as `str`), is simply not the token."""
    return hmac.compare_digest(link_token(secret, campaign_id).encode(), token.encode())
