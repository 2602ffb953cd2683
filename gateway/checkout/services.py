"""Checkout: price a cart, hold its coupons for an order, settle, give back, expire.

Coupon state lives in Postgres rows. Every move of a coupon is one conditional UPDATE
(`... WHERE state = 'active'`, taking row locks in code order so two orders never deadlock)
whose events rows are written by the same statement, inside the transaction that also moves the
order's row: a coupon can never be held by two orders, whatever the concurrency. Requests about
one order are serialised by a lock on its row (or, before it exists, by its unique order_id:
a reservation creates the order and moves its coupons in one statement, or changes nothing).

Round trips: a reserve prices with inputs loaded once per event-loop tick for every cart priced
in it, then runs RESERVE (one statement, its own transaction); a commit joins the tick's SETTLE
(group commit). Every answer is sent after its statement committed.

Pricing is the native engine's pure function: this module loads the member, the tier policy and
the candidate coupons, calls it once, and persists what it answered. A cart big enough to keep
the engine busy for more than about half a millisecond is priced on a pricing thread (the engine
releases the GIL), so that the event loop goes on serving claims meanwhile; see `off_loop`.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import msgspec

from gateway.checkout import idempotency
from gateway.checkout.schemas import (
    Cart,
    Redemption,
    RedemptionCreate,
    RefundRequest,
    RefundResult,
)
from gateway.clock import Clock
from gateway.coupons.services import parse_code
from gateway.errors import (
    CouponsRejected,
    InvalidRequest,
    InvalidTransition,
    OrderConflict,
    OrderNotFound,
)
from gateway.native import price, price_quote
from gateway.settings import Settings
from gateway.wire import encoder, iso, zone

log = logging.getLogger(__name__)
T = TypeVar("T")


# The pricing inputs of every cart priced in one event-loop tick, in one round trip: a row per
# member found (its tier policy, NULL without one) and a row per coupon found (its mutable state
# and who holds it). What a campaign's coupons do is read once per process (CAMPAIGN_TERMS).
PRICING_INPUTS = """
SELECT true AS is_member, m.member_id AS key, m.birthday AS text_a, NULL::text AS text_b,
       NULL::text AS campaign_id, NULL::bigint AS valid_from, NULL::bigint AS valid_until,
       t.percent_off, t.birthday_percent_off, t.points_per_yuan, t.coupons_on_member_price
FROM members m LEFT JOIN tiers t ON t.tier = m.tier
WHERE m.member_id = ANY($1::text[])
UNION ALL
SELECT false, k.code, k.member_id, k.state, k.campaign_id,
       floor(extract(epoch FROM k.valid_from))::bigint,
       floor(extract(epoch FROM k.valid_until))::bigint,
       NULL, NULL, NULL, NULL
FROM coupons k
WHERE k.code = ANY($2::text[])
"""
# A campaign's pricing terms never change once it exists (PATCH edits only its name, claim
# window end, validity of future claims and low-stock threshold), so a process may keep them.
CAMPAIGN_TERMS = """
SELECT id, kind, amount_off, percent_off, max_discount, min_spend, sku, points, scope, channels,
       stackable
