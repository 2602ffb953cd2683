"""Clerk: hands out in-store coupons at the till, a few customers at a time.

Some customers come back for a second coupon: the grant must turn them down (`limit_reached`).
Grants are not idempotent in the API, so a grant whose answer is lost is not retried; its
members are counted as unknown outcomes for the end-of-run check.
"""

from __future__ import annotations

import random
from collections import deque

from locust import between, task
from scenarios import names, tally
from scenarios.base import GatewayUser, error_code, new_id, unknown_if_killed

REFUSALS = frozenset({"sold_out", "limit_reached"})
RETURNING = 0.3  # grants that include a customer who already holds a coupon


class Clerk(GatewayUser):
    role = "clerk"
    weight = 1
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        super().on_start()
        self.store = self.fixture.campaigns["store"]
        self.served: deque[str] = deque(maxlen=64)

    @task
    def grant(self) -> None:
        if self.stopping:
            return
        members = [new_id(self.fixture, "c") for _ in range(random.randint(1, 5))]
        returning = (
            random.choice(self.served) if self.served and random.random() < RETURNING else None
        )
        body = {"member_ids": [*members, *([returning] if returning else [])], "channel": "store"}
        with (
            unknown_if_killed(names.UNKNOWN + "store", len(body["member_ids"])),
            self.client.post(
                f"/v1/campaigns/{self.store.id}/grants",
                json=body,
                headers=self.headers,
                name=names.CLERK_GRANT,
                catch_response=True,
            ) as response,
        ):
            if response.status_code != 200:
                response.failure(f"{response.status_code} {error_code(response)}".strip())
                if response.status_code in (0, 503):
                    tally.add(names.UNKNOWN + "store", len(body["member_ids"]))
                return
            result = response.json()
            granted = result["granted"]
            tally.add(names.GRANTED, len(granted))
            reasons = {r["reason"] for r in result["rejected"]}
            for rejected in result["rejected"]:
                tally.add(f"{names.REFUSED}store|{rejected['reason']}")
            if returning is not None and any(c["member_id"] == returning for c in granted):
                response.failure("limit exceeded: a returning customer got a second coupon")
            elif not reasons <= REFUSALS:
                response.failure(f"unexpected refusals: {sorted(reasons - REFUSALS)}")
            self.served.extend(c["member_id"] for c in granted)
        if granted and random.random() < 0.5:
            self._show(granted[0]["code"], granted[0]["member_id"])

    def _show(self, code: str, member: str) -> None:
        """The clerk looks the coupon up to show the customer."""
        with self.client.get(
            f"/v1/coupons/{code}",
            headers=self.headers,
            name=names.CLERK_COUPON,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {error_code(response)}".strip())
            elif response.json()["member_id"] != member:
                response.failure("the coupon shows another member")
