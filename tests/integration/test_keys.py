"""API keys through the CLI (`gateway keys create|list|revoke`), revocation, and the actor that
events record (the key's name, or `key:<id>`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway.auth.services import hash_key
from gateway.clock import clock
from gateway.ops.lanes import hot_lanes
from tests.conftest import live_campaign, unique
from tests.integration.test_cli import ROOT, run_gateway

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


def create(role: str, *name: str) -> str:
    """`gateway keys create --role ROLE [--name NAME]`: the key, checked to be all of stdout."""
    created = run_gateway("keys", "create", "--role", role, *(("--name", *name) if name else ()))
    assert created.returncode == 0, created.stderr
    key = created.stdout.removesuffix("\n")
    assert key.startswith("gw_") and "\n" not in key and len(key) > 40, created.stdout
    return key


def listed() -> dict[str, dict[str, str]]:
    """`gateway keys list` as rows by id."""
    shown = run_gateway("keys", "list")
    assert shown.returncode == 0, shown.stderr
    header, *rows = shown.stdout.splitlines()
    assert header.split("\t") == ["id", "role", "name", "created", "revoked"]
    return {row.split("\t")[0]: dict(zip(header.split("\t"), row.split("\t"), strict=True))
            for row in rows}  # fmt: skip


async def key_id(db: asyncpg.Pool, key: str) -> str:
    return str(await db.fetchval("SELECT id FROM api_keys WHERE key_hash = $1", hash_key(key)))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def past_the_key_cache(client: Client) -> Iterator[float]:
    """Seconds to move the clock so that every cached key lookup has expired."""
    yield client.app.state.settings.key_cache_ttl_s + 1
    clock.reset()


async def test_create_prints_only_the_key_and_the_database_keeps_its_hash(
    db: asyncpg.Pool,
) -> None:
    key = create("clerk", "store-12 Li Na")
    row = await db.fetchrow(
        "SELECT role, name, revoked_at FROM api_keys WHERE key_hash = $1", hash_key(key)
    )
    assert dict(row) == {"role": "clerk", "name": "store-12 Li Na", "revoked_at": None}
    stored = await db.fetchval("SELECT count(*) FROM api_keys WHERE key_hash::text LIKE $1", key)
    assert stored == 0


async def test_list_prints_id_role_name_created_and_revoked(db: asyncpg.Pool) -> None:
    named, nameless = create("front", "mall app"), create("checkout")
    rows = listed()
    first, second = rows[await key_id(db, named)], rows[await key_id(db, nameless)]
    assert (first["role"], first["name"], first["revoked"]) == ("front", "mall app", "-")
    assert (second["role"], second["name"], second["revoked"]) == ("checkout", "-", "-")
    assert first["created"][:4].isdigit() and first["created"][-6] in "+-"  # RFC 3339, offset


async def test_revoke_marks_the_key_and_is_harmless_twice(db: asyncpg.Pool) -> None:
    key = create("front")
    ident = await key_id(db, key)
    for _ in range(2):
        revoked = run_gateway("keys", "revoke", ident)
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout == ""
        assert "GATEWAY_KEY_CACHE_TTL_S" in revoked.stderr
    assert listed()[ident]["revoked"] != "-"


def test_refusals_of_the_keys_command() -> None:
    unknown = run_gateway("keys", "revoke", "999999999")
    assert unknown.returncode == 1 and "no key has the id 999999999" in unknown.stderr
    for args in (["create", "--role", "owner"], ["create"], ["revoke", "x"], ["revoke"]):
        refused = run_gateway("keys", *args)
        assert refused.returncode == 2 and refused.stdout == "", args
    for name in ("", "   ", "x" * 101, "tab\there"):
        refused = run_gateway("keys", "create", "--role", "clerk", "--name", name)
        assert refused.returncode == 2 and "--name" in refused.stderr, name
        assert refused.stdout == ""


async def test_a_revoked_key_gets_401(client: Client, db: asyncpg.Pool) -> None:
    key = create("admin", "leaving operator")
    assert run_gateway("keys", "revoke", await key_id(db, key)).returncode == 0
    refused = await client.get("/v1/campaigns", headers=bearer(key))
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"


async def test_a_key_in_use_stops_working_within_the_cache_ttl_of_its_revocation(
    client: Client, db: asyncpg.Pool, past_the_key_cache: float
) -> None:
    key = create("admin")
    assert (await client.get("/v1/campaigns", headers=bearer(key))).status_code == 200
    assert run_gateway("keys", "revoke", await key_id(db, key)).returncode == 0
    # Until its cache entry expires the gateway may still admit it (the documented bound) ...
    assert (await client.get("/v1/campaigns", headers=bearer(key))).status_code in (200, 401)
    clock.advance(past_the_key_cache)
    # ... and never after.
    refused = await client.get("/v1/campaigns", headers=bearer(key))
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"


async def reserve_and_commit(client: Client, admin: dict[str, str], key: str) -> str:
    """An order with one coupon reserved and committed with `key`; its id."""
    member = unique()
    campaign = await live_campaign(client, admin, stock=10)
    claimed = await client.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": member, "channel": "online"},
        headers=admin,
    )
    assert claimed.status_code == 201, claimed.text
    order = unique("o")
    line = {"sku": "A", "category": "tops", "unit_price": 60000, "qty": 1}
    cart = {"member_id": member, "channel": "online", "lines": [line],
            "coupon_codes": [claimed.json()["code"]], "order_id": order}  # fmt: skip
    reserved = await client.post("/v1/checkout/redemptions", json=cart, headers=bearer(key))
    assert reserved.status_code == 201, reserved.text
    committed = await client.post(f"/v1/checkout/redemptions/{order}/commit", headers=bearer(key))
    assert committed.status_code == 200, committed.text
    return order


async def order_actors(db: asyncpg.Pool, order: str) -> dict[str, str]:
    rows = await db.fetch("SELECT kind, actor FROM events WHERE order_id = $1", order)
    return {row["kind"]: row["actor"] for row in rows}


async def test_events_record_the_key_name_as_the_actor(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    key = create("clerk", "store-12 Li Na")
    order = await reserve_and_commit(client, auth["admin"], key)
    assert await order_actors(db, order) == {
        "reserve": "store-12 Li Na",
        "redeem": "store-12 Li Na",
    }


async def test_a_key_without_a_name_is_recorded_by_its_id(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    key = create("checkout")
    order = await reserve_and_commit(client, auth["admin"], key)
    label = f"key:{await key_id(db, key)}"
    assert await order_actors(db, order) == {"reserve": label, "redeem": label}


class _ClockMovingBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A request body that moves the clock past the key cache's TTL as the gateway reads it:
    after the role check, before the handler writes its events."""

    def __init__(self, body: bytes, seconds: float) -> None:
        self.body, self.seconds = body, seconds

    def __iter__(self) -> Iterator[bytes]:
        clock.advance(self.seconds)
        yield self.body


