"""`link_only` campaigns (API v1.1, "Flash-sale protection"): claims need the link's token."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient

from gateway.ops.lanes import hot_lanes
from tests.conftest import campaign_body, live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


async def claim(client: Client, auth: Auth, campaign_id: str, **extra: Any) -> Any:
    return await client.post(
        f"/v1/campaigns/{campaign_id}/claims",
        json={"member_id": unique(), "channel": "online", **extra},
        headers=auth["front"],
    )


async def link_token(client: Client, auth: Auth, campaign_id: str) -> str:
    response = await client.get(f"/v1/campaigns/{campaign_id}/link", headers=auth["admin"])
    return str(response.json()["token"])


async def test_link_only_is_false_by_default_and_returned_in_the_campaign(
    client: Client, auth: Auth
) -> None:
    plain = await client.post("/v1/campaigns", json=campaign_body(), headers=auth["admin"])
    assert plain.status_code == 201 and plain.json()["link_only"] is False
    linked = await client.post(
        "/v1/campaigns", json=campaign_body(link_only=True), headers=auth["admin"]
    )
    assert linked.status_code == 201 and linked.json()["link_only"] is True
    read = await client.get(f"/v1/campaigns/{linked.json()['id']}", headers=auth["admin"])
    assert read.json()["link_only"] is True
    bad = await client.post(
        "/v1/campaigns", json=campaign_body(link_only="yes"), headers=auth["admin"]
    )
    assert bad.status_code == 400 and "link_only" in bad.json()["detail"]


@pytest.mark.parametrize("lane", [True, False], ids=["lane", "router"])
async def test_a_link_only_campaign_refuses_claims_without_its_token(
    client: Client, auth: Auth, lane: bool
) -> None:
    app: Any = client.app
    hot_lanes(app).enabled = lane
    try:
        campaign = await live_campaign(client, auth["admin"], link_only=True)
        cid = campaign["id"]
        missing = await claim(client, auth, cid)
        assert missing.status_code == 403 and missing.json()["code"] == "invalid_token"
        assert missing.json().keys() == {"code", "detail"}
        wrong = await claim(client, auth, cid, token="not-the-token")
        assert wrong.status_code == 403 and wrong.json()["code"] == "invalid_token"
        other = await live_campaign(client, auth["admin"], link_only=True)
        borrowed = await claim(client, auth, cid, token=await link_token(client, auth, other["id"]))
        assert borrowed.status_code == 403
        ok = await claim(client, auth, cid, token=await link_token(client, auth, cid))
        assert ok.status_code == 201, ok.text
        stats = (await client.get(f"/v1/campaigns/{cid}", headers=auth["admin"])).json()["stats"]
        assert stats["claimed"] == 1  # the refusals took no stock
    finally:
        hot_lanes(app).enabled = True


async def test_a_campaign_that_is_not_link_only_takes_claims_without_a_token(
    client: Client, auth: Auth
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    assert (await claim(client, auth, campaign["id"])).status_code == 201


async def test_the_hot_state_carries_link_only_so_a_claim_needs_no_postgres(
    client: Client, auth: Auth, redis_client: redis.Redis
) -> None:
    linked = await live_campaign(client, auth["admin"], link_only=True)
    plain = await live_campaign(client, auth["admin"])
    assert await redis_client.hget(f"{{c:{linked['id']}}}:meta", "link_only") == b"1"
    assert await redis_client.hget(f"{{c:{plain['id']}}}:meta", "link_only") == b"0"


async def test_a_hot_state_built_before_link_only_existed_falls_back_to_the_ledger(
    client: Client, auth: Auth, redis_client: redis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], link_only=True)
    await redis_client.hdel(f"{{c:{campaign['id']}}}:meta", "link_only")
    missing = await claim(client, auth, campaign["id"])
    assert missing.status_code == 403 and missing.json()["code"] == "invalid_token"


async def test_a_draft_link_only_campaign_refuses_a_claim_without_token(
    client: Client, auth: Auth
) -> None:
    draft = await client.post(
        "/v1/campaigns", json=campaign_body(link_only=True), headers=auth["admin"]
    )
    missing = await claim(client, auth, draft.json()["id"])
    assert missing.status_code == 403 and missing.json()["code"] == "invalid_token"
    token = await link_token(client, auth, draft.json()["id"])
    with_token = await claim(client, auth, draft.json()["id"], token=token)
    assert with_token.status_code == 409 and with_token.json()["code"] == "not_live"


async def test_grants_of_a_link_only_campaign_need_no_token(client: Client, auth: Auth) -> None:
    # Grants are a clerk or an operator handing coupons out, not a member following a link.
    campaign = await live_campaign(client, auth["admin"], link_only=True)
    response = await client.post(
        f"/v1/campaigns/{campaign['id']}/grants",
        json={"member_ids": [unique()], "channel": "store"},
        headers=auth["clerk"],
    )
    assert response.status_code == 200 and len(response.json()["granted"]) == 1
