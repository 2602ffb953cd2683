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
from dataclasses import asdict, dataclass, field
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
    #: `flash` (claims on its link), `shop` (Shoppers claim and redeem), `store` (Clerk grants),
    #: `gift` (transferable: RewardShoppers' hosts claim and give them to friends).
    campaigns: dict[str, Campaign]
    restock: int
    restocks: int
    shop_limit: int
    operator_poll_s: float
    claim_wait_s: float
    #: The campaigns the programme's rewards name (`welcome`, `first_order`, `referral`,
    #: `transfer`, `spend_step`: the small one), granted only by the rewards worker.
    reward_campaigns: dict[str, Campaign] = field(default_factory=dict)
    #: The programme's `rewards` as this run set them (empty: the run set none), and as they
    #: were before (put back after a run on a shared deployment).
    rewards: dict[str, Any] = field(default_factory=dict)
    rewards_before: dict[str, Any] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> Fixture:
        raw: dict[str, Any] = json.loads(text)
        for group in ("campaigns", "reward_campaigns"):
            raw[group] = {name: Campaign(**c) for name, c in raw.get(group, {}).items()}
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


#: What each reward gives besides its coupon (points), as the programme of the run sets it.
REWARD_POINTS = {"welcome": 10, "first_order": 20, "inviter": 50, "invitee": 50, "giver": 30}


def _reward_body(run_id: str, name: str, stock: int) -> dict[str, Any]:
    """A reward campaign: 5 yuan off anything, stackable, many per member (an inviter earns
    one per friend), granted only by the rewards worker."""
    return _body(
        f"Load test {run_id}: {name} reward",
        stock,
        kind="amount",
        amount_off=500,
        min_spend=None,
        per_member_limit=1000,
        stackable=True,
    )


def rewards_of(campaigns: dict[str, Campaign], min_paid: int) -> dict[str, Any]:
    """The programme's `rewards` naming the run's reward campaigns."""
    points = REWARD_POINTS
    return {
        "welcome": {"campaign_id": campaigns["welcome"].id, "points": points["welcome"]},
        "first_order": {
            "campaign_id": campaigns["first_order"].id,
            "points": points["first_order"],
        },
        "referral": {
            "inviter": {"campaign_id": campaigns["referral"].id, "points": points["inviter"]},
            "invitee": {"campaign_id": campaigns["referral"].id, "points": points["invitee"]},
        },
        "transfer": {
            "giver_points": points["giver"],
            "first_order_campaign_id": campaigns["transfer"].id,
        },
        "spend_steps": [
            {"period": "order", "min_paid": min_paid, "campaign_id": campaigns["spend_step"].id}
        ],
    }


def create(base_url: str, config: SetupConfig, keys: Keys) -> Fixture:
    """Creates and publishes the campaigns of the day, fetches the flash link's token, and
    sets the programme's rewards (the rest of the programme as it was) naming the run's reward
    campaigns: they run by themselves under the load."""
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
        "gift": _body(
            f"Load test {run_id}: 10 off, to give a friend",
            config.gift_stock,
            kind="amount",
            amount_off=1000,
            min_spend=None,
            per_member_limit=1000,
            transferable=True,
            stackable=True,
        ),
    }
    reward_bodies = {
        name: _reward_body(run_id, name, config.reward_stock)
        for name in ("welcome", "first_order", "referral", "transfer")
    }
    reward_bodies["spend_step"] = _reward_body(run_id, "spend step", config.reward_small_stock)
    if not config.rewards:
        reward_bodies = {}
    before: dict[str, Any] = {}
    stored: dict[str, Any] = {"rewards": {}}
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {keys.admin}"
        campaigns = {name: _live(http, base, name, body) for name, body in bodies.items()}
        reward_campaigns = {
            name: _live(http, base, name, body) for name, body in reward_bodies.items()
        }
        if reward_campaigns:
            programme = _call(http, "GET", f"{base}/v1/programme", 200)
            before = programme.get("rewards", {})
            programme["rewards"] = rewards_of(reward_campaigns, config.spend_step_min_paid)
            stored = _call(http, "PUT", f"{base}/v1/programme", 200, json=programme)
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
        reward_campaigns=reward_campaigns,
        rewards=stored["rewards"],
        rewards_before=before,
    )


def _live(http: requests.Session, base: str, name: str, body: dict[str, Any]) -> Campaign:
    """Creates and publishes a campaign (the flash one with its link's token)."""
    created = _call(http, "POST", f"{base}/v1/campaigns", 201, json=body)
    _call(http, "POST", f"{base}/v1/campaigns/{created['id']}/publish", 200)
    token = None
    if name == "flash":
        token = _call(http, "GET", f"{base}/v1/campaigns/{created['id']}/link", 200)["token"]
    return Campaign(id=created["id"], stock=body["stock"], token=token)
