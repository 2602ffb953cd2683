"""The served OpenAPI document says what a client needs to reach every operation."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient


async def _document(client: AsyncTestClient[Any]) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


async def test_every_v1_operation_names_the_roles_its_bearer_key_needs(
    client: AsyncTestClient[Any],
) -> None:
    document = await _document(client)
    assert document["components"]["securitySchemes"]["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["BearerAuth"]["description"],
    }
    operations = {
        op["operationId"]: (path, op)
        for path, item in document["paths"].items()
        for op in item.values()
    }
    for operation_id, (path, operation) in operations.items():
        if path.startswith("/v1/"):
            (requirement,) = operation["security"]
            assert requirement["BearerAuth"], operation_id
            assert {"401", "403"} <= set(operation["responses"]), operation_id
        else:
            assert operation["security"] == [], operation_id
    assert operations["quoteCart"][1]["security"] == [{"BearerAuth": ["checkout", "clerk"]}]
    assert operations["claimCoupon"][1]["security"] == [{"BearerAuth": ["front", "clerk", "admin"]}]
    assert operations["createCampaign"][1]["security"] == [{"BearerAuth": ["admin"]}]


async def test_links_walk_from_a_new_campaign_to_a_committed_order(
    client: AsyncTestClient[Any],
) -> None:
    document = await _document(client)
    links = {
        op["operationId"]: {
            target for response in op["responses"].values() for target in response.get("links", {})
        }
        for item in document["paths"].values()
        for op in item.values()
    }
    assert "publishCampaign" in links["createCampaign"]
    assert "claimCoupon" in links["publishCampaign"]
    assert {"quoteCart", "reserveRedemption"} <= links["claimCoupon"]
    assert "commitRedemption" in links["reserveRedemption"]
    claim = document["paths"]["/v1/campaigns/{campaign_id}/claims"]["post"]
    reserve = claim["responses"]["201"]["links"]["reserveRedemption"]
    assert reserve["requestBody"] == {
        "member_id": "$response.body#/member_id",
        "coupon_codes": ["$response.body#/code"],
    }


async def test_request_bodies_are_documented_as_msgspec_decodes_them(
    client: AsyncTestClient[Any],
) -> None:
    document = await _document(client)
    schemas = document["components"]["schemas"]
    for name in ("CampaignCreate", "Cart", "RedemptionCreate", "GrantRequest", "ClaimRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    # constraints inside lists and integer bounds as integers (Litestar's own schemas lose both)
    assert schemas["GrantRequest"]["properties"]["member_ids"]["items"]["pattern"]
    assert schemas["CampaignCreate"]["properties"]["stock"]["minimum"] == 1
    claim = document["paths"]["/v1/campaigns/{campaign_id}/claims"]["post"]
    body = claim["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ClaimRequest"}
    token = schemas["ClaimRequest"]["properties"]["token"]["anyOf"]
    assert {"type": "string", "maxLength": 200} in token


async def test_every_operation_is_described_by_its_route_docstring(
    client: AsyncTestClient[Any],
) -> None:
    document = await _document(client)
    operations = {
        op["operationId"]: op for item in document["paths"].values() for op in item.values()
    }
    undescribed = sorted(name for name, op in operations.items() if not op.get("description"))
    assert undescribed == []
    assert operations["createCampaign"]["description"] == "Creates a campaign in `draft`."
    # The raw quote route is documented from a typed stub: its docstring too.
    assert operations["quoteCart"]["description"].startswith("Prices a cart with its coupon codes")
