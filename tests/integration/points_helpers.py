"""Helpers of the points tests: a programme set for one test, members with points, orders,
and the check that recomputes every member's ledger from its entries and its lots."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import asyncpg
from litestar.testing import AsyncTestClient

from tests.conftest import unique

T = TypeVar("T")
Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

#: silver earns 1 point per yuan, no member discount (a points test counts yuan simply).
SILVER = {
    "percent_off": 0,
    "birthday_percent_off": 0,
    "points_per_yuan": 1,
    "coupons_on_member_price": True,
}


def programme_body(**points: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "points": {
            "expiry": {"mode": "end_of_next_year"},
            "pending_days": 0,
            "transferable": False,
            "multipliers": [],
        }
    }
    body["points"].update(points)
    return body


SET_PROGRAMME = """
INSERT INTO programme (id, body, version) VALUES (true, $1, 1)
ON CONFLICT (id) DO UPDATE SET body = $1, version = programme.version + 1
"""


@asynccontextmanager
async def programme(db: asyncpg.Pool, body: dict[str, Any]) -> AsyncIterator[None]:
    """The programme `body` for the block, then the defaults again (an empty programme: the
    row stays, so that its version keeps rising and every worker's cache sees each change)."""
    await db.execute(SET_PROGRAMME, body)
    try:
        yield
    finally:
        await db.execute(SET_PROGRAMME, {})


async def silver_member(client: Client, auth: Auth, **fields: Any) -> str:
    put = await client.put("/v1/tiers/silver", json=SILVER, headers=auth["admin"])
    assert put.status_code == 200, put.text
    member_id = unique()
    response = await client.put(
        f"/v1/members/{member_id}", json={"tier": "silver", **fields}, headers=auth["admin"]
    )
    assert response.status_code == 200, response.text
    return member_id


async def order(
    client: Client,
    auth: Auth,
    member_id: str,
    lines: list[dict[str, Any]],
    codes: Iterable[str] = (),
    *,
    commit: bool = True,
) -> dict[str, Any]:
    """Reserves (and commits) an order; its redemption."""
    order_id = unique("o")
    body = {
        "member_id": member_id,
        "order_id": order_id,
        "channel": "online",
        "lines": lines,
        "coupon_codes": list(codes),
    }
    reserved = await client.post("/v1/checkout/redemptions", json=body, headers=auth["checkout"])
    assert reserved.status_code == 201, reserved.text
    if not commit:
        return dict(reserved.json())
    committed = await client.post(
        f"/v1/checkout/redemptions/{order_id}/commit", headers=auth["checkout"]
    )
    assert committed.status_code == 200, committed.text
    return dict(committed.json())


def line(yuan: int, qty: int = 1, sku: str = "A", category: str = "tops") -> dict[str, Any]:
    return {"sku": sku, "category": category, "unit_price": yuan * 100, "qty": qty}


async def points_of(client: Client, auth: Auth, member_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/members/{member_id}/points", headers=auth["admin"])
    assert response.status_code == 200, response.text
    return dict(response.json())


async def assert_ledger(db: asyncpg.Pool, member_ids: Iterable[str]) -> None:
    """Every member's balance and pending points equal the sums of its entries, and of its
    lots (less its debt); no lot holds more than it earned or less than nothing; every
    entry's balance_after is the running sum; a member with debt holds no counting points."""
    for member_id in member_ids:
        member = await db.fetchrow(
            "SELECT points_balance, points_pending, points_debt FROM members WHERE member_id = $1",
            member_id,
        )
        entries = await db.fetch(
            "SELECT points, pending, balance_after, pending_after FROM point_entries "
            "WHERE member_id = $1 ORDER BY id",
            member_id,
        )
        balance = pending = 0
        for entry in entries:
            balance += entry["points"]
            pending += entry["pending"]
            assert entry["balance_after"] == balance, (member_id, dict(entry))
            assert entry["pending_after"] == pending, (member_id, dict(entry))
        assert member["points_balance"] == balance, member_id
        assert member["points_pending"] == pending, member_id
        lots = await db.fetchrow(
            "SELECT coalesce(sum(remaining) FILTER (WHERE NOT pending), 0) AS counting, "
            "coalesce(sum(remaining) FILTER (WHERE pending), 0) AS pending, "
            "count(*) FILTER (WHERE remaining < 0 OR remaining > points) AS bad "
            "FROM point_lots WHERE member_id = $1",
            member_id,
        )
        assert lots["bad"] == 0
        assert lots["counting"] - member["points_debt"] == balance, member_id
        assert lots["pending"] == pending, member_id
        if member["points_debt"]:
            assert lots["counting"] == 0, member_id


def as_json(value: Any) -> str:
    return json.dumps(value)


async def on_app(client: Client, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """`await fn(*args)` on the app's event loop (the app's pools belong to it)."""
    return await asyncio.to_thread(client.blocking_portal.call, fn, *args)


@contextmanager
def unthrottled(client: Client) -> Iterator[None]:
    """No per-member claim limit for the block (a race of one member's requests)."""
    limits = client.app.state.claim_limits
    saved, limits.per_member = limits.per_member, None
    try:
        yield
    finally:
        limits.per_member = saved
