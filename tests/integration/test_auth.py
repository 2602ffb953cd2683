"""Every /v1 route: no key → 401, unknown key → 401, wrong role → 403, right role → success."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import ROLES, campaign_body, live_campaign, unique

# (method, path template, body, roles allowed, success status)
ROUTES: list[tuple[str, str, Any, tuple[str, ...], int]] = [
    ("PUT", "/v1/members/{member}", {"tier": "gold"}, ("admin", "front"), 200),
    ("GET", "/v1/members/{member}", None, ("admin", "front"), 200),
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
]


def test_the_matrix_covers_every_v1_route(client: AsyncTestClient[Any]) -> None:
    def norm(path: str) -> str:
        for name in ("member", "campaign", "draft", "code"):
            path = path.replace("{" + name + "}", "{}")
        for name in ("member_id:str", "campaign_id:str", "code:str"):
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
    url = path.format(member=member, campaign=campaign["id"], code=code, draft=draft.json()["id"])

    def payload() -> Any:
        if body == "campaign":
            return campaign_body()
        if body == "claim":
            return {"member_id": unique(), "channel": "online"}
        if body == "grant":
            return {"member_ids": [unique()], "channel": "store"}
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
    for role in roles:
        allowed = await client.request(method, url, json=payload(), headers=auth[role])
        assert allowed.status_code == ok, (role, allowed.text)


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
