"""FlashClaimer: members pressing "claim" on the campaign link, each a new member.

`sold_out` and `limit_reached` are the gateway saying no correctly: they count as successes. A
second coupon for the same member is the one outcome that fails loudly. A claim that times out
or meets 503 is retried with the same Idempotency-Key (what a careful front end does), so that
a coupon is never taken twice for one press.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from typing import Any

import gevent
from locust import task
from scenarios import names, tally
from scenarios.base import GatewayUser, error_code, new_id, unknown_if_killed

REFUSALS = frozenset({"sold_out", "limit_reached"})
#: Pauses before each retry of a claim whose outcome is unknown: bounded, about 1.5 s in all.
RETRY_PAUSES_S = (0.2, 0.5, 0.8)


class FlashClaimer(GatewayUser):
    role = "front"
    weight = 10

    def wait_time(self) -> float:
        return random.uniform(0, self.fixture.claim_wait_s)

    def on_start(self) -> None:
        super().on_start()
        campaign = self.fixture.campaigns["flash"]
        self.path = f"/v1/campaigns/{campaign.id}/claims"
        self.token = campaign.token
        self.holders: deque[str] = deque(maxlen=64)

    @task(19)
    def claim(self) -> None:
        if self.stopping:
            return
        member = new_id(self.fixture, "f")
        if self._claim(member, names.FLASH_CLAIM, again=False):
            self.holders.append(member)

    @task(1)
    def claim_again(self) -> None:
        """A member who already holds a coupon presses again: the limit must refuse."""
        if self.stopping:
            return
        if self.holders:
            self._claim(random.choice(self.holders), names.FLASH_CLAIM_AGAIN, again=True)

    def _claim(self, member: str, name: str, again: bool) -> bool:
        body: dict[str, Any] = {"member_id": member, "channel": "online", "token": self.token}
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        with unknown_if_killed(names.UNKNOWN + "flash"):
            for pause in (*RETRY_PAUSES_S, None):
                with self.client.post(
                    self.path, json=body, headers=headers, name=name, catch_response=True
                ) as response:
                    status, code = response.status_code, error_code(response)
                    if status == 201:
                        if again:
                            response.failure("limit exceeded: a member got a second coupon")
                        else:
                            response.success()
                        return True
                    if status == 409 and code in REFUSALS:
                        response.success()
                        tally.add(f"{names.REFUSED}flash|{code}")
                        return False
                    response.failure(f"{status} {code}".strip())
                    if status not in (0, 503):
                        return False
                if pause is None:
                    tally.add(names.UNKNOWN + "flash")
                    return False
                gevent.sleep(pause)
            return False
