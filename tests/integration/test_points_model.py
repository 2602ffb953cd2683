"""The points ledger against a model (issue 13, "Correctness, proven").

A hypothesis state machine (`RuleBasedStateMachine`) drives 2-3 silver members (1 point per
yuan, no member discount) through random sequences of earning (orders reserved and committed
through checkout), refunds (partial by sku and quantity, or whole), spending (negative
adjustments), positive adjustments, exchanges (积分兑换), transfers (积分赠送), programme phases
(expiry `end_of_next_year` / `days` / `never`, `pending_days`, `transferable`) and a moving
clock (days to months, jumps to a lot's expiry or counting time and to the turn of the year in
Asia/Shanghai, one second either side), some of the jumps followed by the scheduled sweep
before any read brings the members up to date. A plain-Python model keeps each member's lots
and debt by the rules of API.md "Points"; after every step the model and the gateway must agree
on every member's balance, pending points, debt and lots (points, remaining, earned_at,
counts_from, expires_at, source, in the order `GET /v1/members/{id}/points` lists them), and
`assert_ledger` recomputes each ledger from its entries.

The machine's rules are synchronous: it runs in a worker thread and sends each request to the
test's event loop (where the session's client and pool live). The clock is held still for the
run (`Clock.now_ms` reads a fixed instant plus the offset that `clock.advance` moves), so the
model knows the gateway's "now" to the millisecond: lots' times are compared exactly, and a
jump can land exactly on a lot's expiry (it still counts) or one second past it (gone).

60 examples of up to 50 steps (about 30 s); each example starts at today's date with the
defaults or a random programme, and ends with the clock reset and an empty programme. A failure
prints its steps and a `@reproduce_failure` blob, and the example database replays it first;
`pytest -s` prints what the run explored. The programme and the tier policies are global:
run this alone on its database (not beside other tests that set a programme).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gateway.clock import Clock, clock
from gateway.points.jobs import sweep_points
from gateway.wire import when, zone
from tests.conftest import live_campaign
from tests.integration.points_helpers import (
    SET_PROGRAMME,
    Auth,
    Client,
    assert_ledger,
    order,
    points_of,
    silver_member,
    unthrottled,
)

pytestmark = pytest.mark.asyncio

T = TypeVar("T")

SECOND = 1000
HOUR = 3600 * SECOND
DAY = 24 * HOUR
#: The clock never runs further than this from the start of an example (the exchange
#: campaigns' claim window is wider).
MAX_OFFSET = 4 * 365 * DAY
#: The points prices of the exchange campaigns: a cheap one and a dear one.
PRICES = (60, 450)
#: The members' lots due at $2: pending ones to count, counting ones past expiry.
DUE = """
SELECT count(*) FROM point_lots
WHERE member_id = ANY($1::text[]) AND remaining > 0
  AND (pending AND counts_from <= $2 OR NOT pending AND expires_at < $2)
"""

MACHINE_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the model ----------------------------------------------------------------------------------


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def local(ms: int) -> datetime:
    """Milliseconds since the epoch, exactly, in the gateway's zone."""
    return (EPOCH + timedelta(milliseconds=ms)).astimezone(zone())


def shown(ms: int | None) -> str | None:
    """A time as the model compares it: local, to the millisecond."""
    return None if ms is None else local(ms).isoformat(timespec="milliseconds")


def reshown(text: str | None) -> str | None:
    """A time the gateway gave, the same way."""
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(zone()).isoformat(timespec="milliseconds")


def end_of_next_year(earned_ms: int) -> int:
    """The end of 12-31 (23:59:59 local) of the year after the local year of `earned_ms`."""
    year = local(earned_ms).year + 1
    end = datetime(year, 12, 31, 23, 59, 59, tzinfo=zone())
    return (end - EPOCH) // timedelta(milliseconds=1)