FROM campaigns WHERE id = ANY($1::text[])
"""
COUPON_STATES = "SELECT code, state FROM coupons WHERE code = ANY($1::text[])"

GET_REDEMPTION = "SELECT * FROM redemptions WHERE order_id = $1"
LOCK_REDEMPTION = "SELECT * FROM redemptions WHERE order_id = $1 FOR UPDATE"
SET_STATE = """
UPDATE redemptions SET state = $2, updated_at = now() WHERE order_id = $1 RETURNING *
"""
SET_REFUNDED = """
UPDATE redemptions
SET refunded = $2, refunded_discount = refunded_discount + $3, state = $4, updated_at = now()
WHERE order_id = $1 RETURNING *
"""
EXPIRE_ORDERS = """
UPDATE redemptions SET state = 'expired', updated_at = now()
WHERE order_id = ANY($1::text[]) AND state = 'reserved' AND expires_at <= to_timestamp($2 / 1000.0)
RETURNING order_id
"""
EXPIRE_DUE = """
UPDATE redemptions SET state = 'expired', updated_at = now()
WHERE order_id IN (
    SELECT order_id FROM redemptions
    WHERE state = 'reserved' AND expires_at <= to_timestamp($1 / 1000.0)
    ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
) AND state = 'reserved'
RETURNING order_id
"""

# A reservation in one statement (one round trip, its own transaction): lock the order's codes
# that are still `active` and its member's, in code order; only when that is every code, create
# the order (unless it exists: the unique order_id serialises requests about one order), move
# the coupons active -> reserved (each a conditional UPDATE) and write their events. No row back:
# nothing changed, because a code was lost to another order or the order already exists.
# Cart and quote go in as JSON text encoded by msgspec and do not come back: the caller has them.
RESERVE = """
WITH target AS (
    SELECT code FROM coupons
    WHERE code = ANY($1::text[]) AND member_id = $2 AND state = 'active'
    ORDER BY code FOR UPDATE
), placed AS (
    INSERT INTO redemptions (order_id, member_id, state, cart_hash, cart, result, reserved_at,
                             expires_at)
    SELECT $3, $2, 'reserved', $6, $7::text::jsonb, $8::text::jsonb, to_timestamp($4 / 1000.0),
           to_timestamp($9 / 1000.0)
    WHERE (SELECT count(*) FROM target) = cardinality($1::text[])
    ON CONFLICT (order_id) DO NOTHING
    RETURNING *
), moved AS (
    UPDATE coupons k SET state = 'reserved', order_id = $3, updated_at = now()
    FROM target, placed WHERE k.code = target.code AND k.state = 'active'
    RETURNING k.code, k.campaign_id, k.member_id
), recorded AS (
    INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id)
    SELECT 'reserve', to_timestamp($4 / 1000.0), campaign_id, code, member_id, $5, $3 FROM moved
    RETURNING 1
)
SELECT placed.expires_at, (SELECT count(*) FROM recorded) AS reserved FROM placed
"""
# reserved -> redeemed, for one order.
REDEEM = """
WITH target AS (
    SELECT code FROM coupons WHERE order_id = $1 AND state = 'reserved' ORDER BY code FOR UPDATE
), moved AS (
    UPDATE coupons k SET state = 'redeemed', updated_at = now()
    FROM target WHERE k.code = target.code AND k.state = 'reserved'
    RETURNING k.code, k.campaign_id, k.member_id
)
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id)
SELECT 'redeem', to_timestamp($2 / 1000.0), campaign_id, code, member_id, $3, $1 FROM moved
RETURNING coupon_code
"""
# The common commit, of every order committed in the same event-loop tick, in one statement
# (group commit: one transaction, one WAL flush): each order reserved -> committed, its coupons
# reserved -> redeemed (each a conditional UPDATE), their events. Orders are locked in order_id
# order and coupons in code order, as everywhere, so batches never deadlock. An order that is
# not reserved, or timed out, gives no row. $1/$3: order ids (distinct) and their actors.
SETTLE = """
WITH wanted AS (
    SELECT * FROM unnest($1::text[], $3::text[]) AS w(order_id, actor)
), locked AS (
    SELECT r.order_id FROM redemptions r JOIN wanted w ON w.order_id = r.order_id
    WHERE r.state = 'reserved' AND r.expires_at > to_timestamp($2 / 1000.0)
    ORDER BY r.order_id FOR UPDATE OF r
), settled AS (
    UPDATE redemptions r SET state = 'committed', updated_at = now()
    FROM locked WHERE r.order_id = locked.order_id AND r.state = 'reserved'
    RETURNING r.*
), target AS (
    SELECT k.code FROM coupons k JOIN settled s ON s.order_id = k.order_id
    WHERE k.state = 'reserved' ORDER BY k.code FOR UPDATE OF k
), moved AS (
    UPDATE coupons k SET state = 'redeemed', updated_at = now()
    FROM target WHERE k.code = target.code AND k.state = 'reserved'
    RETURNING k.code, k.campaign_id, k.member_id, k.order_id
), recorded AS (
    INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id)
    SELECT 'redeem', to_timestamp($2 / 1000.0), m.campaign_id, m.code, m.member_id, w.actor,
           m.order_id
    FROM moved m JOIN wanted w ON w.order_id = m.order_id
    RETURNING order_id
)
SELECT settled.order_id, settled.member_id, settled.expires_at, settled.result::text AS result,
       (SELECT count(*) FROM recorded r WHERE r.order_id = settled.order_id) AS redeemed
