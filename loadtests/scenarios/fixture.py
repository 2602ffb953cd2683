"""The day's set-up, made once through the API and handed to every user of every worker.

Robust hand-over in distributed mode: the master creates the campaigns in `test_start`, before
it sends any spawn message, and stores the result in a custom Locust option
(`--loadtest-fixture`). Locust copies the master's custom options into every spawn message, and a
worker applies them before it starts the users of that message, so no user can ever run without
the fixture, and workers on other machines need no variables, files or keys of their own. A
fixture made beforehand can be passed the same way (`--loadtest-fixture '<json>'` or
`LOADTEST_FIXTURE`): the master then creates nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from scenarios.config import Keys, SetupConfig


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    stock: int
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Fixture:
    run_id: str
    keys: dict[str, str]
    #: `flash` (claims on its link), `shop` (Shoppers claim and redeem), `store` (Clerk grants).
    campaigns: dict[str, Campaign]
    restock: int
    restocks: int
    shop_limit: int
    operator_poll_s: float
    claim_wait_s: float

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> Fixture:
        raw: dict[str, Any] = json.loads(text)
        raw["campaigns"] = {name: Campaign(**c) for name, c in raw["campaigns"].items()}
        return cls(**raw)


def _body(name: str, stock: int, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "name": name,
        "kind": "threshold",
        "amount_off": 10000,
        "min_spend": 50000,
        "channels": ["online", "store"],
        # A generous window: the load generator's clock need not match the gateway's.
        "claim_starts_at": (now - timedelta(minutes=10)).isoformat(),
        "claim_ends_at": (now + timedelta(days=1)).isoformat(),
        "validity": {"mode": "relative", "days": 7},
        "stock": stock,
        "per_member_limit": 1,
        "transferable": False,
        "stackable": False,
        "low_stock_threshold": 0,
    }
    body.update(fields)
    return body


def _call(http: requests.Session, method: str, url: str, expect: int, **kw: Any) -> Any:
    response = http.request(method, url, timeout=30, **kw)
    if response.status_code != expect:
        raise RuntimeError(
            f"set-up: {method} {url} answered {response.status_code}: {response.text[:300]}"
        )
    return response.json()


def create(base_url: str, config: SetupConfig, keys: Keys) -> Fixture:
    """Creates and publishes the three campaigns of the day; fetches the flash link's token."""
    run_id = config.run_id or f"lt{datetime.now(UTC):%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    base = base_url.rstrip("/")
    bodies = {
        "flash": _body(
            f"Load test {run_id}: flash 100 off 500",
            config.flash_stock,
            channels=["online"],
            low_stock_threshold=config.flash_stock // 10,
        ),
        "shop": _body(
            f"Load test {run_id}: 20 off 100",
            config.shop_stock,
            amount_off=2000,
            min_spend=10000,
            per_member_limit=config.shop_limit,
        ),
        "store": _body(
            f"Load test {run_id}: 10% off in store",
            config.store_stock,
            kind="percent",
            amount_off=None,
            min_spend=0,
            percent_off=1000,
            max_discount=5000,
            channels=["store"],
        ),
    }
    campaigns: dict[str, Campaign] = {}
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {keys.admin}"
        for name, body in bodies.items():
            created = _call(http, "POST", f"{base}/v1/campaigns", 201, json=body)
            _call(http, "POST", f"{base}/v1/campaigns/{created['id']}/publish", 200)
            token = None
            if name == "flash":
                token = _call(http, "GET", f"{base}/v1/campaigns/{created['id']}/link", 200)[
                    "token"
                ]
            campaigns[name] = Campaign(id=created["id"], stock=body["stock"], token=token)
    return Fixture(
        run_id=run_id,
        keys={
            "admin": keys.admin,
            "front": keys.front,
            "clerk": keys.clerk,
            "checkout": keys.checkout,
        },
        campaigns=campaigns,
        restock=config.restock or max(1, config.flash_stock // 2),
        restocks=config.restocks,
        shop_limit=config.shop_limit,
        operator_poll_s=config.operator_poll_s,
        claim_wait_s=config.claim_wait_s,
    )
