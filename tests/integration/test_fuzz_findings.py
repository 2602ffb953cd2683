"""What the outside fuzzer (tests/fuzz) found, kept as plain regression tests."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import campaign_body, live_campaign
from tests.integration.test_coupon_revoke import holding


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


async def test_a_revoke_or_reissue_reason_with_nul_is_400_naming_the_field_not_500(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]
) -> None:
    # The reason goes into the event's jsonb detail, which cannot hold NUL (was a 500).
    held, _ = await holding(client, auth)
    for verb in ("revoke", "reissue"):
        for reason in ("lost\x00phone", "\x00"):
            refused = await client.post(
                f"/v1/coupons/{held['code']}/{verb}", json={"reason": reason}, headers=auth["clerk"]
            )
            assert refused.status_code == 400, refused.text
            assert refused.json()["code"] == "invalid_request"
            assert refused.json()["detail"].startswith("reason"), refused.json()
    # Nothing was done: the coupon is still active and can be revoked with a proper reason.
    revoked = await client.post(
        f"/v1/coupons/{held['code']}/revoke", json={"reason": "lost phone"}, headers=auth["clerk"]
    )
    assert revoked.status_code == 200, revoked.text