FROM settled
"""
# reserved -> active (release) or, past its validity, expired; for cancels and time-outs.
RELEASE = """
WITH target AS (
    SELECT code, order_id FROM coupons
    WHERE order_id = ANY($1::text[]) AND state = 'reserved' ORDER BY code FOR UPDATE
), moved AS (
    UPDATE coupons k
    SET state = CASE WHEN k.valid_until > to_timestamp($2 / 1000.0) THEN 'active'
                     ELSE 'expired' END,
        order_id = NULL, updated_at = now()
    FROM target WHERE k.code = target.code AND k.state = 'reserved'
    RETURNING k.code, k.campaign_id, k.member_id, k.state, target.order_id
)
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id, detail)
SELECT CASE WHEN state = 'active' THEN 'release' ELSE 'expire' END, to_timestamp($2 / 1000.0),
       campaign_id, code, member_id, $4, order_id, jsonb_build_object('reason', $3::text)
FROM moved
RETURNING coupon_code
"""
# redeemed -> active (or expired, past validity) when the whole order is refunded.
GIVE_BACK = """
WITH target AS (
    SELECT code FROM coupons WHERE order_id = $1 AND state = 'redeemed' ORDER BY code FOR UPDATE
), moved AS (
    UPDATE coupons k
    SET state = CASE WHEN k.valid_until > to_timestamp($2 / 1000.0) THEN 'active'
                     ELSE 'expired' END,
        order_id = NULL, updated_at = now()
    FROM target WHERE k.code = target.code AND k.state = 'redeemed'
    RETURNING k.code, k.campaign_id, k.member_id, k.state
)
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id, detail)
SELECT 'refund', to_timestamp($2 / 1000.0), campaign_id, code, member_id, $3, $1,
       jsonb_build_object('state', state)
FROM moved
RETURNING coupon_code
"""
ORDER_EVENT = """
INSERT INTO events (kind, at, member_id, actor, order_id, detail)
VALUES ($1, to_timestamp($2 / 1000.0), $3, $4, $5, $6)
"""

_json_decoder = msgspec.json.Decoder()

# Reasons a code that priced fine can lose at the UPDATE: another order got there first.
_STATE_REASONS = frozenset({"reserved", "redeemed", "transferred", "revoked", "expired"})


def cart_hash(data: RedemptionCreate) -> bytes:
    """Same cart, same hash: codes count in their canonical spelling."""
    canonical = msgspec.structs.replace(
        data, coupon_codes=[parse_code(text) or text for text in data.coupon_codes]
    )
    return hashlib.blake2b(msgspec.json.encode(canonical), digest_size=16).digest()


def is_birthday(birthday: str | None, now_ms: int) -> bool:
    if birthday is None:
        return False
    today = datetime.fromtimestamp(now_ms / 1000, zone())
    if birthday == "02-29" and not calendar.isleap(today.year):
        birthday = "02-28"  # celebrated on the last day of February in common years
    return today.strftime("%m-%d") == birthday


def campaign_terms(row: asyncpg.Record) -> dict[str, Any]:
    """The engine's fields of a campaign, shared by every coupon of it."""
    scope = row["scope"] or {}
    return {
        "kind": row["kind"],
        "amount_off": row["amount_off"],
        "percent_off": row["percent_off"],
        "max_discount": row["max_discount"],
        "min_spend": row["min_spend"],
        "sku": row["sku"],
        "points": row["points"],
        "scope_skus": scope.get("skus", []),
        "scope_categories": scope.get("categories", []),
        "scope_stores": scope.get("stores", []),
        "channels": list(row["channels"]),
        "stackable": row["stackable"],
    }


#: A member's tier policy: (birthday, percent_off, birthday_percent_off, points_per_yuan,
#: coupons_on_member_price); percent_off is None when the tier has no policy.
Policy = tuple[str | None, int | None, int | None, int | None, bool | None]
#: A coupon as pricing needs it: (holder, state, valid_from s, valid_until s, campaign terms).
Found = tuple[str, str, int, int, dict[str, Any]]
_NO_POLICY: Policy = (None, None, None, None, None)


