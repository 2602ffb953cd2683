"""Checkout: price a cart, hold its coupons for an order, settle, give back, expire.

Coupon state lives in Postgres rows. Every move of a coupon is one conditional UPDATE
(`... WHERE state = 'active'`, taking row locks in code order so two orders never deadlock)
whose events rows are written by the same statement, inside the transaction that also moves the
order's row: a coupon can never be held by two orders, whatever the concurrency. Requests about
one order are serialised by a lock on its row (or, before it exists, by its unique order_id:
a reservation creates the order and moves its coupons in one statement, or changes nothing).

Round trips: a reserve prices with inputs loaded once per event-loop tick for every cart priced
in it (`inputs.PricingInputs`), then runs RESERVE (one statement, its own transaction); a commit
joins the tick's SETTLE (group commit, `Settler`). Every answer is sent after its statement
committed.

This module orchestrates; its rooms: `sql` (the statements), `inputs` (the engine's request,
from named records), `refunds` (the pure refund arithmetic). Pricing is the native engine's pure
function, called once per cart; a cart big enough to keep the engine busy for more than about
half a millisecond is priced on a pricing thread (the engine releases the GIL), so that the
event loop goes on serving claims meanwhile; see `off_loop`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import msgspec

from gateway.batching import TickBatcher
from gateway.checkout import idempotency
from gateway.checkout.earning import line_points, points_back
from gateway.checkout.inputs import PricingInputs
from gateway.checkout.refunds import line_paid, plan_refund, refunded_lines
from gateway.checkout.schemas import (
    Cart,
    Redemption,
    RedemptionCreate,
    RefundedLine,
    RefundRequest,
    RefundResult,
)
from gateway.checkout.sql import (
    COUPON_STATES,
    EXPIRE_DUE,
    EXPIRE_ORDERS,
    GET_REDEMPTION,
    GIVE_BACK,
    LOCK_REDEMPTION,
    ORDER_COMMITTED,
    ORDER_EVENT,
    ORDER_REFUNDED,
    REDEEM,
    RELEASE,
    RESERVE,
    SET_COMMITTED,
    SET_REFUNDED,
    SET_STATE,
    SETTLE,
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
from gateway.native import price_quote
from gateway.settings import Settings
from gateway.wire import encoder, iso

log = logging.getLogger(__name__)
T = TypeVar("T")

_json_decoder = msgspec.json.Decoder()

# Reasons a code that priced fine can lose at the UPDATE: another order got there first.
_STATE_REASONS = frozenset({"reserved", "redeemed", "transferred", "revoked", "expired"})


def cart_hash(data: RedemptionCreate) -> bytes:
    """Same cart, same hash: codes count in their canonical spelling."""
    canonical = msgspec.structs.replace(
        data, coupon_codes=[parse_code(text) or text for text in data.coupon_codes]
    )
    return hashlib.blake2b(msgspec.json.encode(canonical), digest_size=16).digest()


# Settle statements in flight at once per worker (a group commit): the commits that arrive
# meanwhile settle together in the next. A batch's cost is mostly per statement, not per order
# (gw_settle, 016: one statement per kind of row for the whole batch; docs/BENCHMARKS.md), so
# fewer, bigger batches cost Postgres less per order under load; when idle, a commit starts at
# once as before.
SETTLE_IN_FLIGHT = 1


class Settler:
    """Commits every order whose commit arrives in the same event-loop tick with one SETTLE
    statement: one round trip and one durable commit serve them all, and each answer waits
    for it. An order SETTLE leaves alone (not reserved, timed out) resolves to None."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, zone: str) -> None:
        self.pool = pool
        self.clock = clock
        self.zone = zone
        self._batcher: TickBatcher[tuple[str, str], asyncpg.Record | None] = TickBatcher(
            self._settle_batch, max_in_flight=SETTLE_IN_FLIGHT
        )

    def settle(self, order_id: str, actor: str) -> asyncio.Future[asyncpg.Record | None]:
        return self._batcher.submit((order_id, actor))

    async def _settle_batch(self, commits: list[tuple[str, str]]) -> list[asyncpg.Record | None]:
        # The same order twice in a tick: one move (its first actor's), both callers get its row.
        actors: dict[str, str] = {}
        for order_id, actor in commits:
            actors.setdefault(order_id, actor)
        for attempt in range(3):
            try:
                rows = await self.pool.fetch(
                    SETTLE, list(actors), self.clock.now_ms(), list(actors.values()), self.zone
                )
                break
            except asyncpg.exceptions.TransactionRollbackError:
                # A deadlock or serialization failure rolled the batch back whole: retry.
                if attempt == 2:
                    raise
        settled = {row["order_id"]: row for row in rows}
        return [settled.get(order_id) for order_id, _ in commits]


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
    return price_quote(request).to_dict()


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


def stored_result(result: dict[str, Any]) -> dict[str, Any]:
    """A redemption's pricing result as stored with it. Rows reserved before quotes said how they
    were searched (issue 10) have no `search`: the engine then always searched exhaustively."""
    if "search" not in result:
        return {**result, "search": "exact"}
    return result


def redemption_body(
    result: dict[str, Any],
    *,
    order_id: str,
    member_id: str,
    state: str,
    expires_at: datetime,
    refunded_discount: int = 0,
    refunded_lines: list[RefundedLine] | None = None,
) -> dict[str, Any]:
    """The one builder of a Redemption's fields: the pricing result's (those of Quote, in its
    order) and then the order's, in the order of Redemption. Encoded as is by a fresh reserve
    (tests compare it with a replayed answer), converted to `Redemption` elsewhere."""
    return {
        **result,
        "order_id": order_id,
        "member_id": member_id,
        "state": state,
        "reserved_until": iso(expires_at),
        "refunded_discount": refunded_discount,
        "refunded_lines": refunded_lines or [],
    }


