"""Operator: watches the flash campaign's stats mid-storm and raises its stock when it runs low.

Exactly one in the whole run (`fixed_count`), however many workers. Every poll checks what the
stats promise at any instant: `claimed == stock_total - remaining`, and `remaining` never below
zero; a poll that sees otherwise fails.
"""

from __future__ import annotations

from typing import Any

from locust import task
from scenarios import names, tally
from scenarios.base import GatewayUser, error_code


class Operator(GatewayUser):
    role = "admin"
    fixed_count = 1

    def wait_time(self) -> float:
        return self.fixture.operator_poll_s

    def on_start(self) -> None:
        super().on_start()
        self.flash = self.fixture.campaigns["flash"]
        self.restocked = 0
        self.polls = 0

    @task
    def poll(self) -> None:
        if self.stopping:
            return
        self.polls += 1
        stats = self._stats(self.flash.id)
        if (
            stats is not None
            and stats["remaining"] <= self.flash.stock // 10
            and self.restocked < self.fixture.restocks
        ):
            self._restock(self.fixture.restock)
        if self.polls % 5 == 0:  # the other campaigns and the metrics, less often
            for name in ("shop", "store"):
                self._stats(self.fixture.campaigns[name].id)
            with self.client.get(
                "/metrics", name=names.OPERATOR_METRICS, catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(f"{response.status_code}")

    def _stats(self, campaign_id: str) -> dict[str, Any] | None:
        with self.client.get(
            f"/v1/campaigns/{campaign_id}",
            headers=self.headers,
            name=names.OPERATOR_STATS,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {error_code(response)}".strip())
                return None
            stats: dict[str, Any] = response.json()["stats"]
            if stats["remaining"] < 0 or stats["claimed"] != (
                stats["stock_total"] - stats["remaining"]
            ):
                response.failure(f"inconsistent stats: {stats}")
            return stats

    def _restock(self, delta: int) -> None:
        with self.client.post(
            f"/v1/campaigns/{self.flash.id}/stock",
            json={"delta": delta},
            headers=self.headers,
            name=names.OPERATOR_RESTOCK,
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                self.restocked += 1
                tally.add(names.RESTOCKED, delta)
            else:
                response.failure(f"{response.status_code} {error_code(response)}".strip())
