"""Every event written on behalf of a request records the name of the request's key as its actor
(API.md v1.1 "Keys"): campaign administration and tier policies too, not only checkout."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from gateway.auth.services import create_key
from tests.conftest import campaign_body, unique
from tests.integration.test_tiers import POLICIES

Client = AsyncTestClient[Any]


async def named_admin(db: asyncpg.Pool) -> tuple[str, dict[str, str]]:
    # Not "admin": the session's admin key is named after its role, which is what the old
    # controllers wrote as a literal, so only a distinct name tells the two apart.
    name = unique("ops Wang Fang")
    key = await create_key(db, "admin", name)
    return name, {"Authorization": f"Bearer {key}"}


async def test_campaign_events_record_the_admin_key_name_as_the_actor(
    client: Client, db: asyncpg.Pool
) -> None:
    name, admin = await named_admin(db)
    created = await client.post("/v1/campaigns", json=campaign_body(), headers=admin)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    path = f"/v1/campaigns/{campaign_id}"
    for verb in ("publish", "pause", "resume"):
        moved = await client.post(f"{path}/{verb}", headers=admin)
        assert moved.status_code == 200, moved.text
    stocked = await client.post(f"{path}/stock", json={"delta": 5}, headers=admin)
    assert stocked.status_code == 200, stocked.text
    edited = await client.patch(path, json={"name": "Double 11, renamed"}, headers=admin)
    assert edited.status_code == 200, edited.text
    closed = await client.post(f"{path}/close", headers=admin)
    assert closed.status_code == 200, closed.text

    rows = await db.fetch(
        "SELECT kind, actor FROM events WHERE campaign_id = $1 ORDER BY id", campaign_id
    )
    kinds = [row["kind"] for row in rows]
    assert kinds == [
        "campaign_created", "publish", "pause", "resume", "stock_change", "campaign_updated",
        "close",
    ]  # fmt: skip
    assert {row["actor"] for row in rows} == {name}, [tuple(row) for row in rows]


async def test_a_tier_policy_event_records_the_admin_key_name_as_the_actor(
    client: Client, db: asyncpg.Pool
) -> None:
    name, admin = await named_admin(db)
    # The same policy test_tiers sets, so tests running beside this one see no change.
    response = await client.put("/v1/tiers/gold", json=POLICIES["gold"], headers=admin)
    assert response.status_code == 200, response.text
    rows = await db.fetch(
        "SELECT detail FROM events WHERE kind = 'tier_policy' AND actor = $1", name
    )
    assert [row["detail"]["tier"] for row in rows] == ["gold"]
