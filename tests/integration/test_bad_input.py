"""Malformed input gets the contract's 4xx with a message naming the problem; never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import campaign_body, live_campaign, unique


def assert_invalid(response: Any, field: str | None = None) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_request"
    if field is not None:
        assert field in body["detail"], body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tier": 5}, "tier"),
        ({"tier": "platinum"}, "tier"),
        ({"referred_by": None}, "referred_by"),
        ({"tier": "gold", "extra": 1}, "extra"),
        ({"tier": "gold", "birthday": "13-01"}, "birthday"),
        ({"tier": "gold", "birthday": "02-30"}, "birthday"),
        ({"tier": "gold", "birthday": 1231}, "birthday"),
        ([], None),
        ("gold", None),
        (None, None),
    ],
)
async def test_member_bodies(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]], body: Any, field: str | None
) -> None:
    response = await client.put(f"/v1/members/{unique()}", json=body, headers=auth["admin"])
    assert_invalid(response, field)


@pytest.mark.parametrize(
    "member_id", ["x" * 65, "mémbre", "m 1", "m/1", "会员", "m%00", "'; DROP TABLE members;--"]
)
async def test_bad_ids_in_paths_and_bodies(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]], member_id: str
) -> None:
    from urllib.parse import quote

    response = await client.put(
        f"/v1/members/{quote(member_id, safe='')}", json={"tier": "gold"}, headers=auth["admin"]
    )
    assert response.status_code in (400, 404), response.text
    campaign = await live_campaign(client, auth["admin"])
    claim = await client.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": member_id, "channel": "online"},
        headers=auth["front"],
    )
    assert_invalid(claim, "member_id")


async def test_a_64_character_id_is_fine(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]
) -> None:
    member = "m" * 64
    response = await client.put(
        f"/v1/members/{member}", json={"tier": "gold"}, headers=auth["admin"]
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"stock": -1}, "stock"),
        ({"stock": 0}, "stock"),
        ({"stock": 2**63}, "stock"),
        ({"stock": "10"}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"amount_off": -100}, "amount_off"),
        ({"amount_off": 2**63}, "amount_off"),
        ({"amount_off": None}, "amount_off"),
        ({"kind": "percent", "percent_off": None}, "percent_off"),
        ({"kind": "percent", "percent_off": 10001}, "percent_off"),
        ({"kind": "exchange"}, "sku"),
        ({"kind": "points"}, "points"),
        ({"kind": "bogus"}, "kind"),
        ({"channels": []}, "channels"),
        ({"channels": ["moon"]}, "channels"),
        ({"claim_ends_at": "2020-01-01T00:00:00+08:00"}, "claim_ends_at"),
        ({"claim_starts_at": "2026-11-11T00:00:00"}, "claim_starts_at"),
        ({"claim_starts_at": "yesterday"}, "claim_starts_at"),
        ({"validity": {"mode": "relative"}}, "validity"),
        ({"validity": {"mode": "forever"}}, "validity"),
        ({"validity": {"mode": "relative", "days": 0}}, "days"),
        ({"per_member_limit": 0}, "per_member_limit"),
        ({"scope": {"skus": ["ok", "not ok"]}}, "scope"),
        ({"surprise": True}, "surprise"),
        ({"name": ""}, "name"),
    ],
)
async def test_campaign_bodies(
    client: AsyncTestClient[Any],
    auth: dict[str, dict[str, str]],
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(
        "/v1/campaigns", json=campaign_body(**overrides), headers=auth["admin"]
    )
    assert_invalid(response, field)


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b'{"member_id": "m-1", "channel": "online"', b"\xff\xfe", b"", b"[1,2]"],
)
async def test_invalid_json_is_400(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]], raw: bytes
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    for url, method in [
        (f"/v1/campaigns/{campaign['id']}/claims", "POST"),
        ("/v1/campaigns", "POST"),
        (f"/v1/members/{unique()}", "PUT"),
        (f"/v1/campaigns/{campaign['id']}/grants", "POST"),
        (f"/v1/campaigns/{campaign['id']}/stock", "POST"),
    ]:
        response = await client.request(
            method, url, content=raw, headers={**auth["admin"], "Content-Type": "application/json"}
        )
        assert_invalid(response)


async def test_a_2_mib_body_is_413(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    big = b'{"member_id": "' + b"x" * (2 * 1024 * 1024) + b'", "channel": "online"}'
    for url in (f"/v1/campaigns/{campaign['id']}/claims", "/v1/campaigns"):
        response = await client.post(
            url, content=big, headers={**auth["admin"], "Content-Type": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "request_too_large"


async def test_claim_body_types(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    url = f"/v1/campaigns/{campaign['id']}/claims"
    cases: list[tuple[Any, str]] = [
        ({"member_id": 7, "channel": "online"}, "member_id"),
        ({"channel": "online"}, "member_id"),
        ({"member_id": "m-1"}, "channel"),
        ({"member_id": "m-1", "channel": "phone"}, "channel"),
        ({"member_id": "m-1", "channel": "online", "x": 1}, "x"),
        ({"member_id": "m-1", "channel": "online", "token": 5}, "token"),
    ]
    for body, field in cases:
        assert_invalid(await client.post(url, json=body, headers=auth["front"]), field)


async def test_bad_idempotency_keys(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    url = f"/v1/campaigns/{campaign['id']}/claims"
    for key in ("k" * 129, "tab\there"):
        response = await client.post(
            url,
            json={"member_id": unique(), "channel": "online"},
            headers={**auth["front"], "Idempotency-Key": key},
        )
        assert_invalid(response, "Idempotency-Key")


async def test_unknown_routes_and_methods(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]
) -> None:
    response = await client.get("/v1/nothing-here", headers=auth["admin"])
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    response = await client.delete("/v1/campaigns", headers=auth["admin"])
    assert response.status_code == 405


async def test_grant_bodies(client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]) -> None:
    campaign = await live_campaign(client, auth["admin"])
    url = f"/v1/campaigns/{campaign['id']}/grants"
    for body, field in [
        ({"member_ids": [], "channel": "store"}, "member_ids"),
        ({"member_ids": ["m"] * 1001, "channel": "store"}, "member_ids"),
        ({"member_ids": ["bad id"], "channel": "store"}, "member_ids"),
        ({"member_ids": "m-1", "channel": "store"}, "member_ids"),
    ]:
        assert_invalid(await client.post(url, json=body, headers=auth["clerk"]), field)


async def test_stock_numbers(client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]) -> None:
    campaign = await live_campaign(client, auth["admin"])
    url = f"/v1/campaigns/{campaign['id']}/stock"
    for delta in (2**63, -(2**63), "5", None, 1.5):
        assert_invalid(
            await client.post(url, json={"delta": delta}, headers=auth["admin"]), "delta"
        )


async def test_members_round_trip(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]
) -> None:
    member = unique()
    missing = await client.get(f"/v1/members/{member}", headers=auth["front"])
    assert missing.status_code == 404 and missing.json()["code"] == "member_not_found"
    put = await client.put(
        f"/v1/members/{member}", json={"tier": "silver", "birthday": "02-29"}, headers=auth["admin"]
    )
    assert put.status_code == 200
    got = (await client.get(f"/v1/members/{member}", headers=auth["front"])).json()
    assert got["tier"] == "silver" and got["birthday"] == "02-29"
    assert got["registered_at"].endswith("+08:00")
    # v1.1: only an admin moves a tier; the front may register and update the birthday.
    refused = await client.put(
        f"/v1/members/{member}", json={"tier": "gold"}, headers=auth["front"]
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    again = await client.put(f"/v1/members/{member}", json={"tier": "gold"}, headers=auth["admin"])
    assert again.json()["tier"] == "gold" and again.json()["birthday"] is None
    assert again.json()["registered_at"] == got["registered_at"]
