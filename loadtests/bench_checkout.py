"""Checkout benchmark: quotes, and reserve + commit of a 5-line cart with 2 coupons.

Drives a running gateway over HTTP. The bench harness may import it (`prepare`, `quote_call`,
`reserve_commit_calls`, `drive`) and use its own load generator, or run it alone:

    python loadtests/bench_checkout.py --base-url http://127.0.0.1:8000 \
        --admin-key gw_... --checkout-key gw_... --scenario quote --duration 10

which prints one JSON line: scenario, operations, seconds, ops_per_s, p50_ms, p99_ms (an
operation is one quote, or one reserve followed by its commit).

Set-up (not measured): two live stackable campaigns (10% off, and 20.00 off), `--orders`
members each granted one coupon of both, so every reserve + commit uses fresh coupons.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

# (category, unit price, qty) of the 5 lines.
_SHAPE = [("tops", 19900, 1), ("bras", 25900, 2), ("shoes", 49900, 1), ("socks", 3900, 3),
          ("tops", 12900, 1)]  # fmt: skip
LINES = [
    {"sku": f"SKU-{i}", "category": cat, "unit_price": price, "qty": qty}
    for i, (cat, price, qty) in enumerate(_SHAPE)
]


class OutOfCarts(Exception):
    """Every prepared member has used their coupons: raise --orders."""


@dataclass
class Fixture:
    """What the scenarios need: members with two unused coupons each."""

    base_url: str
    checkout_headers: dict[str, str]
    wallets: list[tuple[str, list[str]]] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


class Connection:
    """A bare HTTP/1.1 keep-alive connection: the load generator must cost far less than the
    gateway (httpx spends about a millisecond of client CPU per request, more than a quote)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, base_url: str) -> Connection:
        url = httpx.URL(base_url)
        reader, writer = await asyncio.open_connection(url.host, url.port or 80)
        return cls(reader, writer, f"{url.host}:{url.port or 80}")

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def _campaign(name: str, **kind: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "name": name,
        "channels": ["online", "store"],
        "claim_starts_at": (now - timedelta(minutes=5)).isoformat(),
        "claim_ends_at": (now + timedelta(days=1)).isoformat(),
        "validity": {"mode": "relative", "days": 7},
        "stock": 10_000_000,
        "per_member_limit": 1,
        "transferable": True,
        "stackable": True,
        "low_stock_threshold": 0,
        **kind,
    }


async def prepare(base_url: str, admin_key: str, checkout_key: str, orders: int) -> Fixture:
    """Creates the campaigns and grants each of `orders` members a coupon of both."""
    admin = {"Authorization": f"Bearer {admin_key}"}
    fixture = Fixture(base_url, {"Authorization": f"Bearer {checkout_key}"})
    members = [f"bench-{fixture.run_id}-{i}" for i in range(orders)]
    codes: dict[str, list[str]] = {m: [] for m in members}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for body in (
            _campaign("bench 10% off", kind="percent", percent_off=1000),
            _campaign("bench 20 off", kind="amount", amount_off=2000),
        ):
            created = await client.post("/v1/campaigns", json=body, headers=admin)
            created.raise_for_status()
            campaign_id = created.json()["id"]
            published = await client.post(f"/v1/campaigns/{campaign_id}/publish", headers=admin)
            published.raise_for_status()
            for start in range(0, orders, 1000):
                granted = await client.post(
                    f"/v1/campaigns/{campaign_id}/grants",
                    json={"member_ids": members[start : start + 1000], "channel": "online"},
                    headers=admin,
                )
                granted.raise_for_status()
                for coupon in granted.json()["granted"]:
                    codes[coupon["member_id"]].append(coupon["code"])
    fixture.wallets = [(m, c) for m, c in codes.items() if len(c) == 2]
    return fixture


def _cart(member: str, codes: list[str]) -> dict[str, Any]:
    return {"member_id": member, "channel": "online", "lines": LINES, "coupon_codes": codes}


def quote_call(fixture: Fixture) -> Callable[[Connection], Awaitable[None]]:
    """One quote of the first member's cart (quotes change nothing, so it can repeat)."""
    member, codes = fixture.wallets[0]
    body = json.dumps(_cart(member, codes)).encode()
    headers = {**fixture.checkout_headers, "Content-Type": "application/json"}

    async def call(conn: Connection) -> None:
        status, answer = await conn.request("POST", "/v1/checkout/quote", headers, body)
        if status != 200:
            raise RuntimeError(f"quote: {status} {answer!r}")

    return call


def reserve_commit_calls(fixture: Fixture) -> Callable[[Connection], Awaitable[None]]:
    """Each call reserves a fresh member's two coupons for a new order, then commits it."""
    wallets = iter(fixture.wallets)
    sequence = itertools.count()
    headers = {**fixture.checkout_headers, "Content-Type": "application/json"}

    async def call(conn: Connection) -> None:
        wallet = next(wallets, None)
        if wallet is None:
            raise OutOfCarts
        member, codes = wallet
        order = f"bench-{fixture.run_id}-{next(sequence)}"
        body = json.dumps({**_cart(member, codes), "order_id": order}).encode()
        status, answer = await conn.request("POST", "/v1/checkout/redemptions", headers, body)
        if status != 201:
            raise RuntimeError(f"reserve: {status} {answer!r}")
        commit = f"/v1/checkout/redemptions/{order}/commit"
        status, answer = await conn.request("POST", commit, fixture.checkout_headers)
        if status != 200:
            raise RuntimeError(f"commit: {status} {answer!r}")

    return call


async def drive(
    base_url: str,
    call: Callable[[Connection], Awaitable[None]],
    duration_s: float,
    concurrency: int,
) -> dict[str, Any]:
    """Runs `call` on `concurrency` connections for `duration_s`; throughput and latency."""
    latencies: list[float] = []
    connections = [await Connection.open(base_url) for _ in range(concurrency)]
    deadline = time.perf_counter() + duration_s

    async def loop(conn: Connection) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call(conn)
            except OutOfCarts:
                return
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(loop(conn) for conn in connections))
    finally:
        for conn in connections:
            conn.close()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return {
        "operations": len(latencies),
        "seconds": round(elapsed, 3),
        "ops_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--admin-key", required=True)
    parser.add_argument("--checkout-key", required=True)
    parser.add_argument("--scenario", choices=("quote", "reserve_commit"), default="quote")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--orders", type=int, default=20_000, help="fresh carts for reserve_commit")
    args = parser.parse_args()
    orders = args.orders if args.scenario == "reserve_commit" else 1
    fixture = await prepare(args.base_url, args.admin_key, args.checkout_key, orders)
    call = quote_call(fixture) if args.scenario == "quote" else reserve_commit_calls(fixture)
    result = await drive(args.base_url, call, args.duration, args.concurrency)
    print(json.dumps({"scenario": args.scenario, **result}))


if __name__ == "__main__":
    asyncio.run(main())
