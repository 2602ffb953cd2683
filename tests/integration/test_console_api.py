"""The API routes the back office adds: GET /v1/whoami, GET /v1/campaigns/{id}/live (Redis
alone: refusals counted by reason in the claim script), GET /v1/tiers; and the /console page."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient

from gateway.store.redis import refusals_key
from tests.conftest import ROLES, campaign_body, live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


async def claim(client: Client, auth: Auth, campaign_id: str, member: str) -> Any:
    return await client.post(
        f"/v1/campaigns/{campaign_id}/claims",
        json={"member_id": member, "channel": "online"},
        headers=auth["front"],
    )


@pytest.mark.parametrize("role", ROLES)
async def test_whoami_tells_every_role_its_role_and_key_name(
    client: Client, auth: Auth, role: str
) -> None:
    response = await client.get("/v1/whoami", headers=auth[role])
    assert response.status_code == 200, response.text
    assert response.json() == {"role": role, "name": role}


async def test_whoami_without_a_known_key_is_401(client: Client) -> None:
    missing = await client.get("/v1/whoami")
    assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
    unknown = await client.get("/v1/whoami", headers={"Authorization": "Bearer gw_nope"})
    assert unknown.status_code == 401 and unknown.json()["code"] == "unauthorized"


async def test_live_is_for_admin_keys_only(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"])
    path = f"/v1/campaigns/{campaign['id']}/live"
    assert (await client.get(path)).status_code == 401
    for role in ("clerk", "front", "checkout"):
        refused = await client.get(path, headers=auth[role])
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden", role
    assert (await client.get(path, headers=auth["admin"])).status_code == 200


async def test_live_of_an_unknown_campaign_is_404_and_of_a_draft_its_stock(
    client: Client, auth: Auth
) -> None:
    unknown = await client.get("/v1/campaigns/cmp_nope/live", headers=auth["admin"])
    assert unknown.status_code == 404 and unknown.json()["code"] == "campaign_not_found"
    bad = await client.get("/v1/campaigns/%3Cscript%3E/live", headers=auth["admin"])
    assert bad.status_code == 404
    draft = await client.post("/v1/campaigns", json=campaign_body(stock=40), headers=auth["admin"])
    live = await client.get(f"/v1/campaigns/{draft.json()['id']}/live", headers=auth["admin"])
    assert live.status_code == 200
    body = live.json()
    assert body["status"] == "draft"
    assert (body["stock_total"], body["remaining"], body["claimed"]) == (40, 40, 0)
    assert body["refusals"] == {}


async def test_live_counts_claims_and_refusals_by_reason(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=2, per_member_limit=1)
    cid = campaign["id"]
    first = unique()
    assert (await claim(client, auth, cid, first)).status_code == 201
    assert (await claim(client, auth, cid, first)).json()["code"] == "limit_reached"
    assert (await claim(client, auth, cid, unique())).status_code == 201
    for _ in range(2):
        assert (await claim(client, auth, cid, unique())).json()["code"] == "sold_out"
    granted = await client.post(
        f"/v1/campaigns/{cid}/grants",
        json={"member_ids": [unique()], "channel": "store"},
        headers=auth["clerk"],
    )
    assert granted.json()["rejected"][0]["reason"] == "sold_out"
    await client.post(f"/v1/campaigns/{cid}/pause", headers=auth["admin"])
    assert (await claim(client, auth, cid, unique())).json()["code"] == "not_live"

    live = await client.get(f"/v1/campaigns/{cid}/live", headers=auth["admin"])
    assert live.status_code == 200
    body = live.json()
    assert body["campaign_id"] == cid and body["status"] == "paused"
    assert (body["stock_total"], body["remaining"], body["claimed"]) == (2, 0, 2)
    assert body["refusals"] == {"limit_reached": 1, "sold_out": 3, "not_live": 1}
    assert "T" in body["at"]  # RFC 3339: the moment the counters were read


async def test_live_follows_stock_changes(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=5)
    cid = campaign["id"]
    await claim(client, auth, cid, unique())
    await client.post(f"/v1/campaigns/{cid}/stock", json={"delta": 10}, headers=auth["admin"])
    body = (await client.get(f"/v1/campaigns/{cid}/live", headers=auth["admin"])).json()
    assert (body["stock_total"], body["remaining"], body["claimed"]) == (15, 14, 1)


class NoPostgres:
    """Stands in for the app's pool: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the live view used Postgres ({name})")


async def test_live_of_a_published_campaign_reads_no_postgres(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=3)
    cid = campaign["id"]
    await claim(client, auth, cid, unique())
    await client.get("/v1/whoami", headers=auth["admin"])  # the key is in the cache
    app: Any = client.app
    pool = app.state.pool
    app.state.pool = NoPostgres()
    try:
        live = await client.get(f"/v1/campaigns/{cid}/live", headers=auth["admin"])
    finally:
        app.state.pool = pool
    assert live.status_code == 200, live.text
    assert live.json()["claimed"] == 1


async def test_claims_of_unknown_campaigns_count_no_refusals(
    client: Client, auth: Auth, redis_client: redis.Redis
) -> None:
    cid = "cmp_" + unique("x").replace("-", "")
    assert (await claim(client, auth, cid, unique())).status_code == 404
    assert await redis_client.exists(refusals_key(cid)) == 0


async def test_tiers_are_listed_for_admins(client: Client, auth: Auth) -> None:
    policy = {
        "percent_off": 1200,
        "birthday_percent_off": 2500,
        "points_per_yuan": 2,
        "coupons_on_member_price": True,
    }
    put = await client.put("/v1/tiers/gold", json=policy, headers=auth["admin"])
    assert put.status_code == 200, put.text
    listed = await client.get("/v1/tiers", headers=auth["admin"])
    assert listed.status_code == 200
    gold = [t for t in listed.json()["tiers"] if t["tier"] == "gold"]
    assert len(gold) == 1 and gold[0]["percent_off"] == 1200 and gold[0]["points_per_yuan"] == 2
    assert (await client.get("/v1/tiers", headers=auth["clerk"])).status_code == 403


async def test_the_console_page_is_served_with_the_page_security_headers(client: Client) -> None:
    zh = await client.get("/console", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in zh.headers["content-security-policy"]
    assert zh.headers["x-content-type-options"] == "nosniff"
    assert "登录后台" in zh.text and "/static/console/console.js" in zh.text
    assert "<script>" not in zh.text  # no inline script: the messages ride in data-messages
    en = await client.get("/console", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Sign in" in en.text
    script = await client.get("/static/console/console.js")
    assert script.status_code == 200 and "sessionStorage" in script.text
    assert ".innerHTML" not in script.text  # data reaches the page as textContent
