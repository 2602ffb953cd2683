"""What the outside fuzzer (tests/fuzz) found, kept as plain regression tests."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import campaign_body, live_campaign


async def test_a_campaign_name_with_nul_is_400_naming_the_field_not_500(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]
) -> None:
    # Postgres text cannot hold NUL: asyncpg raised CharacterNotInRepertoireError (500).
    created = await client.post(
        "/v1/campaigns", json=campaign_body(name="a\x00b"), headers=auth["admin"]
    )
    assert created.status_code == 400, created.text
    assert created.json()["code"] == "invalid_request"
    assert created.json()["detail"].startswith("name:")
    campaign = await live_campaign(client, auth["admin"])
    edited = await client.patch(
        f"/v1/campaigns/{campaign['id']}", json={"name": "\x00"}, headers=auth["admin"]
    )
    assert edited.status_code == 400, edited.text