class PricingInputs:
    """Loads the pricing inputs of every cart priced in the same event-loop tick (quotes and
    reserves alike) with one query: under load, one round trip serves tens of carts instead of
    each holding a pooled connection for its own.

    Coupon state is read fresh for every batch (never cached): a quote sees a coupon reserved
    or redeemed a moment ago. Only campaign terms, which never change, are kept.
    """

    _TERMS_MAX = 10_000  # bounds memory; campaigns are few, a clear just costs a reload

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._pending: list[tuple[str, list[str], asyncio.Future[Any]]] = []
        self._terms: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def load(self, member_id: str, codes: list[str]) -> asyncio.Future[Any]:
        """(policy, {code: Found}) of one cart, resolved with the rest of this tick's carts."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((member_id, codes, future))
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[str, list[str], asyncio.Future[Any]]]) -> None:
        try:
            members = sorted({member_id for member_id, _, _ in batch})
            codes = sorted({code for _, wanted, _ in batch for code in wanted})
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(PRICING_INPUTS, members, codes)
                missing = sorted({r[4] for r in rows if not r[0] and r[4] not in self._terms})
                if missing:
                    if len(self._terms) > self._TERMS_MAX:
                        self._terms.clear()
                    for row in await conn.fetch(CAMPAIGN_TERMS, missing):
                        self._terms[row["id"]] = campaign_terms(row)
            policies: dict[str, Policy] = {}
            coupons: dict[str, Found] = {}
            for r in rows:
                if r[0]:
                    policies[r[1]] = (r[2], r[7], r[8], r[9], r[10])
                else:
                    coupons[r[1]] = (r[2], r[3], r[5], r[6], self._terms[r[4]])
        except Exception as exc:  # noqa: BLE001 - not swallowed: every waiter of the batch gets it
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (shutting down): so are the waiters
            for _, _, future in batch:
                future.cancel()
            raise
        for member_id, wanted, future in batch:
            if not future.done():
                found = {code: coupons[code] for code in wanted if code in coupons}
                future.set_result((policies.get(member_id, _NO_POLICY), found))


class Settler:
    """Commits every order whose commit arrives in the same event-loop tick with one SETTLE
    statement: one round trip and one durable commit serve them all, and each answer waits
    for it. An order SETTLE leaves alone (not reserved, timed out) resolves to None."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock
        self._pending: dict[str, tuple[str, list[asyncio.Future[Any]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def settle(self, order_id: str, actor: str) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        # The same order twice in a tick: one move, both callers get its row.
        self._pending.setdefault(order_id, (actor, []))[1].append(future)
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, {}
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: dict[str, tuple[str, list[asyncio.Future[Any]]]]) -> None:
        waiters = [future for _, futures in batch.values() for future in futures]
        try:
            order_ids = list(batch)
            actors = [actor for actor, _ in batch.values()]
            for attempt in range(3):
                try:
                    rows = await self.pool.fetch(SETTLE, order_ids, self.clock.now_ms(), actors)
                    break
                except asyncpg.exceptions.TransactionRollbackError:
                    # A deadlock or serialization failure rolled the batch back whole: retry.
                    if attempt == 2:
                        raise
        except Exception as exc:  # noqa: BLE001 - not swallowed: every waiter of the batch gets it
            for future in waiters:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (shutting down): so are the waiters
            for future in waiters:
                future.cancel()
            raise
        settled = {row["order_id"]: row for row in rows}
        for order_id, (_, futures) in batch.items():
            for future in futures:
                if not future.done():
                    future.set_result(settled.get(order_id))


# Which carts are priced off the event loop. Measured on the development machine (2 shared
# cores, another test run beside; timeit, best of 3-5 of `price_quote(request).to_json()`, the
# engine and the conversions, on tests/native/pricing_families.py's `mixed_percent` carts;
# ranges over 3 seeds, for 2-3 lines median-max over 6; docs/PRICING.md, "Pricing off the
# event loop"):
# - a hop to a pricing thread and back (`run_in_executor`, idle pool) costs 31-40 us
#   (asyncio.to_thread 30-52 us; the lower figures under uvloop);
# - with few codes the time grows with the lines: 200 lines take 0.12-0.19 ms with 1 code,
#   0.24-0.31 ms with 4, 0.48-0.73 ms with 8, 1.7-2.1 ms with 12; 100 lines 0.36-0.48 ms with 8;
# - with many it grows with the stackable codes searched, whatever the lines: 2 lines take
#   0.12-0.13 ms with 13 codes, 0.12-0.55 ms with 14-15, up to 53 ms with 20 (the work budget);
#   3 lines with 13 up to 0.42 ms; 20 lines with 20, 1.5-8 ms.
# So a cart goes to a thread when it may take more than about half a millisecond (the hop is
# then a tenth of the call or less): 14 or more stackable codes found, or lines x codes found of
# 1000 or more. The common cart (a few lines, 0-3 codes: 2-20 us) stays on the loop.
OFF_LOOP_STACKABLE = 14
OFF_LOOP_LINE_CODES = 1000


def off_loop(request: dict[str, Any]) -> bool:
    """Whether pricing `request` may keep the engine busy long enough to price it on a thread."""
    found = [coupon for coupon in request["coupons"] if coupon["found"]]
    if len(request["lines"]) * len(found) >= OFF_LOOP_LINE_CODES:
        return True
    return sum(1 for coupon in found if coupon["stackable"]) >= OFF_LOOP_STACKABLE


@functools.cache
def pricing_pool() -> ThreadPoolExecutor:
    """The process's pricing threads, made on first use (in the worker, after granian forked
    it). Two: a third slow cart waits its turn there rather than take a core from the claims."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="pricing")


def _engine_refused(exc: ValueError) -> InvalidRequest:
    # The cart was validated already: this is a bug, not the client's.
    log.error("pricing engine refused a validated cart: %s", exc)
    return InvalidRequest(str(exc))


def _price_dict(request: dict[str, Any]) -> dict[str, Any]:
    return price(request)


def _quote_json(request: dict[str, Any]) -> bytes:
    quote: bytes = price_quote(request).to_json()
    return quote


async def price_off_loop_if_big(
    request: dict[str, Any], engine: Callable[[dict[str, Any]], T]
) -> T:
    """`engine(request)`, on a pricing thread when the cart is big (`off_loop`)."""
    try:
        if off_loop(request):
            return await asyncio.get_running_loop().run_in_executor(pricing_pool(), engine, request)
        return engine(request)
    except ValueError as exc:
        raise _engine_refused(exc) from None


def line_shares(result: dict[str, Any], lines: int) -> list[int]:
    """Coupon discount carried by each cart line, summed over the applied coupons."""
    shares = [0] * lines
    for applied in result["applied"]:
        for share in applied["lines"]:
            shares[share["line"]] += share["discount"]
    return shares


def share_of(share: int, qty: int, of_qty: int) -> int:
    """The part of a line's share that `qty` of its `of_qty` units carry. Cumulative, so that
    refunds one unit at a time add up to the whole share and never beyond it."""
    return share * qty // of_qty


def refunded_lines(row: asyncpg.Record) -> list[dict[str, Any]]:
    cart_lines = row["cart"]["lines"]
    refunded: list[int] = row["refunded"] or []
    shares = line_shares(row["result"], len(cart_lines))
    return [
        {
            "line": i,
            "sku": cart_lines[i]["sku"],
            "qty": qty,
            "discount": share_of(shares[i], qty, cart_lines[i]["qty"]),
        }
        for i, qty in enumerate(refunded)
        if qty
    ]


def stored_result(result: dict[str, Any]) -> dict[str, Any]:
    """A redemption's pricing result as stored with it. Rows reserved before quotes said how they
    were searched (issue 10) have no `search`: the engine then always searched exhaustively."""
    if "search" not in result:
        return {**result, "search": "exact"}
    return result


def redemption_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {
        **stored_result(row["result"]),
        "order_id": row["order_id"],
        "member_id": row["member_id"],
        "state": row["state"],
        "reserved_until": iso(row["expires_at"]),
        "refunded_discount": row["refunded_discount"],
        "refunded_lines": refunded_lines(row),
    }


def redemption_view(row: asyncpg.Record) -> Redemption:
    return msgspec.convert(redemption_dict(row), Redemption)


def _lost_reason(state: str | None) -> str:
    # Still `active` here means it was held and let go while we priced: say `reserved`.
    return state if state in _STATE_REASONS else "reserved"


class CheckoutService:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock
        self.ttl_ms = settings.reservation_ttl_s * 1000
        self.idem_ttl_s = settings.idempotency_ttl_s
        self.inputs = PricingInputs(pool)
        self.settler = Settler(pool, clock)

    # -- pricing ---------------------------------------------------------------------------

    async def _price(self, cart: Cart | RedemptionCreate, now_ms: int) -> dict[str, Any]:
        return await price_off_loop_if_big(await self._request(cart, now_ms), _price_dict)

    async def _request(self, cart: Cart | RedemptionCreate, now_ms: int) -> dict[str, Any]:
        """The engine's request for `cart`: its lines, the member's policy and each code's
        candidate coupon as read now (docs/PRICING.md)."""
        codes = [parse_code(text) for text in cart.coupon_codes]
        wanted = [code for code in codes if code is not None]
        policy, found = await self.inputs.load(cart.member_id, wanted)
        coupons: list[dict[str, Any]] = []
        for text, code in zip(cart.coupon_codes, codes, strict=True):
            coupon = found.get(code) if code is not None else None
            if code is None or coupon is None:
                coupons.append({"code": text, "found": False})
            else:
                holder, state, valid_from, valid_until, terms = coupon
                coupons.append(
                    {
                        **terms,
                        "code": code,
                        "found": True,
                        "owner_matches": holder == cart.member_id,
                        "state": state,
                        "valid_from": valid_from,
                        "valid_until": valid_until,
                    }
                )
        birthday, percent_off, birthday_percent_off, points_per_yuan, on_member_price = policy
        has_policy = percent_off is not None
        member = {
            "tier_percent_off": percent_off if has_policy else 0,
            "birthday_percent_off": birthday_percent_off if has_policy else 0,
            "is_birthday": has_policy and is_birthday(birthday, now_ms),
            "coupons_on_member_price": on_member_price if has_policy else True,
            "points_per_yuan": points_per_yuan if has_policy else 0,
        }
        return {
            "now": now_ms // 1000,
            "channel": cart.channel,
            "store_id": cart.store_id,
            "lines": [
                {
                    "sku": line.sku,
                    "category": line.category,
                    "unit_price": line.unit_price,
                    "qty": line.qty,
                }
                for line in cart.lines
            ],
            "member": member,
            "coupons": coupons,
        }

    async def quote(self, cart: Cart) -> bytes:
        """The encoded Quote, written by the engine itself (`Quote.to_json`: the same bytes as
        msgspec's encoding of the `Quote` schema, which tests/native check)."""
        request = await self._request(cart, self.clock.now_ms())
        return await price_off_loop_if_big(request, _quote_json)

    # -- reserve ---------------------------------------------------------------------------

    async def reserve(self, data: RedemptionCreate, actor: str) -> tuple[bool, Redemption | bytes]:
        """Holds every code of the cart for the order; (created, the redemption or, fresh, its
        encoding).

        The same order with the same cart gets its redemption back; with another cart, 409.
        Two round trips: the pricing inputs (shared with the carts priced in the same tick),
        then RESERVE, which commits before the answer.
        """
        h = cart_hash(data)
        now_ms = self.clock.now_ms()
        result = await self._price(data, now_ms)
        if result["rejected"]:  # the order may exist already: its coupons are held by itself
            if (existing := await self._existing(data.order_id, h)) is not None:
                return False, existing
            raise CouponsRejected(
                "some coupon codes do not apply to this cart; nothing was reserved",
                rejected=result["rejected"],
            )
        codes = [applied["code"] for applied in result["applied"]]
        row = await self.pool.fetchrow(
            RESERVE,
            codes,
            data.member_id,
            data.order_id,
            now_ms,
            actor,
            h,
            encoder.encode(data).decode(),
            encoder.encode(result).decode(),
            now_ms + self.ttl_ms,
        )
        if row is not None:
            if row["reserved"] != len(codes):  # never expected: the codes were locked
                log.error("order %s reserved %d coupon(s)", data.order_id, row["reserved"])
            # Encoded as is: the engine's dict has the fields of Quote in its order, and the
            # rest follow in the order of Redemption (tests compare it with a replayed answer).
            fresh = {
                **result,
                "order_id": data.order_id,
                "member_id": data.member_id,
                "state": "reserved",
                "reserved_until": iso(row["expires_at"]),
                "refunded_discount": 0,
                "refunded_lines": [],
            }
            return True, encoder.encode(fresh)
        if (existing := await self._existing(data.order_id, h)) is not None:
            return False, existing
        # Another order won the race for a code (the statement changed nothing).
        states = dict(await self.pool.fetch(COUPON_STATES, codes))
        lost = [code for code in codes if states.get(code) != "active"] or codes
        raise CouponsRejected(
            "some coupon codes do not apply to this cart; nothing was reserved",
            rejected=[{"code": c, "reason": _lost_reason(states.get(c))} for c in lost],
        )

    async def _existing(self, order_id: str, h: bytes) -> Redemption | None:
        """The order's redemption when it exists with this cart; 409 with another cart."""
        row = await self.pool.fetchrow(GET_REDEMPTION, order_id)
        if row is None:
            return None
        if bytes(row["cart_hash"]) != h:
            raise OrderConflict(f"order {order_id!r} was reserved with a different cart")
        return redemption_view(row)

    # -- settle ----------------------------------------------------------------------------

    async def get(self, order_id: str) -> Redemption:
        row = await self.pool.fetchrow(GET_REDEMPTION, order_id)
        if row is None:
            raise OrderNotFound(f"no redemption for order {order_id!r}")
        now_ms = self.clock.now_ms()
        if row["state"] == "reserved" and row["expires_at"].timestamp() * 1000 <= now_ms:
            await expire_orders(self.pool, [order_id], now_ms)  # the sweep has not come by yet
            row = await self.pool.fetchrow(GET_REDEMPTION, order_id)
        return redemption_view(row)

    async def commit(self, order_id: str, actor: str) -> Redemption:
        """reserved -> committed: the coupons are `redeemed`. Idempotent."""
        now_ms = self.clock.now_ms()
        settled = await self.settler.settle(order_id, actor)
        if settled is not None:
            result = stored_result(_json_decoder.decode(settled["result"]))
            if settled["redeemed"] != len(result["applied"]):  # never expected
                log.error("order %s committed %d coupon(s)", order_id, settled["redeemed"])
            committed = {
                **result,
                "order_id": order_id,
                "member_id": settled["member_id"],
                "state": "committed",
                "reserved_until": iso(settled["expires_at"]),
                "refunded_discount": 0,  # refunds only come after the commit
                "refunded_lines": [],
            }
            return msgspec.convert(committed, Redemption)
        # Not reserved, or timed out: say why, under the order's row lock.
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self._locked(conn, order_id)
                if row["state"] == "committed":
                    return redemption_view(row)
                if row["state"] != "reserved":
                    raise InvalidTransition(f"order {order_id!r} is {row['state']}: cannot commit")
                expired = row["expires_at"].timestamp() * 1000 <= now_ms
                if expired:
                    await _expire(conn, [order_id], now_ms)
                else:
                    codes = [applied["code"] for applied in row["result"]["applied"]]
                    moved = await conn.fetch(REDEEM, order_id, now_ms, actor)
                    if len(moved) != len(codes):  # never expected: the row lock orders moves
                        raise InvalidTransition(f"order {order_id!r} no longer holds its coupons")
                    row = await conn.fetchrow(SET_STATE, order_id, "committed")
            if expired:  # after the release has committed
                raise InvalidTransition(
                    f"order {order_id!r}: the reservation expired and its coupons were released"
                )
        return redemption_view(row)

    async def cancel(self, order_id: str, actor: str) -> Redemption:
        """reserved (or expired) -> cancelled: the coupons are `active` again. Idempotent."""
        now_ms = self.clock.now_ms()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._locked(conn, order_id)
            if row["state"] == "cancelled":
                return redemption_view(row)
            if row["state"] not in ("reserved", "expired"):
                raise InvalidTransition(f"order {order_id!r} is {row['state']}: cannot cancel")
            if row["state"] == "reserved":
                await conn.fetch(RELEASE, [order_id], now_ms, "cancel", actor)
            row = await conn.fetchrow(SET_STATE, order_id, "cancelled")
        return redemption_view(row)

    async def refund(
        self, order_id: str, data: RefundRequest, actor: str, key: str | None, body: bytes
    ) -> bytes:
        """Gives back the coupon discount of the refunded lines; the encoded RefundResult.

        A refund of everything left returns the order's coupons to `active` (`expired` when
        past their validity). With an Idempotency-Key a retry gets the first answer.
        """
        now_ms = self.clock.now_ms()
        scope = f"refund:{order_id}"
        h = idempotency.request_hash(body)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._locked(conn, order_id)
            if key is not None:
                earlier = await idempotency.replay(conn, scope, key, h, self.idem_ttl_s)
                if earlier is not None:
                    return earlier[1]
            if row["state"] not in ("committed", "refunded"):
                raise InvalidTransition(f"order {order_id!r} is {row['state']}: cannot refund")
            cart_lines = row["cart"]["lines"]
            before: list[int] = row["refunded"] or [0] * len(cart_lines)
            wanted = _refund_quantities(cart_lines, before, data)
            after = [b + w for b, w in zip(before, wanted, strict=True)]
            shares = line_shares(row["result"], len(cart_lines))
            lines = []
            for i, qty in enumerate(wanted):
                if qty:
                    of_qty = cart_lines[i]["qty"]
                    given = share_of(shares[i], after[i], of_qty)
                    given -= share_of(shares[i], before[i], of_qty)
                    lines.append(
                        {"line": i, "sku": cart_lines[i]["sku"], "qty": qty, "discount": given}
                    )
            discount = sum(line["discount"] for line in lines)
            whole = all(a == line["qty"] for a, line in zip(after, cart_lines, strict=True))
            if lines:
                detail = {"lines": lines, "discount": discount}
                await conn.execute(
                    ORDER_EVENT, "refund", now_ms, row["member_id"], actor, order_id, detail
                )
            if whole and row["state"] == "committed":
                await conn.fetch(GIVE_BACK, order_id, now_ms, actor)
            row = await conn.fetchrow(
                SET_REFUNDED, order_id, after, discount, "refunded" if whole else "committed"
            )
            result = msgspec.convert(
                {**redemption_dict(row), "refund": {"discount": discount, "lines": lines}},
                RefundResult,
            )
            encoded = encoder.encode(result)
            if key is not None:
                await idempotency.remember(conn, scope, key, h, 200, encoded)
        return encoded

    async def _locked(self, conn: asyncpg.Connection, order_id: str) -> asyncpg.Record:
        row = await conn.fetchrow(LOCK_REDEMPTION, order_id)
        if row is None:
            raise OrderNotFound(f"no redemption for order {order_id!r}")
        return row


def _refund_quantities(
    cart_lines: list[dict[str, Any]], before: list[int], data: RefundRequest
) -> list[int]:
    """Units to refund per cart line; a sku on several lines takes them in cart order."""
    left = [line["qty"] - done for line, done in zip(cart_lines, before, strict=True)]
    if not data.lines:
        return left
    wanted = [0] * len(cart_lines)
    for j, asked in enumerate(data.lines):
        positions = [i for i, line in enumerate(cart_lines) if line["sku"] == asked.sku]
        if not positions:
            raise InvalidRequest(f"lines[{j}].sku: {asked.sku!r} is not in the order")
        qty = asked.qty
        for i in positions:
            take = min(qty, left[i] - wanted[i])
            wanted[i] += take
            qty -= take
        if qty:  # API.md's codes for a refund: a request the order cannot meet is invalid
            raise InvalidRequest(
                f"lines[{j}].qty: only {asked.qty - qty} unit(s) of {asked.sku!r} are left"
                " to refund"
            )
    return wanted


async def _expire(conn: asyncpg.Connection, order_ids: list[str], now_ms: int) -> list[str]:
    """Inside a transaction: reserved orders past their time-out -> expired, coupons released."""
    expired = [r["order_id"] for r in await conn.fetch(EXPIRE_ORDERS, order_ids, now_ms)]
    if expired:
        await conn.fetch(RELEASE, expired, now_ms, "timeout", "sweeper")
    return expired


async def expire_orders(pool: asyncpg.Pool, order_ids: list[str], now_ms: int) -> list[str]:
    async with pool.acquire() as conn, conn.transaction():
        return await _expire(conn, order_ids, now_ms)


async def sweep(pool: asyncpg.Pool, now_ms: int, batch: int = 500) -> int:
    """Releases every reservation whose time-out has passed at `now_ms`; how many orders.

    Safe beside other sweepers (SKIP LOCKED) and beside commits and cancels of the same orders
    (each waits for the other's row lock, and the loser finds the order moved on).
    """
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            expired = [r["order_id"] for r in await conn.fetch(EXPIRE_DUE, now_ms, batch)]
            if expired:
                await conn.fetch(RELEASE, expired, now_ms, "timeout", "sweeper")
        total += len(expired)
        if len(expired) < batch:
            return total
