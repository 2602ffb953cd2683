"""What every user class shares: the fixture, role headers, and how refusals are judged."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gevent import GreenletExit
from locust import FastHttpUser
from locust.exception import StopUser
from scenarios import tally
from scenarios.fixture import Fixture

log = logging.getLogger("loadtest")

_CACHE: dict[str, Fixture] = {}


def fixture_of(environment: Any) -> Fixture | None:
    """The fixture the master put in the custom option (decoded once per process)."""
    text = getattr(environment.parsed_options, "loadtest_fixture", "") or ""
    if not text:
        return None
    if text not in _CACHE:
        _CACHE.clear()
        _CACHE[text] = Fixture.loads(text)
    return _CACHE[text]


def new_id(fixture: Fixture, kind: str) -> str:
    """A member or order id unique across runs, workers and users."""
    return f"{fixture.run_id}-{kind}-{uuid.uuid4().hex[:16]}"


def error_code(response: Any) -> str:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


#: Set when this process starts stopping its users (Locust's `test_stopping`, see locustfile).
STOP = {"stopping": False}


@contextmanager
def unknown_if_killed(key: str, n: int = 1) -> Iterator[None]:
    """A user killed at the stop (`--stop-timeout` 0 or too short) mid-request never learns
    whether its claim or commit happened: count it as an unknown outcome, not as nothing."""
    try:
        yield
    except GreenletExit:
        tally.add(key, n)
        raise


class GatewayUser(FastHttpUser):
    """A user of the gateway; subclasses set `role` (the key they act with)."""

    abstract = True
    role = "admin"
    # One connection per simulated user, like a browser tab or a till.
    concurrency = 1
    # A request slower than this counts as failed; a claim is then retried with its key.
    network_timeout = 10.0
    connection_timeout = 10.0

    fixture: Fixture

    @property
    def stopping(self) -> bool:
        """True once the stop has begun. Locust kills a user that is between tasks, but one whose
        pause had just ended may already be starting its next task: it must not begin a
        request that the kill will cut (its outcome would be unknown). Tasks return at once."""
        return STOP["stopping"]

    def context(self) -> dict[str, Any]:
        return {"user": type(self).__name__}

    def on_start(self) -> None:
        fixture = fixture_of(self.environment)
        if fixture is None:  # only when the master's set-up failed: it has logged why
            log.error("no load-test fixture: the master's set-up did not run or failed")
            raise StopUser
        self.fixture = fixture
        self.headers = fixture.headers(self.role)