def redemption_dict(row: asyncpg.Record) -> dict[str, Any]:
    """A stored redemption's fields (a row of `redemptions`)."""
    return redemption_body(
        stored_result(row["result"]),
        order_id=row["order_id"],
        member_id=row["member_id"],
        state=row["state"],
        expires_at=row["expires_at"],
        refunded_discount=row["refunded_discount"],
        refunded_lines=refunded_lines(row["cart"]["lines"], row["refunded"], row["result"]),
    )


def redemption_view(row: asyncpg.Record) -> Redemption:
    return msgspec.convert(redemption_dict(row), Redemption)


def earning_json(request: dict[str, Any]) -> str:
    """What an order earns points by, kept with its redemption (`redemptions.earning`)."""
    return encoder.encode(
        {
            "points_per_yuan": request["member"]["points_per_yuan"],
            "multipliers": [line.get("points_multiplier", 1) for line in request["lines"]],
        }
    ).decode()


def refund_earning(row: asyncpg.Record, after: list[int], whole: bool) -> tuple[int, int]:
    """(points, paid cents) a refund takes back, from the order's row before it and the
    units refunded per line after it: each line's points and paid amount in proportion to its
    units, cumulatively (so unit-by-unit refunds add up to the whole); a whole refund also takes
    back the points of its points coupons, whose coupons come back."""
    lines = row["cart"]["lines"]
    result = row["result"]
    qty = [line["qty"] for line in lines]
    before = row["refunded"] or [0] * len(lines)
    earning = row["earning"] or {"points_per_yuan": 0, "multipliers": None}
    points = points_back(
        line_points(lines, result, earning["points_per_yuan"], earning["multipliers"]),
        qty,
        before,
        after,
    )
    paid = points_back(line_paid(lines, result), qty, before, after)
    if whole:
        points += sum(applied["points"] for applied in result["applied"])
    return points, paid


def _lost_reason(state: str | None) -> str:
    # Still `active` here means it was held and let go while we priced: say `reserved`.
    return state if state in _STATE_REASONS else "reserved"


class CheckoutService:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock
        self.ttl_ms = settings.reservation_ttl_s * 1000
        self.idem_ttl_s = settings.idempotency_ttl_s
        self.zone = settings.time_zone
        self.inputs = PricingInputs(pool)
        self.settler = Settler(pool, clock, self.zone)

    # -- pricing ---------------------------------------------------------------------------

    async def _price(
        self, cart: Cart | RedemptionCreate, now_ms: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the engine's request, its result)"""
        request = await self.inputs.request(cart, now_ms)
        return request, await price_off_loop_if_big(request, _price_dict)

    async def quote(self, cart: Cart) -> bytes:
        """The encoded Quote, written by the engine itself (`Quote.to_json`: the same bytes as
        msgspec's encoding of the `Quote` schema, which tests/native check)."""
        request = await self.inputs.request(cart, self.clock.now_ms())
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
        request, result = await self._price(data, now_ms)
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
            earning_json(request),
        )
        if row is not None:
            if row["reserved"] != len(codes):  # never expected: the codes were locked
                log.error("order %s reserved %d coupon(s)", data.order_id, row["reserved"])
            # Encoded as is: the engine's dict has the fields of Quote in its order.
            fresh = redemption_body(
                result,
                order_id=data.order_id,
                member_id=data.member_id,
                state="reserved",
                expires_at=row["expires_at"],
            )
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
            committed = redemption_body(  # nothing refunded: refunds only come after it
                result,
                order_id=order_id,
                member_id=settled["member_id"],
                state="committed",
                expires_at=settled["expires_at"],
            )
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
                    row = await conn.fetchrow(SET_COMMITTED, order_id, now_ms)
                    result = row["result"]
                    await conn.fetchval(
                        ORDER_COMMITTED,
                        row["member_id"],
                        order_id,
                        result["points_earned"],
                        result["total"],
                        now_ms,
                        self.zone,
                        actor,
                    )
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
            plan = plan_refund(row["cart"]["lines"], row["refunded"], row["result"], data.lines)
            refund = {"discount": plan.discount, "lines": plan.lines}
            if plan.lines:
                detail = msgspec.to_builtins(refund)
                await conn.execute(
                    ORDER_EVENT, "refund", now_ms, row["member_id"], actor, order_id, detail
                )
            if plan.whole and row["state"] == "committed":
                await conn.fetch(GIVE_BACK, order_id, now_ms, actor)
            if plan.lines:
                points, paid = refund_earning(row, plan.after, plan.whole)
                await conn.fetchval(
                    ORDER_REFUNDED,
                    row["member_id"],
                    order_id,
                    points,
                    paid,
                    plan.whole,
                    now_ms,
                    self.zone,
                    actor,
                )
            state = "refunded" if plan.whole else "committed"
            row = await conn.fetchrow(SET_REFUNDED, order_id, plan.after, plan.discount, state)
            result = msgspec.convert({**redemption_dict(row), "refund": refund}, RefundResult)
            encoded = encoder.encode(result)
            if key is not None:
                await idempotency.remember(conn, scope, key, h, 200, encoded)
        return encoded

    async def _locked(self, conn: asyncpg.Connection, order_id: str) -> asyncpg.Record:
        row = await conn.fetchrow(LOCK_REDEMPTION, order_id)
        if row is None:
            raise OrderNotFound(f"no redemption for order {order_id!r}")
        return row


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
