"""The claim pipeline's own Redis client (`native/src/claimpipe`, redis-rs): scripts flushed
under it, URLs it refuses, and on a Redis Cluster (`GATEWAY_REDIS_CLUSTER=1`, `make cluster`)
calls routed by slot and followed through a slot moved by hand (ASK while it migrates, MOVED
once it has)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg
import pytest
import redis
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from gateway.native import ClaimPipe, key_slot, meta_key
from gateway.settings import get_settings
from tests.conftest import live_campaign, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

on_cluster = pytest.mark.skipif(
    not get_settings().redis_cluster, reason="needs GATEWAY_REDIS_CLUSTER=1 (make cluster)"
)


async def claim(client: Client, auth: Auth, campaign_id: str, member: str) -> Any:
    return await client.post(
        f"/v1/campaigns/{campaign_id}/claims",
        json={"member_id": member, "channel": "online"},
        headers=auth["front"],
    )


async def claims_of(db: asyncpg.Pool, campaign_id: str) -> int:
    count = await db.fetchval("SELECT count(*) FROM coupons WHERE campaign_id = $1", campaign_id)
    return int(count)


async def test_claims_go_on_after_the_scripts_are_flushed(
    client: Client, auth: Auth, db: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=50)
    first = await claim(client, auth, campaign["id"], unique())
    assert first.status_code == 201, first.text
    await redis_client.script_flush()  # every node's, on a cluster
    # The next round trip meets NOSCRIPT, loads the script and runs the same calls again.
    after = await asyncio.gather(
        *(claim(client, auth, campaign["id"], unique()) for _ in range(20))
    )
    assert [r.status_code for r in after] == [201] * 20, [r.text for r in after]
    assert await claims_of(db, campaign["id"]) == 21


@pytest.mark.parametrize(
    ("redis_url", "database_url", "says"),
    [
        ("redis://127.0.0.1:notaport", "postgresql://h/db", "port"),
        ("redis://127.0.0.1/x", "postgresql://h/db", "database"),
        ("http://127.0.0.1", "postgresql://h/db", "redis://"),
        ("rediss://127.0.0.1?ssl_cert_reqs=maybe", "postgresql://h/db", "ssl_cert_reqs"),
        ("rediss://127.0.0.1?ssl_ca_certs=/nonexistent.pem", "postgresql://h/db", "ssl_ca_certs"),
        ("redis://127.0.0.1", "postgresql://h/db?sslmode=sometimes", "sslmode"),
        ("redis://127.0.0.1", "postgresql://h/db?sslmode=verify-full", "sslrootcert"),
    ],
)
def test_a_url_the_pipeline_cannot_use_is_a_value_error_naming_why(
    redis_url: str, database_url: str, says: str
) -> None:
    fd = os.eventfd(0)
    try:
        with pytest.raises(ValueError, match=says):
            ClaimPipe(
                redis_url=redis_url,
                database_url=database_url,
                script_sha="0" * 40,
                script_source="return 1",
                idempotency_ttl_s=60,
                wait_for_ledger=True,
                writers=1,
                batch_max=10,
                wake_fd=fd,
            )
    finally:
        os.close(fd)


# -- Redis Cluster ---------------------------------------------------------------------------


def masters() -> dict[str, redis.Redis]:
    """Node id -> a client of each master of the cluster GATEWAY_REDIS_URL names."""
    seed = redis.Redis.from_url(get_settings().redis_url)
    out: dict[str, redis.Redis] = {}
    for line in seed.execute_command("CLUSTER", "NODES").decode().splitlines():
        node_id, addr, flags = line.split()[:3]
        if "master" in flags.split(","):
            host, port = addr.split("@")[0].rsplit(":", 1)
            out[node_id] = redis.Redis(host=host, port=int(port))
    seed.close()
    return out


def owner(nodes: dict[str, redis.Redis], slot: int) -> str:
    """The id of the master serving `slot`, as the first node sees it."""
    for start, end, master, *_ in next(iter(nodes.values())).execute_command("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            return str(master[2].decode())
    raise AssertionError(f"no master serves slot {slot}")


@on_cluster
async def test_claims_of_campaigns_on_every_master_are_routed_by_slot(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    nodes = masters()
    assert len(nodes) >= 3
    campaigns = [await live_campaign(client, auth["admin"], stock=5) for _ in range(12)]
    served = {owner(nodes, key_slot(meta_key(c["id"]))) for c in campaigns}
    assert len(served) >= 2, "twelve random ids all on one master"
    responses = await asyncio.gather(
        *(claim(client, auth, c["id"], unique()) for c in campaigns for _ in range(7))
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 12 * 5 and codes.count(409) == 12 * 2, codes
    for c in campaigns:
        assert await claims_of(db, c["id"]) == 5


@on_cluster
async def test_a_slot_moved_by_hand_is_followed_through_ask_and_moved(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=100)
    cid = campaign["id"]
    assert (await claim(client, auth, cid, unique())).status_code == 201
    nodes = masters()
    slot = key_slot(meta_key(cid))
    source_id = owner(nodes, slot)
    target_id = next(i for i in nodes if i != source_id)
    source, target = nodes[source_id], nodes[target_id]
    target_addr = target.connection_pool.connection_kwargs
    target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    keys = source.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
    assert keys
    source.execute_command(
        "MIGRATE", target_addr["host"], target_addr["port"], "", 0, 5000, "KEYS", *keys
    )
    # Migrating: the source answers ASK for the keys it no longer holds; the pipeline sends
    # ASKING + the call to the target, where it runs: the target's run id is not the one the
    # hot state was built on, so the script refuses `stale_hot_state` (a 503 "rebuilt"; a call
    # the pipeline failed to deliver would answer "Redis is unavailable").
    asked = await asyncio.gather(*(claim(client, auth, cid, unique()) for _ in range(5)))
    assert all(r.status_code == 503 and "rebuilt" in r.text for r in asked), [r.text for r in asked]
    for node in nodes.values():
        node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    assert owner(nodes, slot) == target_id
    # Moved: the source answers MOVED; the pipeline updates its map and sends the calls on,
    # through the rebuild of the campaign on its new node.
    rebuilt = await claims_through_a_rebuild(client, auth, cid, 5)
    after = await asyncio.gather(*(claim(client, auth, cid, unique()) for _ in range(10)))
    assert [r.status_code for r in after] == [201] * 10, [r.text for r in after]
    assert await claims_of(db, cid) == 1 + rebuilt + 10
    for node in nodes.values():
        node.close()


async def claims_through_a_rebuild(client: Client, auth: Auth, cid: str, n: int) -> int:
    """Claims until `n` succeeded; each refusal must be the rebuild's. Returns the 201s."""
    granted = 0
    for _ in range(200):
        response = await claim(client, auth, cid, unique())
        if response.status_code == 201:
            granted += 1
            if granted == n:
                return granted
            continue
        assert response.status_code == 503 and "rebuilt" in response.text, response.text
        await asyncio.sleep(0.05)  # the rebuild runs in the background
    raise AssertionError("the campaign was not rebuilt on its new node")
