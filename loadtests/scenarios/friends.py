"""RewardShopper: friends a member brings to the mall, ordering while the programme's rewards run.

Each user is a host (a registered member) who brings friends one after another. A friend
registers invited by the host (`referred_by`, most of the time) or not, and is often given a
coupon by the host: the host claims one of the transferable `gift` campaign and transfers it
(`POST /v1/coupons/{code}/transfer`). The friend then places one to three orders: wallet →
quote a cart with every active coupon it holds (the gift, and the reward coupons as the rewards
worker gives them: welcome, first order, referral, ...) → reserve → pays → commit or cancel.

A friend's first committed order makes rewards due (first order; referral, both sides;
transfer: the giver's points, and a coupon to both; the spend step when the order pays enough),
and every registration a welcome reward: the end-of-run check (`consistency.py`) finds each of
them given or refused with its reason, none twice. Claims are retried with their
Idempotency-Key and commits and cancels (idempotent) while their outcome is unknown, as the
Shopper does; transfers are not retried (a lost answer is a failure, nothing the check counts).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import gevent
from locust import between, task
from scenarios import names, tally
from scenarios.base import error_code, new_id, unknown_if_killed
from scenarios.flash import RETRY_PAUSES_S
from scenarios.shopper import CATALOGUE, CheckoutUser

# Friends registered with the host as `referred_by`, and friends the host gives a coupon of the
# gift campaign to; each host's first friend is both, so that even a short run (the smoke test's
# few friends) has invitees and gifts.
INVITED = 0.7
GIFTED = 0.5
COMMIT = 0.9  # reserved orders that are paid; the rest are cancelled


class RewardShopper(CheckoutUser):
    RESERVE = names.FRIEND_RESERVE
    COMMIT = names.FRIEND_COMMIT
    CANCEL = names.FRIEND_CANCEL

    role = "front"
    weight = 3
    wait_time = between(0.3, 1.5)

    def on_start(self) -> None:
        super().on_start()
        self.checkout = self.fixture.headers("checkout")
        self.gift = self.fixture.campaigns.get("gift")
        self.pending: str | None = None
        self.friend: str | None = None
        self.orders_left = 0
        self.friends = 0
        self.host = new_id(self.fixture, "h")
        if not self._register(self.host, {}):
            self.host = ""

    def on_stop(self) -> None:
        if self.pending is not None:
            self._settle(self.pending, "cancel")

    @task
    def visit(self) -> None:
        if self.stopping:
            return
        if self.friend is None or self.orders_left <= 0:
            self._bring_a_friend()
            if self.friend is None or self.stopping:
                return
        self.orders_left -= 1
        self._order(self.friend)

    def _bring_a_friend(self) -> None:
        friend = new_id(self.fixture, "r")
        body: dict[str, Any] = {"birthday": None}
        first = not self.friends
        self.friends += 1
        invited = bool(self.host) and (first or random.random() < INVITED)
        if invited:
            body["referred_by"] = self.host
        self.friend = None
        if not self._register(friend, body):
            return
        if invited:
            tally.add(names.REFERRED)
        self.friend, self.orders_left = friend, random.randint(1, 3)
        if self.host and self.gift is not None and (first or random.random() < GIFTED):
            code = self._claim_gift()
            if code is not None and not self.stopping:
                self._transfer(code, friend)

    def _register(self, member: str, body: dict[str, Any]) -> bool:
        with self.client.put(
            f"/v1/members/{member}",
            json=body,
            headers=self.headers,
            name=names.FRIEND_REGISTER,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {error_code(response)}".strip())
                return False
            if (
                body.get("referred_by")
                and response.json().get("referred_by") != body["referred_by"]
            ):
                response.failure("the member does not show its inviter")
            return True

    def _claim_gift(self) -> str | None:
        """The host claims a coupon to give, with an Idempotency-Key asked again while the
        answer is unknown."""
        assert self.gift is not None
        body = {"member_id": self.host, "channel": "online"}
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        with unknown_if_killed(names.UNKNOWN + "gift"):
            for pause in (*RETRY_PAUSES_S, None):
                with self.client.post(
                    f"/v1/campaigns/{self.gift.id}/claims",
                    json=body,
                    headers=headers,
                    name=names.FRIEND_GIFT_CLAIM,
                    catch_response=True,
                ) as response:
                    status, code = response.status_code, error_code(response)
                    if status == 201:
                        return str(response.json()["code"])
                    if status == 409 and code in ("sold_out", "limit_reached"):
                        response.success()
                        tally.add(f"{names.REFUSED}gift|{code}")
                        return None
                    response.failure(f"{status} {code}".strip())
                    if status not in (0, 503):
                        return None
                if pause is None:
                    tally.add(names.UNKNOWN + "gift")
                    return None
                gevent.sleep(pause)
        return None

    def _transfer(self, code: str, friend: str) -> None:
        with self.client.post(
            f"/v1/coupons/{code}/transfer",
            json={"from_member_id": self.host, "to_member_id": friend},
            headers=self.headers,
            name=names.FRIEND_TRANSFER,
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code} {error_code(response)}".strip())
                return
            received = response.json()
            if received["member_id"] != friend or received["transferred_from"] != code:
                response.failure(f"the transfer answered another coupon: {received}")
                return
            tally.add(names.TRANSFERRED)

    def _order(self, member: str) -> None:
        codes = self._wallet(member)
        if codes is None or self.stopping:
            return
        cart: dict[str, Any] = {
            "member_id": member,
            "channel": "online",
            "lines": [
                {"sku": sku, "category": category, "unit_price": price, "qty": random.randint(1, 2)}
                for sku, category, price in random.sample(CATALOGUE, random.randint(1, 3))
            ],
            "coupon_codes": codes[:20],
        }
        quote = self._post(names.FRIEND_QUOTE, "/v1/checkout/quote", cart, 200)
        if quote is None or self.stopping:
            return
        cart["coupon_codes"] = [applied["code"] for applied in quote["applied"]]
        order_id = new_id(self.fixture, "o")
        self.pending = order_id  # before the call: a timed-out reserve may still have happened
        reserved = self._post(
            names.FRIEND_RESERVE, "/v1/checkout/redemptions", {**cart, "order_id": order_id}, 201
        )
        if reserved is None:
            return
        gevent.sleep(random.uniform(0.1, 0.5))  # the friend pays
        self._settle(order_id, "commit" if random.random() < COMMIT else "cancel")

    def _wallet(self, member: str) -> list[str] | None:
        with self.client.get(
            f"/v1/members/{member}/coupons?state=active",
            headers=self.headers,
            name=names.FRIEND_WALLET,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {error_code(response)}".strip())
                return None
            return [c["code"] for c in response.json()["coupons"]]
