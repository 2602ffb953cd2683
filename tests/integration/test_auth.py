"""Every /v1 route: no key → 401, unknown key → 401, wrong role → 403, right role → success."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import ROLES, campaign_body, live_campaign, unique

CHECKOUT = ("checkout", "clerk")

# (method, path template, body, roles allowed, success status)
ROUTES: list[tuple[str, str, Any, tuple[str, ...], int]] = [
    ("PUT", "/v1/members/{member}", {"tier": "gold"}, ("admin", "front"), 200),
    ("GET", "/v1/members/{member}", None, ("admin", "front"), 200),
    ("POST", "/v1/members/{member}/tokens", None, ("front", "admin"), 201),
    ("POST", "/v1/campaigns", "campaign", ("admin",), 201),
    ("GET", "/v1/campaigns", None, ("admin",), 200),
    ("GET", "/v1/campaigns/{campaign}", None, ("admin",), 200),
    ("PATCH", "/v1/campaigns/{campaign}", {"name": "renamed"}, ("admin",), 200),
    ("POST", "/v1/campaigns/{draft}/publish", None, ("admin",), 200),
    ("POST", "/v1/campaigns/{campaign}/pause", None, ("admin",), 200),
    ("POST", "/v1/campaigns/{campaign}/close", None, ("admin",), 200),
    ("POST", "/v1/campaigns/{campaign}/resume", None, ("admin",), 200),
    ("POST", "/v1/campaigns/{campaign}/stock", {"delta": 1}, ("admin",), 200),
    ("GET", "/v1/campaigns/{campaign}/link", None, ("admin",), 200),
    ("GET", "/v1/campaigns/{campaign}/qr.svg", None, ("admin",), 200),
    ("GET", "/v1/campaigns/{campaign}/qr.png", None, ("admin",), 200),
    ("POST", "/v1/campaigns/{campaign}/claims", "claim", ("front", "clerk", "admin"), 201),
    ("POST", "/v1/campaigns/{campaign}/grants", "grant", ("clerk", "admin"), 200),
    ("GET", "/v1/coupons/{code}", None, ("admin", "front", "clerk", "checkout"), 200),
    ("GET", "/v1/members/{member}/coupons", None, ("admin", "front", "clerk"), 200),
    ("POST", "/v1/coupons/{fresh_code}/transfer", "transfer", ("front", "admin"), 201),
    ("GET", "/v1/coupons/{code}/path", None, ("admin", "front"), 200),
    ("POST", "/v1/coupons/{fresh_code}/revoke", {"reason": "lost"}, ("admin", "clerk"), 200),
    ("POST", "/v1/coupons/{fresh_code}/reissue", {"reason": "lost"}, ("admin", "clerk"), 201),
    ("PUT", "/v1/tiers/{tier}", "tier", ("admin",), 200),
    ("GET", "/v1/tiers", None, ("admin",), 200),
    ("GET", "/v1/whoami", None, ROLES, 200),
    ("GET", "/v1/campaigns/{campaign}/live", None, ("admin",), 200),
    ("POST", "/v1/checkout/quote", "cart", CHECKOUT, 200),
    ("POST", "/v1/checkout/redemptions", "order", CHECKOUT, 201),
    ("GET", "/v1/checkout/redemptions/{order}", None, CHECKOUT, 200),
    ("POST", "/v1/checkout/redemptions/{order}/commit", None, CHECKOUT, 200),
    ("POST", "/v1/checkout/redemptions/{order}/cancel", None, CHECKOUT, 200),
    ("POST", "/v1/checkout/redemptions/{committed}/refund", {"lines": []}, CHECKOUT, 200),
    ("PUT", "/v1/programme", {}, ("admin",), 200),
    ("GET", "/v1/programme", None, ("admin",), 200),
    ("POST", "/v1/tiers/review", None, ("admin",), 200),
    ("GET", "/v1/members/{member}/points", None, ("admin", "front", "clerk"), 200),
    ("GET", "/v1/members/{member}/points/history", None, ("admin", "front", "clerk"), 200),
    ("POST", "/v1/members/{member}/points/adjustments", {"points": 5, "reason": "x"}, ("admin",),
     201),
    ("POST", "/v1/members/{member}/points/transfers", "points", ("front", "admin"), 201),
    ("GET", "/v1/points/expiring", None, ("admin",), 200),
    ("GET", "/v1/members/{member}/rewards", None, ("admin", "front"), 200),
    ("GET", "/v1/campaigns/{campaign}/funnel", None, ("admin",), 200),
    ("GET", "/v1/jobs/{job}", None, ("admin",), 200),
    ("GET", "/v1/jobs", None, ("admin",), 200),
    ("GET", "/v1/segments/rfm", None, ("admin",), 200),
    ("POST", "/v1/segments", {"name": "auth", "filter": {"orders": {"min": 1}}}, ("admin",), 201),
    ("GET", "/v1/segments", None, ("admin",), 200),
    ("POST", "/v1/segments/preview", {"filter": {"tiers": ["gold"]}}, ("admin",), 200),
    ("GET", "/v1/segments/{segment}", None, ("admin",), 200),
    ("GET", "/v1/segments/{segment}/members", None, ("admin",), 200),
    ("GET", "/v1/reports/clerks", None, ("admin",), 200),
    ("GET", "/v1/reports/referrals", None, ("admin",), 200),
    ("GET", "/v1/reports/points", None, ("admin",), 200),
    ("GET", "/v1/reports/members", None, ("admin",), 200),
    ("POST", "/v1/campaigns/{exchange}/exchanges", "exchange", ("front", "clerk", "admin"), 201),
]  # fmt: skip
# The policy test_tiers.py sets for diamond, so that the two never disagree.
DIAMOND = {"percent_off": 2000, "birthday_percent_off": 2500, "points_per_yuan": 2,
           "coupons_on_member_price": True}  # fmt: skip


def test_the_matrix_covers_every_v1_route(client: AsyncTestClient[Any]) -> None:
    def norm(path: str) -> str:
        for name in ("member", "campaign", "draft", "code", "fresh_code", "tier", "order",
                     "exchange", "job", "segment"):  # fmt: skip
            path = path.replace("{" + name + "}", "{}")
        path = path.replace("{committed}", "{}")
        for name in ("member_id:str", "campaign_id:str", "code:str", "tier:str", "order_id:str",
                     "job_id:str", "segment_id:str"):  # fmt: skip
            path = path.replace("{" + name + "}", "{}")
        return path

    covered = {(method, norm(path)) for method, path, *_ in ROUTES}
    present = {
        (method, norm(route.path))
        for route in client.app.routes
        if route.path.startswith("/v1")
        for method in route.methods - {"OPTIONS", "HEAD"}  # type: ignore[attr-defined]
    }
    missing = present - covered
    assert not missing, f"routes without an auth test: {sorted(missing)}"


@pytest.mark.parametrize(("method", "path", "body", "roles", "ok"), ROUTES)
async def test_roles(
    client: AsyncTestClient[Any],
    auth: dict[str, dict[str, str]],
    db: asyncpg.Pool,
    method: str,
    path: str,
    body: Any,
    roles: tuple[str, ...],
    ok: int,
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=1000, per_member_limit=10)
    member = unique()
    await client.put(f"/v1/members/{member}", json={"tier": "gold"}, headers=auth["admin"])
    claimed = await client.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": member, "channel": "online"},
        headers=auth["admin"],
    )
    code = claimed.json()["code"]
    if path.endswith("/resume"):
        await client.post(f"/v1/campaigns/{campaign['id']}/pause", headers=auth["admin"])
    draft = await client.post("/v1/campaigns", json=campaign_body(), headers=auth["admin"])
    friend = unique()
    await client.put(f"/v1/members/{friend}", json={"tier": "standard"}, headers=auth["admin"])
    cart = {"member_id": member, "channel": "online", "coupon_codes": [],
            "lines": [{"sku": "A", "category": "tops", "unit_price": 100, "qty": 1}]}  # fmt: skip
    orders = {"order": "", "committed": ""}
    for name in orders:
        if "{" + name + "}" in path:
            orders[name] = unique("o")
            held = await client.post(
                "/v1/checkout/redemptions",
                json={**cart, "order_id": orders[name]},
                headers=auth["checkout"],
            )
            assert held.status_code == 201, held.text
    if orders["committed"]:
        committed = await client.post(
            f"/v1/checkout/redemptions/{orders['committed']}/commit", headers=auth["checkout"]
        )
        assert committed.status_code == 200, committed.text

    exchange = ""
    if "{exchange}" in path or "points/transfers" in path:
        # Points to spend or give, a campaign to exchange them for, and (for a transfer) a
        # programme that lets members give points, until the end of the test.
        adjusted = await client.post(
            f"/v1/members/{member}/points/adjustments",
            json={"points": 1000, "reason": "auth test"},
            headers=auth["admin"],
        )
        assert adjusted.status_code == 201, adjusted.text
        exchange = (
            await live_campaign(
                client, auth["admin"], stock=100, per_member_limit=10, points_price=10
            )
        )["id"]
        await db.execute(
            "INSERT INTO programme (id, body, version) VALUES (true, $1, 1) ON CONFLICT (id) "
            "DO UPDATE SET body = $1, version = programme.version + 1",
            {"points": {"transferable": True}},
        )

    job = ""
    if "{job}" in path:  # a finished grant job of nobody (tests/integration/test_grant_jobs.py)
        job = unique("job")
        await db.execute(
            "INSERT INTO jobs (id, kind, campaign_id, state, started_at, finished_at) "
            "VALUES ($1, 'grant', $2, 'done', now(), now())",
            job,
            campaign["id"],
        )

    segment = ""
    if "{segment}" in path:  # a saved segment (tests/integration/test_segments.py)
        segment = unique("seg")
        await db.execute(
            "INSERT INTO segments (id, name, filter, created_at) VALUES ($1, 'auth', $2, now())",
            segment,
            {"tiers": ["gold"]},
        )

    async def target() -> str:
        fresh = code
        if "{fresh_code}" in path:  # a transfer, revoke or reissue succeeds once per coupon
            claimed = await client.post(
                f"/v1/campaigns/{campaign['id']}/claims",
                json={"member_id": member, "channel": "online"},
                headers=auth["admin"],
            )
            fresh = claimed.json()["code"]
        return path.format(
            member=member,
            campaign=campaign["id"],
            code=code,
            fresh_code=fresh,
            draft=draft.json()["id"],
            tier="diamond",
            exchange=exchange,
            job=job,
            segment=segment,
            **orders,
        )

    url = await target()

    def payload() -> Any:
        if body == "campaign":
            return campaign_body()
        if body == "claim":
            return {"member_id": unique(), "channel": "online"}
        if body == "grant":
            return {"member_ids": [unique()], "channel": "store"}
        if body == "transfer":
            return {"from_member_id": member, "to_member_id": friend}
        if body == "tier":
            return DIAMOND
        if body == "cart":
            return cart
        if body == "order":
            return {**cart, "order_id": unique("o")}
        if body == "points":
            return {"to_member_id": friend, "points": 1}
        if body == "exchange":
            return {"member_id": member, "channel": "online"}
        return body

    no_key = await client.request(method, url, json=payload())
    assert no_key.status_code == 401 and no_key.json()["code"] == "unauthorized"
    bad_key = await client.request(
        method, url, json=payload(), headers={"Authorization": "Bearer gw_not-a-key"}
    )
    assert bad_key.status_code == 401 and bad_key.json()["code"] == "unauthorized"
    for role in ROLES:
        if role in roles:
            continue
        refused = await client.request(method, url, json=payload(), headers=auth[role])
        assert refused.status_code == 403, (role, refused.text)
        assert refused.json()["code"] == "forbidden"
    try:
        for role in roles:
            allowed = await client.request(
                method, await target(), json=payload(), headers=auth[role]
            )
            assert allowed.status_code == ok, (role, allowed.text)
    finally:
        if exchange or path == "/v1/programme":
            await db.execute(  # the defaults again, at a newer version (caches reload)
                "UPDATE programme SET body = '{}', version = version + 1"
            )


async def test_health_ready_and_metrics_need_no_key(client: AsyncTestClient[Any]) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "gateway_requests_total" in metrics.text
    assert "gateway_request_seconds_bucket" in metrics.text


async def test_openapi_schema_is_served(client: AsyncTestClient[Any]) -> None:
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert "/v1/campaigns/{campaign_id}/claims" in schema.json()["paths"]
    # The quote is a raw ASGI route too: documented with its body and answer all the same.
    operation = schema.json()["paths"]["/v1/checkout/quote"]["post"]
    assert operation["operationId"] == "quoteCart"
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    components = schema.json()["components"]["schemas"]
    assert "coupon_codes" in components[body.rsplit("/", 1)[-1]]["properties"]
    assert "coupon_discount" in components[answer.rsplit("/", 1)[-1]]["properties"]
    operation = schema.json()["paths"]["/v1/checkout/redemptions"]["post"]
    assert operation["operationId"] == "reserveRedemption" and "201" in operation["responses"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "order_id" in components[body.rsplit("/", 1)[-1]]["properties"]