@dataclass
class PointsRules:
    """The points part of the programme (API.md's defaults when none is set)."""

    expiry: str = "end_of_next_year"
    days: int = 0
    pending_days: int = 0
    transferable: bool = False

    def body(self) -> dict[str, Any]:
        expiry: dict[str, Any] = {"mode": self.expiry}
        if self.expiry == "days":
            expiry["days"] = self.days
        return {
            "points": {
                "expiry": expiry,
                "pending_days": self.pending_days,
                "transferable": self.transferable,
                "multipliers": [],
            }
        }

    def expires(self, earned: int, counts: int) -> int | None:
        if self.expiry == "never":
            return None
        if self.expiry == "days":
            return counts + self.days * DAY
        return end_of_next_year(earned)


_ids = itertools.count(1)
#: What the run explored, by kind of move and state (printed at the end: `pytest -s`).
explored: Counter[str] = Counter()


@dataclass
class Lot:
    points: int
    remaining: int
    earned_at: int
    counts_from: int
    expires_at: int | None
    pending: bool
    source: str
    order_id: str | None = None
    id: int = field(default_factory=lambda: next(_ids))  # creation order, as the bigserial

    def spend_key(self) -> tuple[bool, int, int, int]:
        """Spending order: soonest expiry first (never last), then counts_from, then id."""
        return (self.expires_at is None, self.expires_at or 0, self.counts_from, self.id)

    def view(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "remaining": self.remaining,
            "earned_at": shown(self.earned_at),
            "counts_from": shown(self.counts_from),
            "expires_at": shown(self.expires_at),
            "source": self.source,
        }


@dataclass
class Account:
    """One member's points in the model."""

    member_id: str
    lots: list[Lot] = field(default_factory=list)
    debt: int = 0

    @property
    def counting(self) -> int:
        return sum(lot.remaining for lot in self.lots if not lot.pending)

    @property
    def balance(self) -> int:
        return self.counting - self.debt

    @property
    def pending(self) -> int:
        return sum(lot.remaining for lot in self.lots if lot.pending)

    def catch_up(self, now: int) -> None:
        """Pending lots whose time has come count (paying the debt first, in the order they
        come to count); then lots past their expiry (now > expires_at) leave the balance."""
        due = [lot for lot in self.lots if lot.pending and lot.remaining and lot.counts_from <= now]
        for lot in sorted(due, key=lambda lot: (lot.counts_from, lot.id)):
            pay = min(self.debt, lot.remaining)
            self.debt -= pay
            lot.remaining -= pay
            lot.pending = False
            explored["activation paying debt" if pay else "activation"] += 1
        for lot in self.lots:
            if (
                not lot.pending
                and lot.remaining
                and lot.expires_at is not None
                and lot.expires_at < now
            ):
                lot.remaining = 0
                explored["expiry"] += 1

    def spending_order(self) -> list[Lot]:
        live = [lot for lot in self.lots if not lot.pending and lot.remaining > 0]
        return sorted(live, key=Lot.spend_key)

    def credit(
        self,
        n: int,
        now: int,
        rules: PointsRules,
        source: str,
        pending_days: int,
        order_id: str | None = None,
    ) -> None:
        """A new lot of n points: pending for `pending_days`, else counting at once, paying
        any debt first."""
        if n <= 0:
            return
        counts = now + pending_days * DAY
        lot = Lot(n, n, now, counts, rules.expires(now, counts), pending_days > 0, source, order_id)
        if not lot.pending:
            pay = min(self.debt, n)
            self.debt -= pay
            lot.remaining -= pay
            explored["earning paying debt"] += bool(pay)
        else:
            explored["pending earning"] += 1
        self.lots.append(lot)

    def debit(self, n: int) -> list[tuple[Lot, int]] | None:
        """Takes n counting points FIFO by expiry; None (nothing taken) when the balance is
        short."""
        if n <= 0 or self.balance < n:
            return None
        taken = []
        left = n
        for lot in self.spending_order():
            if left == 0:
                break
            take = min(left, lot.remaining)
            lot.remaining -= take
            left -= take
            taken.append((lot, take))
        assert left == 0, "the model's balance disagrees with its lots"
        return taken

    def reverse(self, order_id: str, n: int) -> None:
        """A refund takes back n points: from the order's own lot (pending first), then from
        the balance (FIFO), the rest as debt."""
        left = n
        own = [
            lot
            for lot in self.lots
            if lot.order_id == order_id and lot.source == "order" and lot.remaining > 0
        ]
        for lot in sorted(own, key=lambda lot: (not lot.pending, lot.id)):
            if left == 0:
                return
            take = min(left, lot.remaining)
            lot.remaining -= take
            left -= take
            explored["refund from its pending lot" if lot.pending else "refund from its lot"] += 1
        if left == 0:
            return
        take = min(left, max(self.balance, 0))
        if take:
            assert self.debit(take) is not None
            left -= take
            explored["refund from the balance"] += 1
        self.debt += left
        explored["refund into debt"] += bool(left)

    def receive(self, given: list[tuple[Lot, int]], now: int) -> None:
        """A friend's transfer: one lot per lot given, each with the expiry of the lot it came
        from; the first of them pay the friend's debt. "First" is the gateway's choice (API.md
        does not say): by that expiry, then by the age of the lot it came from."""
        pay = min(self.debt, sum(take for _, take in given))
        self.debt -= pay
        explored["transfer paying debt"] += bool(pay)
        explored["transfer of several lots"] += len(given) > 1
        ordered = sorted(
            given, key=lambda g: (g[0].expires_at is None, g[0].expires_at or 0, g[0].id)
        )
        for source, take in ordered:
            paid = min(pay, take)
            pay -= paid
            self.lots.append(Lot(take, take - paid, now, now, source.expires_at, False, "transfer"))

    def views(self) -> list[dict[str, Any]]:
        """The lots with points left, as the API lists them."""
        live = [lot for lot in self.lots if lot.remaining > 0]
        return [lot.view() for lot in sorted(live, key=Lot.spend_key)]


