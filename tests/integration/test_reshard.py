"""`gateway move-slot` (gateway/store/reshard.py) on a Redis Cluster (`GATEWAY_REDIS_CLUSTER=1`,
`make test-cluster`): a campaign's slot moved to another master keeps taking claims there without
a rebuild (the target's run id listed in its meta), and the CLI refuses what it cannot move."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from gateway.cli import main
from gateway.native import key_slot, meta_key, refusals_key
from gateway.settings import get_settings
from gateway.store.redis import create_client
from gateway.store.reshard import masters, move_slot
from tests.conftest import live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

pytestmark = pytest.mark.skipif(
    not get_settings().redis_cluster, reason="needs GATEWAY_REDIS_CLUSTER=1 (make cluster)"
)


async def claim(client: Client, auth: Auth, campaign_id: str) -> Any:
    return await client.post(
        f"/v1/campaigns/{campaign_id}/claims",
        json={"member_id": unique(), "channel": "online"},
        headers=auth["front"],
    )


async def test_a_slot_moved_by_move_slot_takes_claims_on_its_new_master_without_a_rebuild(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    cid = (await live_campaign(client, auth["admin"], stock=50))["id"]
    assert (await claim(client, auth, cid)).status_code == 201
    redis = create_client(get_settings().redis_url, cluster=True)
    try:
        slot = key_slot(meta_key(cid))
        nodes = await masters(redis)
        source = next(m for m in nodes.values() if m.serves(slot))
        target = next(m for m in nodes.values() if m is not source)
        before = (await redis.hget(meta_key(cid), "run_id")).decode()
        assert await move_slot(redis, slot, target.node_id) >= 3  # meta, members, ledger, ...
        assert (await masters(redis))[target.node_id].serves(slot)
        listed = (await redis.hget(meta_key(cid), "run_id")).decode().split(",")
        assert listed[0] == before and len(listed) == 2 and listed[1] != before
        answers = [await claim(client, auth, cid) for _ in range(10)]
        assert [r.status_code for r in answers] == [201] * 10, [r.text for r in answers]
        assert await redis.hget(refusals_key(cid), "stale_hot_state") is None
        assert await move_slot(redis, slot, target.node_id) == 0  # already there
        # And back: the source's run id is listed already, nothing is added twice.
        await move_slot(redis, slot, source.node_id)
        assert (await redis.hget(meta_key(cid), "run_id")).decode().split(",") == listed
        assert (await claim(client, auth, cid)).status_code == 201
    finally:
        await redis.aclose()
    count = await db.fetchval("SELECT count(*) FROM coupons WHERE campaign_id = $1", cid)
    assert count == 12


def test_move_slot_refuses_a_bad_slot_or_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["move-slot", "16384", "x"]) == 2
    assert "0..16383" in capsys.readouterr().err
    assert main(["move-slot", "5", "not-a-node"]) == 2
    assert "not a master" in capsys.readouterr().err
