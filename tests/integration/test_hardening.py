"""Holes found from outside (issue 10): each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import campaign_body, live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


@pytest.mark.parametrize("token", ["é", "令牌", "\u0000", "x" * 22, "", "🎫" * 30])
async def test_any_token_that_is_not_the_campaigns_is_403_invalid_token(
    client: Client, auth: Auth, token: str
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    response = await client.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": unique(), "channel": "online", "token": token},
        headers=auth["front"],
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "invalid_token"


async def test_closing_a_draft_leaves_no_hot_state_that_reads_as_another_redis_run(
    client: Client, auth: Auth
) -> None:
    """The stateful fuzzer's sequence: create, close (never published), then claim and grant.
    Closing wrote a meta hash with only a status, which the claim script took for a state built
    before a Redis restart: 503 "Redis restarted" on a Redis that never restarted."""
    created = await client.post("/v1/campaigns", json=campaign_body(), headers=auth["admin"])
    campaign_id = created.json()["id"]
    closed = await client.post(f"/v1/campaigns/{campaign_id}/close", headers=auth["admin"])
    assert closed.status_code == 200
    for _ in range(2):  # the second answer must not differ once a rebuild could have run
        claimed = await client.post(
            f"/v1/campaigns/{campaign_id}/claims",
            json={"member_id": unique(), "channel": "online"},
            headers=auth["front"],
        )
        assert (claimed.status_code, claimed.json()["code"]) == (409, "not_live")
        granted = await client.post(
            f"/v1/campaigns/{campaign_id}/grants",
            json={"member_ids": [unique()], "channel": "store"},
            headers=auth["clerk"],
        )
        assert (granted.status_code, granted.json()["code"]) == (409, "not_live")
    stats = (await client.get(f"/v1/campaigns/{campaign_id}", headers=auth["admin"])).json()
    assert stats["status"] == "closed" and stats["stats"]["claimed"] == 0


async def test_admin_edits_of_a_live_campaign_never_make_claims_unavailable(
    client: Client, auth: Auth
) -> None:
    """Every admin operation in turn, with odd but valid values; claims answer 201 or a refusal,
    never 503."""
    campaign = await live_campaign(client, auth["admin"], stock=50, low_stock_threshold=49)
    cid, admin = campaign["id"], auth["admin"]
    steps: list[tuple[str, str, Any]] = [
        ("PATCH", f"/v1/campaigns/{cid}", {"name": "é" * 200, "low_stock_threshold": 0}),
        ("POST", f"/v1/campaigns/{cid}/stock", {"delta": 1}),
        ("POST", f"/v1/campaigns/{cid}/pause", None),
        ("POST", f"/v1/campaigns/{cid}/stock", {"delta": -1}),
        ("POST", f"/v1/campaigns/{cid}/resume", None),
        ("PATCH", f"/v1/campaigns/{cid}", {"validity": {"mode": "relative", "days": 1}}),
        ("POST", f"/v1/campaigns/{cid}/publish", None),  # 409: already live
        ("POST", f"/v1/campaigns/{cid}/close", None),
    ]
    for method, path, body in steps:
        answer = await client.request(method, path, json=body, headers=admin)
        assert answer.status_code < 500, (path, answer.text)
        claimed = await client.post(
            f"/v1/campaigns/{cid}/claims",
            json={"member_id": unique(), "channel": "online"},
            headers=auth["front"],
        )
        assert claimed.status_code in (201, 409), (path, claimed.text)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/programme"),
        ("PUT", "/v1/tiers/gold"),
        ("PUT", "/v1/members/m-deep"),
        ("POST", "/v1/campaigns"),
        ("POST", "/v1/campaigns/cmp_x/claims"),
        ("POST", "/v1/checkout/quote"),
    ],
)
async def test_json_nested_thousands_deep_is_400_not_500(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]], method: str, path: str
) -> None:
    """Litestar's own JSON parse of a typed route's body raised RecursionError (a 500)."""
    body = b'{"a":' * 5000 + b"1" + b"}" * 5000
    role = "checkout" if "checkout" in path else "admin"
    response = await client.request(
        method, path, content=body, headers={**auth[role], "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
