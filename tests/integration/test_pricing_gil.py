"""A slow quote does not hold back a claim: the pricing engine runs with the GIL released, so
a claim served by the app completes while a long pricing call is still running on another
thread; and a big cart is priced on a pricing thread, so a claim sent to the same worker while
a worst-case quote is priced is answered first (ordering only, no timings)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from granian.constants import Interfaces
from granian.server.embed import Server
from litestar.testing import AsyncTestClient

from gateway import _native
from gateway.app import create_app
from gateway.checkout import services
from gateway.checkout.services import off_loop
from tests.conftest import campaign_body, live_campaign, unique
from tests.native.pricing_data import native_price
from tests.native.pricing_families import mixed_percent
from tests.stack import free_port

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

#: mixed_percent(4) searched exactly, without the work budget: about 2.6e8 line operations
#: (docs/PRICING.md, "Worst cases"), a call far longer than a claim's round trip.
SLOW_CART = mixed_percent(4)
NO_BUDGET = 2_000_000_000


async def claim(client: Client, auth: Auth, campaign_id: str) -> int:
    response = await client.post(
        f"/v1/campaigns/{campaign_id}/claims",
        json={"member_id": unique(), "channel": "online"},
        headers=auth["front"],
    )
    return response.status_code


async def test_a_claim_completes_while_a_slow_quote_is_being_priced(
    client: Client, auth: Auth
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=10)
    assert await claim(client, auth, campaign["id"]) == 201  # warm: the campaign is loaded

    started, priced = threading.Event(), threading.Event()
    quotes: list[Any] = []

    def slow_quote() -> None:
        started.set()
        quotes.append(_native.price_quote(SLOW_CART, work_budget=NO_BUDGET))
        priced.set()

    pricing = threading.Thread(target=slow_quote)
    pricing.start()
    await asyncio.to_thread(started.wait)
    status = await claim(client, auth, campaign["id"])
    # Had the engine held the GIL, the app could not have answered before it returned.
    claimed_while_pricing = not priced.is_set()
    await asyncio.to_thread(pricing.join)
    assert status == 201
    assert claimed_while_pricing
    assert quotes[0].search == "exact"
    assert quotes[0].work > 10 * 6_000_000  # a long call: ten work budgets


def test_the_engine_entry_points_answer_from_threads() -> None:
    # price_quote releases the GIL around the engine; several threads pricing at once still get
    # the answers one thread gets.
    req = mixed_percent(7)
    expected = native_price(req)
    results: list[Any] = []

    def work() -> None:
        results.append(native_price(req))
        results.append(_native.price_quote(req).to_dict())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 8


class ServedWorker:
    """The app served by granian (embedded) on a thread of its own: one event loop serving HTTP,
    as one gateway worker does. (The in-process AsyncTestClient runs one request at a time, so it
    cannot show two requests at once.)"""

    def __init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{free_port()}"
        self.server = Server(
            create_app(),
            address="127.0.0.1",
            port=int(self.base_url.rsplit(":", 1)[1]),
            interface=Interfaces.ASGI,
            log_enabled=False,
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    async def __aenter__(self) -> httpx.AsyncClient:
        self.thread.start()
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30)
        for _ in range(600):  # until its lifespan has opened Redis and Postgres
            try:
                if (await self.http.get("/readyz")).status_code == 200:
                    return self.http
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError("the embedded server did not become ready")

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.server.stop)
        await asyncio.to_thread(self.thread.join, 30)


async def worst_case_cart(http: httpx.AsyncClient, auth: Auth) -> dict[str, Any]:
    """mixed_percent(4) as real coupons: 200 lines and 20 stackable percent codes of 20 live
    campaigns, held by one member (the engine stops it at its work budget)."""
    request = mixed_percent(4)
    member_id = unique()
    codes = []
    for pile in request["coupons"]:
        body = campaign_body(
            kind="percent",
            amount_off=None,
            min_spend=None,
            percent_off=pile["percent_off"],
            # A cap of 0 cannot be created (nor would that coupon be searched): 1 cent instead.
            max_discount=None if pile["max_discount"] is None else max(1, pile["max_discount"]),
            scope={"skus": pile["scope_skus"]},
            stackable=True,
            stock=10,
        )
        created = await http.post("/v1/campaigns", json=body, headers=auth["admin"])
        assert created.status_code == 201, created.text
        path = f"/v1/campaigns/{created.json()['id']}"
        assert (await http.post(f"{path}/publish", headers=auth["admin"])).status_code == 200
        claimed = await http.post(
            f"{path}/claims",
            json={"member_id": member_id, "channel": "online"},
            headers=auth["front"],
        )
        assert claimed.status_code == 201, claimed.text
        codes.append(claimed.json()["code"])
    return {
        "member_id": member_id,
        "channel": "online",
        "lines": request["lines"],
        "coupon_codes": codes,
    }


def test_only_big_carts_are_priced_off_the_event_loop() -> None:
    assert off_loop(SLOW_CART)  # 200 lines, 20 stackable codes
    assert off_loop(mixed_percent(1, lines=2, codes=14))  # few lines, a long search
    assert off_loop(mixed_percent(1, lines=100, codes=10))  # lines x codes: 1000
    assert not off_loop(mixed_percent(1, lines=5, codes=3))  # the common cart
    assert not off_loop(mixed_percent(1, lines=200, codes=4))
    assert not off_loop(mixed_percent(1, lines=20, codes=13))
    unfound = mixed_percent(1, lines=200, codes=20)
    unfound["coupons"] = [{"code": c["code"], "found": False} for c in unfound["coupons"]]
    assert not off_loop(unfound)  # codes that are not found are not searched


async def test_a_claim_is_answered_while_a_worst_case_quote_is_priced_on_the_same_worker(
    auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before pricing went to a thread, the worker's event loop was inside the engine for the
    # whole quote: a claim sent meanwhile was read only afterwards, so it was answered after
    # the quote, every time. The worst case is priced here without the work budget (the
    # engine's own entry point for that, GIL released the same way): ~0.8 s instead of 15-30 ms,
    # so that the order of the answers does not depend on how loaded the machine is.
    pricing = threading.Event()

    def signalled_price_quote(request: dict[str, Any]) -> Any:
        if len(request["coupons"]) < 20:  # not the worst-case cart
            return _native.price_quote(request)
        pricing.set()
        return _native.price_quote(request, work_budget=NO_BUDGET)

    monkeypatch.setattr(services, "price_quote", signalled_price_quote)
    async with ServedWorker() as http:
        cart = await worst_case_cart(http, auth)
        campaign = await http.post("/v1/campaigns", json=campaign_body(), headers=auth["admin"])
        claims_path = f"/v1/campaigns/{campaign.json()['id']}/claims"
        assert (await http.post(f"{claims_path[:-7]}/publish", headers=auth["admin"])).is_success

        async def claim() -> httpx.Response:
            body = {"member_id": unique(), "channel": "online"}
            return await http.post(claims_path, json=body, headers=auth["front"])

        assert (await claim()).status_code == 201  # warm: the campaign's hot state is loaded
        answered: list[str] = []

        async def quote() -> httpx.Response:
            response = await http.post("/v1/checkout/quote", json=cart, headers=auth["checkout"])
            answered.append("quote")
            return response

        for _ in range(3):
            pricing.clear()
            answered.clear()
            quoting = asyncio.create_task(quote())
            assert await asyncio.to_thread(pricing.wait, 30)  # the engine has the cart
            claimed = await claim()
            answered.append("claim")
            quoted = await quoting
            assert claimed.status_code == 201, claimed.text
            assert quoted.status_code == 200, quoted.text
            assert quoted.json()["search"] == "exact"  # searched to the end, without budget
            assert answered == ["claim", "quote"]
