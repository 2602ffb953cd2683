"""PageClaimer: a member whose mall app opens the flash campaign's claim page and presses the
button: the page, its live stock, then `POST /claim/{id}` (the page's claim, no API key).

The mall's server registers the member and gets a member token with its front key (as the
README says an app does); everything after that is what the member's browser sends. Each user
is one phone: it sends its own address in `X-Forwarded-For`, which the gateway believes when
the load test's gateway names 127.0.0.1 a trusted proxy (run_loadtest.py does), so the
per-address limit sees many phones, as behind a real load balancer. `sold_out` and
`limit_reached` are correct refusals; a claim whose answer is lost is retried with the same
`request_id`, so one press never takes two coupons.
"""

from __future__ import annotations

import random
import uuid

import gevent
from locust import task
from scenarios import names, tally
from scenarios.base import GatewayUser, error_code, new_id, unknown_if_killed
from scenarios.flash import REFUSALS, RETRY_PAUSES_S


class PageClaimer(GatewayUser):
    role = "front"
    weight = 2

    def wait_time(self) -> float:
        return random.uniform(0, max(self.fixture.claim_wait_s, 0.05) * 5)

    def on_start(self) -> None:
        super().on_start()
        campaign = self.fixture.campaigns["flash"]
        self.campaign_id = campaign.id
        self.link_token = campaign.token
        self.phone = {
            "X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}."
            f"{random.randrange(1, 255)}"
        }

    @task
    def open_and_claim(self) -> None:
        if self.stopping:
            return
        member_token = self._sign_in(new_id(self.fixture, "p"))
        if member_token is None or self.stopping:
            return
        page = f"/claim/{self.campaign_id}?token={self.link_token}&m={member_token}"
        with self.client.get(
            page, headers=self.phone, name=names.PAGE_LOAD, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return
        self.client.get(
            f"/claim/{self.campaign_id}/stock", headers=self.phone, name=names.PAGE_STOCK
        )
        if not self.stopping:
            self._claim(member_token)

    def _sign_in(self, member: str) -> str | None:
        """What the mall's server does for its signed-in member: register, get a token."""
        registered = self.client.put(
            f"/v1/members/{member}",
            json={"tier": "standard"},
            headers=self.headers,
            name=names.PAGE_REGISTER,
        )
        if registered.status_code != 200:
            return None
        with self.client.post(
            f"/v1/members/{member}/tokens",
            headers=self.headers,
            name=names.PAGE_TOKEN,
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code} {error_code(response)}")
                return None
            token: str = response.json()["token"]
            return token

    def _claim(self, member_token: str) -> None:
        body = {
            "token": self.link_token,
            "member_token": member_token,
            "request_id": uuid.uuid4().hex,
        }
        with unknown_if_killed(names.UNKNOWN + "flash"):
            for pause in (*RETRY_PAUSES_S, None):
                with self.client.post(
                    f"/claim/{self.campaign_id}",
                    json=body,
                    headers=self.phone,
                    name=names.PAGE_CLAIM,
                    catch_response=True,
                ) as response:
                    status, code = response.status_code, error_code(response)
                    if status == 201:
                        response.success()
                        return
                    if status == 409 and code in REFUSALS:
                        response.success()
                        tally.add(f"{names.REFUSED}flash|{code}")
                        return
                    response.failure(f"{status} {code}".strip())
                    if status not in (0, 503):
                        return
                if pause is None:
                    tally.add(names.UNKNOWN + "flash")
                    return
                gevent.sleep(pause)
