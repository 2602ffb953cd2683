"""Shopper: a member's visit to the online mall.

Each visit reads the wallet, claims a coupon of the shop campaign when the wallet holds none,
prices a cart (quote), and most of the time reserves it for an order, "pays" for a moment, then
commits (payment settled) or cancels (payment failed or abandoned). An order that is reserved
when the user is stopped is cancelled in `on_stop`, like a checkout cleaning up.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import gevent
from locust import between, task
from scenarios import names, tally
from scenarios.base import GatewayUser, error_code, new_id, unknown_if_killed
from scenarios.flash import RETRY_PAUSES_S

#: (sku, category, unit price in cents) the carts are drawn from.
CATALOGUE = (
    ("TEE-01", "tops", 7900),
    ("TEE-02", "tops", 12900),
    ("JEANS-01", "bottoms", 29900),
    ("SNEAKER-01", "shoes", 49900),
    ("SOCKS-01", "socks", 1990),
    ("CREAM-01", "beauty", 15800),
)
BROWSE_ONLY = 0.25  # visits that stop after the quote
COMMIT = 0.85  # reserved orders that are paid; the rest are cancelled


class CheckoutUser(GatewayUser):
    """A user who reserves and settles orders: the checkout calls and their retries, shared by
    the Shopper and the RewardShopper (each names its requests with its own RESERVE, COMMIT
    and CANCEL). Keeps `self.pending`, the order it holds, and needs `self.checkout`."""

    abstract = True
    RESERVE = names.SHOP_RESERVE
    COMMIT = names.SHOP_COMMIT
    CANCEL = names.SHOP_CANCEL
    checkout: dict[str, str]
    pending: str | None

    def _post(self, name: str, path: str, body: dict[str, Any], expect: int) -> Any:
        with self.client.post(
            path, json=body, headers=self.checkout, name=name, catch_response=True
        ) as response:
            if response.status_code != expect:
                response.failure(f"{response.status_code} {error_code(response)}".strip())
                if response.status_code != 0 and name == self.RESERVE:
                    self.pending = None  # refused: nothing is held
                return None
            return response.json()

    def _settle(self, order_id: str, move: str) -> None:
        """Commit or cancel; both are idempotent, so an unknown outcome is simply asked again."""
        name = self.COMMIT if move == "commit" else self.CANCEL
        for pause in (*RETRY_PAUSES_S, None):
            with (
                unknown_if_killed(names.UNKNOWN + move),
                self.client.post(
                    f"/v1/checkout/redemptions/{order_id}/{move}",
                    headers=self.checkout,
                    name=name,
                    catch_response=True,
                ) as response,
            ):
                status = response.status_code
                if status == 200:
                    self.pending = None
                    state = response.json()["state"]
                    committed = state == "committed"
                    tally.add(names.COMMITTED_ORDERS if committed else names.CANCELLED_ORDERS)
                    return
                if status == 404 and move == "cancel":
                    response.success()  # the reserve never reached the gateway: nothing held
                    self.pending = None
                    return
                response.failure(f"{status} {error_code(response)}".strip())
                if status not in (0, 503) or pause is None:
                    return  # left reserved: the end-of-run check cancels it and says so
            gevent.sleep(pause)


class Shopper(CheckoutUser):
    role = "front"
    weight = 4
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        super().on_start()
        self.checkout = self.fixture.headers("checkout")
        self.campaign = self.fixture.campaigns["shop"]
        self.pending: str | None = None
        self.register()

    def on_stop(self) -> None:
        if self.pending is not None:
            self._settle(self.pending, "cancel")

    def register(self) -> None:
        self.member = new_id(self.fixture, "s")
        # A new member starts at `standard`: only an admin key may set a tier (API v1.1), and
        # the mall's server registers with its front key.
        body = {"birthday": None}
        with self.client.put(
            f"/v1/members/{self.member}",
            json=body,
            headers=self.headers,
            name=names.SHOP_REGISTER,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {error_code(response)}")

    @task
    def visit(self) -> None:
        if self.stopping:
            return
        codes = self._wallet()
        if codes is None:
            return
        if not codes:
            code = self._claim()
            codes = [code] if code else []
        cart: dict[str, Any] = {
            "member_id": self.member,
            "channel": "online",
            "lines": [
                {"sku": sku, "category": category, "unit_price": price, "qty": random.randint(1, 2)}
                for sku, category, price in random.sample(CATALOGUE, random.randint(1, 3))
            ],
            "coupon_codes": codes[:1],
        }
        quote = self._post(names.SHOP_QUOTE, "/v1/checkout/quote", cart, 200)
        if quote is None or random.random() < BROWSE_ONLY:
            return
        # Codes the quote turned down (a cart below the threshold) are left out of the order.
        cart["coupon_codes"] = [applied["code"] for applied in quote["applied"]]
        order_id = new_id(self.fixture, "o")
        self.pending = order_id  # before the call: a timed-out reserve may still have happened
        if (
            self._post(
                names.SHOP_RESERVE, "/v1/checkout/redemptions", {**cart, "order_id": order_id}, 201
            )
            is None
        ):
            return
        gevent.sleep(random.uniform(0.1, 1.0))  # the member pays
        self._settle(order_id, "commit" if random.random() < COMMIT else "cancel")

    def _wallet(self) -> list[str] | None:
        with self.client.get(
            f"/v1/members/{self.member}/coupons?state=active",
            headers=self.headers,
            name=names.SHOP_WALLET,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {error_code(response)}")
                return None
            coupons = response.json()["coupons"]
        return [c["code"] for c in coupons if c["campaign_id"] == self.campaign.id]

    def _claim(self) -> str | None:
        """Claims with an Idempotency-Key, asked again while the answer is unknown."""
        body = {"member_id": self.member, "channel": "online"}
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        code = ""
        with unknown_if_killed(names.UNKNOWN + "shop"):
            for pause in (*RETRY_PAUSES_S, None):
                with self.client.post(
                    f"/v1/campaigns/{self.campaign.id}/claims",
                    json=body,
                    headers=headers,
                    name=names.SHOP_CLAIM,
                    catch_response=True,
                ) as response:
                    status, code = response.status_code, error_code(response)
                    if status == 201:
                        return str(response.json()["code"])
                    if status == 409 and code in ("sold_out", "limit_reached"):
                        response.success()
                        break
                    response.failure(f"{status} {code}".strip())
                    if status not in (0, 503):
                        break
                if pause is None:
                    tally.add(names.UNKNOWN + "shop")
                    break
                gevent.sleep(pause)
        if code == "limit_reached":  # this member has redeemed all they may: a new one
            self.register()
        return None
