"""Shared fixtures: the app in process against the real Redis and Postgres, keys of each role."""

from __future__ import annotations

import ast
import builtins
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import redis.asyncio as redis
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.auth.services import create_key
from gateway.clock import clock
from gateway.settings import get_settings
from gateway.store.postgres import create_pool, migrate
from gateway.store.redis import create_client, is_cluster, node_of

ROLES = ("admin", "clerk", "front", "checkout")

# CPython 3.11 keeps the AST converters' recursion counter per interpreter, not per thread
# (python/cpython#106905): two threads converting ASTs at once (`ast.parse`, or `compile` of an
# AST object, as pytest's assertion rewriting does) raise "SystemError: AST constructor recursion
# depth mismatch". The app under test runs on its own thread and logs tracebacks (3.11's
# traceback module parses source lines to place its carets) while pytest and hypothesis parse and
# compile on the main thread, so both take one lock here.
_ast_lock = threading.RLock()
_ast_parse = ast.parse
_compile = builtins.compile


def _serialised_parse(*args: Any, **kwargs: Any) -> Any:
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


def _serialised_compile(*args: Any, **kwargs: Any) -> Any:
    with _ast_lock:
        return _compile(*args, **kwargs)


ast.parse = _serialised_parse
builtins.compile = _serialised_compile


@pytest_asyncio.fixture(scope="session")
async def client() -> AsyncIterator[AsyncTestClient[Any]]:
    await migrate(get_settings().database_url)
    async with AsyncTestClient(app=create_app()) as test_client:
        yield test_client


@pytest_asyncio.fixture(scope="session")
async def db() -> AsyncIterator[asyncpg.Pool]:
    """A pool of the test's own (the app runs its lifespan on another loop)."""
    pool = await create_pool(get_settings().database_url, 4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="session")
async def redis_client() -> AsyncIterator[redis.Redis]:
    client = create_client(get_settings().redis_url)
    yield client
    await client.aclose()


@pytest_asyncio.fixture(scope="session")
async def keys(client: AsyncTestClient[Any], db: asyncpg.Pool) -> dict[str, str]:
    # Each named after its role: the actor that events record is the key's name.
    return {role: await create_key(db, role, role) for role in ROLES}


@pytest.fixture(scope="session")
def auth(keys: dict[str, str]) -> dict[str, dict[str, str]]:
    """Headers per role: `auth["admin"]`."""
    return {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}


@pytest.fixture(autouse=True)
def _clock_reset() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


async def run_id_of(client: redis.Redis, key: str) -> str:
    """The run id of the Redis server holding `key` (on a cluster every node has its own)."""
    if not is_cluster(client):
        return str((await client.info("server"))["run_id"])
    await client.ping()  # a cluster client fills its slot table on first use
    node = await node_of(client, key)
    info = await client.info("server", target_nodes=node)
    return str(info["run_id"])


def unique(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def campaign_body(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "name": "Double 11: 100 off 500",
        "kind": "threshold",
        "amount_off": 10000,
        "min_spend": 50000,
        "channels": ["online", "store"],
        "claim_starts_at": (now - timedelta(hours=1)).isoformat(),
        "claim_ends_at": (now + timedelta(days=1)).isoformat(),
        "validity": {"mode": "relative", "days": 7},
        "stock": 100,
        "per_member_limit": 1,
        "transferable": True,
        "stackable": False,
        "low_stock_threshold": 0,
    }
    body.update(overrides)
    return body


async def live_campaign(
    client: AsyncTestClient[Any], admin: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    created = await client.post("/v1/campaigns", json=campaign_body(**overrides), headers=admin)
    assert created.status_code == 201, created.text
    published = await client.post(f"/v1/campaigns/{created.json()['id']}/publish", headers=admin)
    assert published.status_code == 200, published.text
    return dict(published.json())