@pytest.mark.parametrize("lane", [True, False], ids=["hot lane", "router"])
async def test_the_actor_is_the_one_authenticated_even_if_the_key_cache_expires_meanwhile(
    client: Client, auth: Auth, db: asyncpg.Pool, past_the_key_cache: float, lane: bool
) -> None:
    # Before the fix the events of such a request said actor "None": the reserve re-read the
    # key cache after reading the body, and the entry had expired in between.
    app: Any = client.app
    key = create("clerk", "till 3")
    member = unique()
    campaign = await live_campaign(client, auth["admin"], stock=10)
    claimed = await client.post(
        f"/v1/campaigns/{campaign['id']}/claims",
        json={"member_id": member, "channel": "online"},
        headers=auth["admin"],
    )
    order = unique("o")
    line = {"sku": "A", "category": "tops", "unit_price": 60000, "qty": 1}
    cart = {"member_id": member, "channel": "online", "lines": [line],
            "coupon_codes": [claimed.json()["code"]], "order_id": order}  # fmt: skip
    body = json.dumps(cart).encode()
    url = client.build_request("POST", "/v1/checkout/redemptions").url
    request = httpx.Request(
        "POST",
        url,
        headers={**bearer(key), "content-type": "application/json",
                 "content-length": str(len(body))},
        stream=_ClockMovingBody(body, past_the_key_cache),
    )  # fmt: skip
    hot_lanes(app).enabled = lane
    try:
        reserved = await client.send(request)
    finally:
        hot_lanes(app).enabled = True
    assert reserved.status_code == 201, reserved.text
    assert await order_actors(db, order) == {"reserve": "till 3"}


def test_the_gateway_command_is_installed_beside_the_interpreter() -> None:
    # `make build` installs the project (console script `gateway`), not only the native module.
    script = Path(sys.executable).parent / "gateway"
    assert script.is_file(), f"{script} is missing: run `make build`"
    shown = subprocess.run(
        [str(script), "keys", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0 and "revoke" in shown.stdout, shown.stderr
