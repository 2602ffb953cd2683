"""Tier policies: set by admins, applied by checkout (tier rate, birthday rate, 折上折, points)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from gateway.clock import clock
from gateway.wire import zone
from tests.conftest import live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


# One policy per tier, the same in every test (tests of other files may run beside these).
POLICIES: dict[str, dict[str, Any]] = {
    "silver": {"percent_off": 500, "birthday_percent_off": 2500, "points_per_yuan": 1,
               "coupons_on_member_price": True},
    "gold": {"percent_off": 1200, "birthday_percent_off": 2500, "points_per_yuan": 1,
             "coupons_on_member_price": False},
    "diamond": {"percent_off": 2000, "birthday_percent_off": 2500, "points_per_yuan": 2,
                "coupons_on_member_price": True},
}  # fmt: skip
LINES = [{"sku": "A", "category": "tops", "unit_price": 50000, "qty": 2}]  # 1000.00


async def set_policies(client: Client, auth: Auth) -> None:
    for tier, policy in POLICIES.items():
        response = await client.put(f"/v1/tiers/{tier}", json=policy, headers=auth["admin"])
        assert response.status_code == 200, response.text


async def member(client: Client, auth: Auth, tier: str, birthday: str | None = None) -> str:
    member_id = unique()
    response = await client.put(
        f"/v1/members/{member_id}",
        json={"tier": tier, "birthday": birthday},
        headers=auth["admin"],
    )
    assert response.status_code == 200
    return member_id


async def quote(client: Client, auth: Auth, member_id: str, codes: list[str]) -> Any:
    response = await client.post(
        "/v1/checkout/quote",
        json={"member_id": member_id, "channel": "online", "lines": LINES, "coupon_codes": codes},
        headers=auth["checkout"],
    )
    assert response.status_code == 200, response.text
    return response.json()


async def coupon(client: Client, auth: Auth, holder: str, **campaign: Any) -> str:
    created = await live_campaign(client, auth["admin"], **campaign)
    claimed = await client.post(
        f"/v1/campaigns/{created['id']}/claims",
        json={"member_id": holder, "channel": "online"},
        headers=auth["front"],
    )
    return str(claimed.json()["code"])


async def test_put_tier_returns_the_policy(client: Client, auth: Auth) -> None:
    response = await client.put(
        "/v1/tiers/diamond", json=POLICIES["diamond"], headers=auth["admin"]
    )
    assert response.status_code == 200
    body = response.json()
    assert body["tier"] == "diamond" and body["updated_at"].endswith("+08:00")
    assert {k: body[k] for k in POLICIES["diamond"]} == POLICIES["diamond"]


@pytest.mark.parametrize(
    ("tier", "body", "field"),
    [
        ("platinum", POLICIES["gold"], "tier"),
        ("gold", {**POLICIES["gold"], "percent_off": 10001}, "percent_off"),
        ("gold", {**POLICIES["gold"], "percent_off": -1}, "percent_off"),
        ("gold", {**POLICIES["gold"], "percent_off": "1200"}, "percent_off"),
        ("gold", {**POLICIES["gold"], "birthday_percent_off": 1.5}, "birthday_percent_off"),
        ("gold", {**POLICIES["gold"], "points_per_yuan": -1}, "points_per_yuan"),
        ("gold", {**POLICIES["gold"], "coupons_on_member_price": "yes"}, "coupons_on_member_price"),
        ("gold", {"percent_off": 1200}, "birthday_percent_off"),
        ("gold", {**POLICIES["gold"], "extra": 1}, "extra"),
        ("gold", None, None),
    ],
)
async def test_bad_tier_policies_are_400(
    client: Client, auth: Auth, tier: str, body: Any, field: str | None
) -> None:
    response = await client.put(f"/v1/tiers/{tier}", json=body, headers=auth["admin"])
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    if field is not None:
        assert field in response.json()["detail"]


async def test_the_tier_rate_applies_and_points_follow_the_total(
    client: Client, auth: Auth
) -> None:
    await set_policies(client, auth)
    body = await quote(client, auth, await member(client, auth, "diamond"), [])
    assert body["member_discount"] == 20000 and body["total"] == 80000
    assert body["points_earned"] == 2 * 800
    assert sum(line["discount"] for line in body["member_lines"]) == 20000
    plain = await quote(client, auth, await member(client, auth, "standard"), [])
    assert plain["member_discount"] == 0  # no policy for standard: no member discount
    unregistered = await quote(client, auth, unique(), [])
    assert unregistered["member_discount"] == 0


async def test_on_the_birthday_the_better_rate_applies_never_both(
    client: Client, auth: Auth
) -> None:
    await set_policies(client, auth)
    today = datetime.fromtimestamp(clock.now_ms() / 1000, zone()).strftime("%m-%d")
    birthday_silver = await quote(client, auth, await member(client, auth, "silver", today), [])
    assert birthday_silver["member_discount"] == 25000  # 7.5折 beats 9.5折
    clock.advance(2 * 86400)
    not_today = await quote(client, auth, await member(client, auth, "silver", today), [])
    assert not_today["member_discount"] == 5000


async def test_coupons_on_the_member_price_stack_or_the_better_wins(
    client: Client, auth: Auth
) -> None:
    await set_policies(client, auth)
    diamond = await member(client, auth, "diamond")
    code = await coupon(client, auth, diamond)  # 100.00 off 500.00
    stacked = await quote(client, auth, diamond, [code])
    assert stacked["member_discount"] == 20000 and stacked["coupon_discount"] == 10000
    assert stacked["total"] == 70000

    gold = await member(client, auth, "gold")  # 12% member discount, no 折上折
    small = await coupon(client, auth, gold)  # 100.00 < 120.00: the member discount wins
    either = await quote(client, auth, gold, [small])
    assert either["member_discount"] == 12000 and either["coupon_discount"] == 0
    assert [r["code"] for r in either["rejected"]] == [small]
    big = await coupon(client, auth, gold, amount_off=30000)  # 300.00 beats 120.00
    better = await quote(client, auth, gold, [big])
    assert better["member_discount"] == 0 and better["coupon_discount"] == 30000
