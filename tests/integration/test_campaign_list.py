"""The campaign list (API.md v1.1 "Campaigns (additions)"): newest first, filtered by status
and name, paged by an opaque cursor, in a constant number of round trips per page."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient

from gateway.campaigns.services import CampaignService
from gateway.settings import get_settings
from gateway.store.redis import Scripts, create_client
from tests.conftest import live_campaign, unique

# 120 campaigns in one statement, every third live (without hot state: its stats come from the
# ledger), the others drafts; created in seven distinct instants, so that many share one and
# the list's tie-break (id) is walked too.
GENERATE = """
INSERT INTO campaigns (id, name, kind, amount_off, min_spend, scope, channels,
                       claim_starts_at, claim_ends_at, validity, stock_total, per_member_limit,
                       transferable, stackable, low_stock_threshold, status, created_at)
SELECT $1 || '-' || i, 'List ' || $1 || ' #' || i, 'threshold', 1000, 5000,
       '{"skus": [], "categories": [], "stores": []}'::jsonb, ARRAY['online', 'store'],
       now() - interval '1 hour', now() + interval '1 day',
       '{"mode": "relative", "days": 7}'::jsonb, 10, 1, true, false, 0,
       CASE WHEN i % 3 = 0 THEN 'live' ELSE 'draft' END,
       now() - (i % 7) * interval '1 second'
FROM generate_series(1, $2) AS i
"""
NEWEST_FIRST = """
SELECT id, status FROM campaigns WHERE id LIKE $1 || '-%' ORDER BY created_at DESC, id DESC
"""


@pytest.fixture
async def generated(db: asyncpg.Pool) -> list[tuple[str, str]]:
    """The ids and statuses of 120 fresh campaigns, newest first; their names hold a token."""
    token = unique("lst")
    await db.execute(GENERATE, token, 120)
    return [(r["id"], r["status"]) for r in await db.fetch(NEWEST_FIRST, token)]


def token_of(generated: list[tuple[str, str]]) -> str:
    return generated[0][0].rsplit("-", 1)[0]


async def walk(
    client: AsyncTestClient[Any], admin: dict[str, str], **params: Any
) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        query = {**params, **({"before": cursor} if cursor else {})}
        r = await client.get("/v1/campaigns", params=query, headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["campaigns"])
        cursor = body["next"]
        if cursor is None:
            return pages
        assert len(pages) < 10, "the cursor does not advance"


async def test_paging_through_120_campaigns_50_at_a_time_sees_each_once_newest_first(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]], generated: list[tuple[str, str]]
) -> None:
    pages = await walk(client, auth["admin"], q=token_of(generated), limit=50)
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [c["id"] for p in pages for c in p] == [i for i, _ in generated]


async def test_the_default_page_is_50_and_the_v1_shape_still_has_campaigns(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]], generated: list[tuple[str, str]]
) -> None:
    r = await client.get("/v1/campaigns", params={"q": token_of(generated)}, headers=auth["admin"])
    body = r.json()
    assert len(body["campaigns"]) == 50
    assert isinstance(body["next"], str)
    everything = await client.get("/v1/campaigns", headers=auth["admin"])
    assert everything.status_code == 200
    assert 1 <= len(everything.json()["campaigns"]) <= 50


async def test_status_and_name_filters_combine_and_page(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]], generated: list[tuple[str, str]]
) -> None:
    token = token_of(generated)
    pages = await walk(client, auth["admin"], status="live", q=token.upper(), limit=7)
    seen = [c for p in pages for c in p]
    assert [c["id"] for c in seen] == [i for i, s in generated if s == "live"]
    assert {c["status"] for c in seen} == {"live"}
    one = await client.get("/v1/campaigns", params={"q": f"{token} #42"}, headers=auth["admin"])
    assert [c["id"] for c in one.json()["campaigns"]] == [f"{token}-42"]
    assert one.json()["next"] is None
    none = await client.get("/v1/campaigns", params={"q": f"{token} %_"}, headers=auth["admin"])
    assert none.json() == {"campaigns": [], "next": None}, "LIKE wildcards are plain text"


async def test_listed_stats_are_the_live_counters_like_a_single_read(
    client: AsyncTestClient[Any], auth: dict[str, dict[str, str]]
) -> None:
    name = unique("Stats")
    campaign = await live_campaign(client, auth["admin"], name=name, stock=10, per_member_limit=2)
    claimed = await client.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": unique(), "channel": "online"},
        headers=auth["admin"],
    )
    assert claimed.status_code == 201, claimed.text
    single = (await client.get(f"/v1/campaigns/{campaign['id']}", headers=auth["admin"])).json()
    listed = (await client.get("/v1/campaigns", params={"q": name}, headers=auth["admin"])).json()[
        "campaigns"
    ]
    assert listed == [single]
    assert single["stats"]["remaining"] == 9


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"before": "not a cursor"}, "before"),
        ({"before": "bm9wZQ"}, "before"),  # base64 of "nope"
        ({"before": "OTk5OTk5OTk5OTk5OTk5OTk5OTk6eA"}, "before"),  # a time out of range
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "sleeping"}, "status"),
        ({"q": "a\x00b"}, "q"),
        ({"q": ""}, "q"),
    ],
)
async def test_a_bad_parameter_is_400_invalid_request_naming_it(
    client: AsyncTestClient[Any],
    auth: dict[str, dict[str, str]],
    params: dict[str, str],
    named: str,
) -> None:
    r = await client.get("/v1/campaigns", params=params, headers=auth["admin"])
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_request"
    assert r.json()["detail"].startswith(f"{named}:"), r.text


class CountingPool:
    """The test's pool, counting the statements sent through it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.statements = 0

    async def fetch(self, *args: Any) -> Any:
        self.statements += 1
        return await self.pool.fetch(*args)

    async def fetchrow(self, *args: Any) -> Any:
        self.statements += 1
        return await self.pool.fetchrow(*args)


def counting_redis() -> tuple[redis.Redis, list[int]]:
    """A Redis client counting its round trips (each takes a connection from its pool)."""
    client = create_client(get_settings().redis_url)
    taken = [0]
    get_connection = client.connection_pool.get_connection

    async def counted(*args: Any, **kwargs: Any) -> Any:
        taken[0] += 1
        return await get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]

    client.connection_pool.get_connection = counted  # type: ignore[method-assign]
    return client, taken


async def test_a_page_costs_one_statement_and_one_redis_round_trip_whatever_its_size(
    db: asyncpg.Pool, generated: list[tuple[str, str]]
) -> None:
    token = token_of(generated)
    pool = CountingPool(db)
    client, round_trips = counting_redis()
    try:
        service = CampaignService(pool, client, Scripts())  # type: ignore[arg-type]
        for limit in (3, 50, 120):
            pool.statements, round_trips[0] = 0, 0
            campaigns, _ = await service.list(limit=limit, q=token)
            assert len(campaigns) == limit
            assert any(c.status == "live" for c in campaigns)
            assert (pool.statements, round_trips[0]) == (1, 1), limit
        pool.statements, round_trips[0] = 0, 0
        drafts, _ = await service.list(limit=100, q=token, status="draft")
        assert len(drafts) == 80
        assert (pool.statements, round_trips[0]) == (1, 0), "no published row: no Redis"
    finally:
        await client.aclose()