@dataclass
class Order:
    member: int
    order_id: str
    #: (sku, unit_price, qty) per cart line.
    lines: list[tuple[str, int, int]]
    refunded: list[int]

    @property
    def line_points(self) -> list[int]:
        return [price * qty * 1 // 100 for _, price, qty in self.lines]

    @property
    def left(self) -> list[int]:
        return [qty - done for (_, _, qty), done in zip(self.lines, self.refunded, strict=True)]

    def points_back(self, after: list[int]) -> int:
        """What going from `refunded` to `after` units takes back: each line's points in
        proportion to its units, cumulatively."""
        return sum(
            p * a // q - p * b // q
            for p, (_, _, q), b, a in zip(
                self.line_points, self.lines, self.refunded, after, strict=True
            )
        )


# -- the machine --------------------------------------------------------------------------------


#: Up to three lines, each at any price in cents (fractions of a yuan: per-line floors).
carts = st.lists(st.tuples(st.integers(1, 40_000), st.integers(1, 4)), min_size=1, max_size=3)
advances = st.one_of(
    st.integers(1, 3 * 24 * 3600),  # seconds to days
    st.integers(1, 45).map(lambda d: d * 86400),  # whole days
    st.integers(30, 200).map(lambda d: d * 86400 + 17),  # months
)
programmes = st.builds(
    lambda expiry, days, pending_days, transferable: PointsRules(
        expiry, days if expiry == "days" else 0, pending_days, transferable
    ),
    st.sampled_from(["end_of_next_year", "days", "never"]),
    st.integers(1, 90),
    st.sampled_from([0, 0, 1, 7, 14]),
    st.booleans(),
)
#: How much a spend or a transfer asks for: a share of the balance, all of it, or more.
hows = st.sampled_from(["part", "part", "all", "more"])
shares = st.integers(1, 100)


def amount(balance: int, how: str, share: int) -> int:
    if how == "part":
        return max(1, balance * share // 100)
    if how == "all":
        return max(1, balance)
    return max(balance, 0) + share


def make_machine(
    client: Client,
    auth: Auth,
    db: asyncpg.Pool,
    loop: asyncio.AbstractEventLoop,
    campaigns: dict[int, str],
) -> type[RuleBasedStateMachine]:
    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

    class PointsLedger(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            clock.reset()
            self.points_rules = PointsRules()
            self.has_programme = False
            self.accounts: list[Account] = []
            self.orders: list[Order] = []

        # -- helpers

        @property
        def now(self) -> int:
            return clock.now_ms()

        def catch_up(self) -> None:
            for account in self.accounts:
                account.catch_up(self.now)

        def set_programme(self, rules: PointsRules | None) -> None:
            """The programme's points rules (None: an empty programme, API.md's defaults;
            the row stays so that its version keeps rising for the workers' caches)."""
            run(db.execute(SET_PROGRAMME, {} if rules is None else rules.body()))

        def account(self, who: int) -> Account:
            return self.accounts[who % len(self.accounts)]

        def holder(self, who: int, how: str) -> Account:
            """The member `who`, or the next one holding points when `who` holds none (a
            spend asking for more than the balance takes `who` as it is)."""
            if how != "more":
                for k in range(len(self.accounts)):
                    account = self.account(who + k)
                    if account.balance > 0:
                        return account
            return self.account(who)

        def post(self, url: str, body: Any, role: str) -> Any:
            return run(client.post(url, json=body, headers=auth[role]))

        def advance_to(self, target: int) -> None:
            offset = target - self.now
            if offset > 0 and clock.offset_ms + offset <= MAX_OFFSET:
                year = local(self.now).year
                clock.advance(offset / 1000)
                assert self.now == target
                explored["new year in Shanghai"] += local(self.now).year != year

        def earn(self, who: int, cart: list[tuple[int, int]]) -> None:
            account = self.account(who)
            order = Order(
                self.accounts.index(account),
                f"o-{next(_ids)}-{account.member_id}",
                [(f"S{i}", price, qty) for i, (price, qty) in enumerate(cart)],
                [0] * len(cart),
            )
            body = {
                "member_id": account.member_id,
                "order_id": order.order_id,
                "channel": "online",
                "lines": [
                    {"sku": sku, "category": "tops", "unit_price": price, "qty": qty}
                    for sku, price, qty in order.lines
                ],
                "coupon_codes": [],
            }
            earned = sum(order.line_points)
            reserved = self.post("/v1/checkout/redemptions", body, "checkout")
            assert reserved.status_code == 201, reserved.text
            assert reserved.json()["points_earned"] == earned
            committed = self.post(
                f"/v1/checkout/redemptions/{order.order_id}/commit", None, "checkout"
            )
            assert committed.status_code == 200, committed.text
            assert committed.json()["points_earned"] == earned
            self.catch_up()
            account.credit(
                earned,
                self.now,
                self.points_rules,
                "order",
                self.points_rules.pending_days,
                order.order_id,
            )
            self.orders.append(order)

        def refund(self, pick: int, units: int | None) -> None:
            """A refund of `units` of one line (None: the whole order, or what is left)."""
            order = self.orders[pick % len(self.orders)]
            left = order.left
            if units is None or not any(left):
                asked: list[dict[str, Any]] = []
                after = [qty for _, _, qty in order.lines]
            else:
                i = [i for i, n in enumerate(left) if n][pick % sum(1 for n in left if n)]
                qty = min(units, left[i])
                asked = [{"sku": order.lines[i][0], "qty": qty}]
                after = list(order.refunded)
                after[i] += qty
            back = order.points_back(after)
            response = self.post(
                f"/v1/checkout/redemptions/{order.order_id}/refund", {"lines": asked}, "checkout"
            )
            assert response.status_code == 200, response.text
            self.catch_up()
            order.refunded = after
            if back:
                self.accounts[order.member].reverse(order.order_id, back)

        # -- setup

        @initialize(count=st.integers(2, 3), rules=st.none() | programmes)
        def start(self, count: int, rules: PointsRules | None) -> None:
            self.set_programme(rules)
            self.has_programme = rules is not None
            self.points_rules = rules or PointsRules()
            for _ in range(count):
                self.accounts.append(Account(run(silver_member(client, auth))))

        # -- moves (earning and refunds twice each: they make the states worth checking)

        @rule(who=st.integers(0, 2), cart=carts)
        def order(self, who: int, cart: list[tuple[int, int]]) -> None:
            self.earn(who, cart)

        @rule(who=st.integers(0, 2), cart=carts)
        def another_order(self, who: int, cart: list[tuple[int, int]]) -> None:
            self.earn(who, cart)

        @precondition(lambda self: self.orders)
        @rule(pick=st.integers(0, 10_000), units=st.integers(1, 4))
        def refund_part(self, pick: int, units: int) -> None:
            self.refund(pick, units)

        @precondition(lambda self: self.orders)
        @rule(pick=st.integers(0, 10_000))
        def refund_whole(self, pick: int) -> None:
            self.refund(pick, None)

        @rule(who=st.integers(0, 2), how=hows, share=shares)
        def spend(self, who: int, how: str, share: int) -> None:
            self.catch_up()
            account = self.holder(who, how)
            points = amount(account.balance, how, share)
            response = self.post(
                f"/v1/members/{account.member_id}/points/adjustments",
                {"points": -points, "reason": "model spend"},
                "admin",
            )
            if account.debit(points) is None:
                assert response.status_code == 409, response.text
                assert response.json()["code"] == "insufficient_points"
                explored["spend refused"] += 1
            else:
                assert response.status_code == 201, response.text
                assert response.json()["balance_after"] == account.balance
                explored["spend"] += 1

        @precondition(lambda self: self.orders)
        @rule(pick=st.integers(0, 10_000))
        def owe(self, pick: int) -> None:
            """Spends all the member's points, then refunds a whole order whose points are
            gone: the member owes what the refund could not take back."""
            order = self.orders[pick % len(self.orders)]
            account = self.accounts[order.member]
            self.catch_up()
            if account.balance > 0:
                response = self.post(
                    f"/v1/members/{account.member_id}/points/adjustments",
                    {"points": -account.balance, "reason": "model spend"},
                    "admin",
                )
                assert response.status_code == 201, response.text
                assert account.debit(account.balance) is not None
            self.refund(pick, None)

        @rule(who=st.integers(0, 2), points=st.integers(1, 600))
        def grant(self, who: int, points: int) -> None:
            account = self.account(who)
            response = self.post(
                f"/v1/members/{account.member_id}/points/adjustments",
                {"points": points, "reason": "model grant"},
                "admin",
            )
            assert response.status_code == 201, response.text
            self.catch_up()
            account.credit(points, self.now, self.points_rules, "adjust", 0)
            assert response.json()["balance_after"] == account.balance

        @rule(who=st.integers(0, 2), price=st.sampled_from(PRICES))
        def exchange(self, who: int, price: int) -> None:
            account = self.account(who)
            response = self.post(
                f"/v1/campaigns/{campaigns[price]}/exchanges",
                {"member_id": account.member_id, "channel": "online"},
                "front",
            )
            self.catch_up()
            if account.debit(price) is None:
                assert response.status_code == 409, response.text
                assert response.json()["code"] == "insufficient_points"
                explored["exchange refused"] += 1
            else:
                assert response.status_code == 201, response.text
                assert response.json()["points_spent"] == price
                explored["exchange"] += 1

        @rule(
            giver=st.integers(0, 2),
            step=st.integers(1, 2),
            how=hows,
            share=shares,
            allow=st.booleans(),
        )
        def transfer(self, giver: int, step: int, how: str, share: int, allow: bool) -> None:
            """积分赠送; `allow`: transferable for this transfer (then as before) when the
            programme is not."""
            self.catch_up()
            source = self.holder(giver, how)
            friend = self.accounts[(self.accounts.index(source) + step) % len(self.accounts)]
            if friend is source:
                return
            points = amount(source.balance, how, share)
            lifted = allow and not self.points_rules.transferable
            if lifted:
                self.set_programme(replace(self.points_rules, transferable=True))
            try:
                response = self.post(
                    f"/v1/members/{source.member_id}/points/transfers",
                    {"to_member_id": friend.member_id, "points": points},
                    "front",
                )
            finally:
                if lifted:
                    self.set_programme(self.points_rules if self.has_programme else None)
            if not (self.points_rules.transferable or lifted):
                assert response.status_code == 409, response.text
                assert response.json()["code"] == "not_allowed"
                explored["transfer not allowed"] += 1
                return
            given = source.debit(points)
            if given is None:
                assert response.status_code == 409, response.text
                assert response.json()["code"] == "insufficient_points"
                explored["transfer refused"] += 1
                return
            assert response.status_code == 201, response.text
            explored["transfer"] += 1
            friend.receive(given, self.now)
            body = response.json()
            assert body["from"]["balance_after"] == source.balance
            assert body["to"]["balance_after"] == friend.balance

        # -- the programme

        @rule(rules=programmes)
        def programme(self, rules: PointsRules) -> None:
            self.points_rules = rules
            self.has_programme = True
            self.set_programme(rules)

        @precondition(lambda self: self.has_programme)
        @rule()
        def no_programme(self) -> None:
            self.points_rules = PointsRules()
            self.has_programme = False
            self.set_programme(None)

        # -- time

        @rule(seconds=advances)
        def advance(self, seconds: int) -> None:
            self.advance_to(self.now + seconds * SECOND)

        @rule(
            who=st.integers(0, 2),
            pick=st.integers(0, 100),
            edge=st.sampled_from(["expires_at", "counts_from"]),
            delta=st.sampled_from([-SECOND, 0, SECOND]),
        )
        def to_a_lot_edge(self, who: int, pick: int, edge: str, delta: int) -> None:
            """Onto the second a lot expires or counts, or one second either side."""
            lots = [lot for lot in self.account(who).lots if lot.remaining > 0]
            times = [t for t in (getattr(lot, edge) for lot in lots) if t is not None]
            if times:
                self.advance_to(times[pick % len(times)] + delta)

        @rule(delta=st.sampled_from([-HOUR, -SECOND, 0, SECOND, HOUR]))
        def to_new_year(self, delta: int) -> None:
            """Around the next local midnight of 1 January (Asia/Shanghai, UTC+8)."""
            year = local(self.now).year + 1
            target = datetime(year, 1, 1, tzinfo=zone()) + timedelta(milliseconds=delta)
            self.advance_to((target - EPOCH) // timedelta(milliseconds=1))

        # -- the scheduled sweep

        def sweep(self) -> None:
            """The sweep (a batch of members in one statement, `gw_points_sweep`) brings the
            members up to now before any read does: nothing of theirs is left due after it, so
            the check that follows compares the model with what the sweep wrote."""
            members = [account.member_id for account in self.accounts]
            explored["sweep with lots due"] += bool(run(db.fetchval(DUE, members, when(self.now))))
            run(sweep_points(db, self.now, batch=2))
            assert run(db.fetchval(DUE, members, when(self.now))) == 0

        @rule(seconds=advances)
        def advance_and_sweep(self, seconds: int) -> None:
            self.advance_to(self.now + seconds * SECOND)
            self.sweep()

        @rule(
            who=st.integers(0, 2),
            pick=st.integers(0, 100),
            edge=st.sampled_from(["expires_at", "counts_from"]),
            delta=st.sampled_from([-SECOND, 0, SECOND]),
        )
        def sweep_at_a_lot_edge(self, who: int, pick: int, edge: str, delta: int) -> None:
            self.to_a_lot_edge(who, pick, edge, delta)
            self.sweep()

        # -- the check

        @invariant()
        def agrees(self) -> None:
            """The gateway's points of every member are the model's; each ledger adds up."""
            self.catch_up()
            explored["check"] += 1
            explored["check at a lot's expiry instant"] += any(
                lot.expires_at == self.now for a in self.accounts for lot in a.lots
            )
            explored["check with debt"] += any(a.debt for a in self.accounts)
            explored["check with pending points"] += any(a.pending for a in self.accounts)
            for account in self.accounts:
                assert min((lot.remaining for lot in account.lots), default=0) >= 0, account
                if account.debt:
                    assert account.counting == 0, account
                got = run(points_of(client, auth, account.member_id))
                found = {
                    "balance": got["balance"],
                    "pending": got["pending"],
                    "debt": got["debt"],
                    "lots": [
                        {
                            **lot,
                            "earned_at": reshown(lot["earned_at"]),
                            "counts_from": reshown(lot["counts_from"]),
                            "expires_at": reshown(lot["expires_at"]),
                        }
                        for lot in got["lots"]
                    ],
                }
                expected = {
                    "balance": account.balance,
                    "pending": account.pending,
                    "debt": account.debt,
                    "lots": account.views(),
                }
                assert found == expected, (
                    f"{account.member_id} at {shown(self.now)}:\n"
                    f"gateway {found}\nmodel   {expected}"
                )
            run(assert_ledger(db, [account.member_id for account in self.accounts]))

        def teardown(self) -> None:
            clock.reset()
            self.set_programme(None)

    return PointsLedger


@pytest.fixture
def still_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The clock held at a whole second: it moves only by `clock.advance`."""
    start = clock.now_ms() // SECOND * SECOND - clock.offset_ms
    monkeypatch.setattr(Clock, "now_ms", lambda self: start + self.offset_ms)
    yield


async def test_the_points_ledger_follows_the_model(
    client: Client, auth: Auth, db: asyncpg.Pool, still_clock: None
) -> None:
    far = datetime.now(UTC) + timedelta(days=8 * 365)
    campaigns = {
        price: (
            await live_campaign(
                client,
                auth["admin"],
                points_price=price,
                stock=1_000_000,
                per_member_limit=1000,
                claim_ends_at=far.isoformat(),
            )
        )["id"]
        for price in PRICES
    }
    machine = make_machine(client, auth, db, asyncio.get_running_loop(), campaigns)
    explored.clear()
    try:
        with unthrottled(client):
            await asyncio.to_thread(run_state_machine_as_test, machine, settings=MACHINE_SETTINGS)
        print("explored:", dict(sorted(explored.items())))
    finally:
        clock.reset()
        await db.execute(SET_PROGRAMME, {})


# -- what the machine found ---------------------------------------------------------------------

#: 4 x 0.01 yuan (0 points by API.md's per-line rule) and 4 x 3.24 yuan (12 points): 13.00 yuan.
FRACTIONS = [
    {"sku": "A", "category": "tops", "unit_price": 1, "qty": 4},
    {"sku": "B", "category": "tops", "unit_price": 324, "qty": 4},
]


async def test_an_order_earns_the_floor_of_each_line(client: Client, auth: Auth) -> None:
    """API.md "Points": per line, floor(paid_cents_of_line * points_per_yuan * multiplier / 100),
    so FRACTIONS earn 0 + 12 = 12; the gateway says 13, the floor of the order's total (the
    engine's `points_per_yuan * (total / 100)`, native/src/pricing/engine.rs)."""
    member = await silver_member(client, auth)
    cart = {"member_id": member, "channel": "online", "lines": FRACTIONS, "coupon_codes": []}
    quote = await client.post("/v1/checkout/quote", json=cart, headers=auth["checkout"])
    assert quote.status_code == 200, quote.text
    assert quote.json()["points_earned"] == 0 + 12


async def test_a_whole_refund_takes_back_all_its_order_earned(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """Whatever the rounding, refunding every line takes back what the order earned. Today the
    commit earns 13 (the total's floor) and the refund takes back 12 (each line's,
    gateway/checkout/earning.py), so the member keeps a point for nothing."""
    member = await silver_member(client, auth)
    placed = await order(client, auth, member, FRACTIONS)
    refund = await client.post(
        f"/v1/checkout/redemptions/{placed['order_id']}/refund",
        json={"lines": []},
        headers=auth["checkout"],
    )
    assert refund.status_code == 200, refund.text
    points = await points_of(client, auth, member)
    assert (points["balance"], points["debt"], points["lots"]) == (0, 0, [])
    await assert_ledger(db, [member])
